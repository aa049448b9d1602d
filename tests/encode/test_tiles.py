"""Large images: the tonal fit on tiles and the budget search on a reduced image."""

import math
from dataclasses import replace

import numpy as np
import pytest

from PIL_ipc import decode, encode
from PIL_ipc.encode import pipeline, quality, search, tiles
from PIL_ipc.encode.planner import Layout, Planner
from PIL_ipc.format import reader


def scene(h=96, w=112, seed=5):
    """Smooth shading, a few sharp-edged shapes and a little noise."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = 110 + 50 * np.sin(4 * x + 1) * np.cos(3 * y) + 20 * np.cos(7 * x * y)
    img[h // 5:h // 5 + 9, w // 6:w // 2] = 235
    img[(y - 0.6) ** 2 + (x - 0.7) ** 2 < 0.03] = 30
    img += np.random.default_rng(seed).normal(0, 2, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b) ** 2))


LAYOUT = Layout(threshold=12.0, spacing=4, levels=64, iterations=30, hysteresis=0.5,
                min_length=10, lattice=12, edge_seeds=math.inf, chroma_levels=16,
                chroma_stride=1, edge_source="luma")


@pytest.mark.parametrize("shape, side, margin", [((96, 112), 32, 8), ((50, 7), 16, 5),
                                                 ((40, 40), 100, 10), ((33, 65), 10, 0)])
def test_tiles_cover_the_image_once_with_regions_of_one_size(shape, side, margin):
    cover = np.zeros(shape, int)
    cut = tiles.tiles(shape, side, margin)
    for t in cut:
        assert t.y1 - t.y0 <= side and t.x1 - t.x0 <= side
        assert (t.rh, t.rw) == (cut[0].rh, cut[0].rw)
        assert 0 <= t.ry <= t.y0 and t.y1 <= t.ry + t.rh <= shape[0]
        assert 0 <= t.rx <= t.x0 and t.x1 <= t.rx + t.rw <= shape[1]
        # the margin is there wherever the image goes on
        assert t.y0 - t.ry >= min(margin, t.y0) and t.ry + t.rh - t.y1 >= \
            min(margin, shape[0] - t.y1)
        assert t.x0 - t.rx >= min(margin, t.x0) and t.rx + t.rw - t.x1 >= \
            min(margin, shape[1] - t.x1)
        cover[t.y0:t.y1, t.x0:t.x1] += 1
    assert (cover == 1).all()


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_one_tile_fits_what_the_whole_image_fit_does(mode):
    img = scene()
    if mode == "RGB":
        rgb = np.stack([img, np.roll(img, 9, axis=1), 255 - img], axis=2)
        planner, _ = pipeline.planner_for(rgb, encode.EncodeOptions(), "RGB", searched=False)
        layout = replace(LAYOUT, chroma_stride=3, edge_source="colour")
    else:
        planner, layout = Planner(img), LAYOUT
    whole = planner.evaluate(layout, 3, None, measure=False, steps=4,
                             chroma_iterations=2).values
    tiled = tiles.fit(planner, layout, 3, 4, chroma_iterations=2, side=1000)
    assert tiled.shape == whole.shape
    assert np.allclose(tiled, whole, rtol=0, atol=1e-9)


def test_tiles_fit_about_as_well_as_the_whole_image_on_any_number_of_threads():
    img = scene(128, 128)
    planner = Planner(img)
    whole = planner.evaluate(LAYOUT, 4, None, measure=False, steps=4)
    start = tiles.fit(planner, LAYOUT, 0, None, side=40)
    one = tiles.fit(planner, LAYOUT, 4, 4, side=40, margin=16, workers=1)
    two = tiles.fit(planner, LAYOUT, 4, 4, side=40, margin=16, workers=3)
    assert np.array_equal(one, two)
    assert np.array_equal(start, img.ravel()[planner.points(LAYOUT)[0].positions])
    decoded = {name: decode.decode(planner.file(tiles.fitted_file(planner, LAYOUT, x, None)))
               for name, x in (("tiles", one), ("pixels", start))}
    base = psnr(decode.decode(planner.file(whole)), img)
    assert psnr(decoded["tiles"], img) > base - 0.2
    # (the fit matters: the tiles' values are not just the pixel values)
    assert psnr(decoded["pixels"], img) < base - 0.5


def test_fixed_threshold_encode_of_a_large_image_uses_tiles(monkeypatch):
    img = scene(128, 128)
    options = encode.EncodeOptions(threshold=12, lattice=12)
    whole = encode.encode(img, options)
    calls = []
    fit = tiles.fit
    monkeypatch.setattr(tiles, "fit", lambda *a, **k: calls.append(1) or fit(*a, **k))
    monkeypatch.setattr(tiles, "TILE_PIXELS", 128 * 128)
    monkeypatch.setattr(tiles, "TILE_SIDE", 48)
    tiled = encode.encode(img, options)
    assert calls
    # the same edges and positions, values fitted on tiles
    assert len(tiled) == pytest.approx(len(whole), rel=0.1)
    assert psnr(decode.decode(tiled), img) > psnr(decode.decode(whole), img) - 0.3



def _searches(monkeypatch, module) -> list[tuple[tuple[int, int], int]]:
    """(planner shape, budget) of each budget search ``module`` runs, with a 160 x 160 image
    tiled and searched reduced to 80 x 80."""
    calls = []
    budget_search = module.search
    monkeypatch.setattr(module, "search", lambda p, b, *a, **k: calls.append((p.shape, b))
                        or budget_search(p, b, *a, **k))
    monkeypatch.setattr(tiles, "TILE_PIXELS", 160 * 160)
    monkeypatch.setattr(tiles, "REDUCED_PIXELS", 80 * 80)
    return calls


def test_budget_search_on_a_reduced_image_meets_the_budget(monkeypatch):
    img = scene(160, 160)
    budget = int(0.3 * img.size / 8)
    with monkeypatch.context() as m:  # (the tiled fit has no edge sides: nor has the reference)
        m.setattr(search.sides, "improve", lambda planner, coded, *a: coded)
        full = encode.encode(img, encode.EncodeOptions(size=budget, effort=0))
    calls = _searches(monkeypatch, search)
    data = encode.encode(img, encode.EncodeOptions(size=budget, effort=0))
    assert [shape for shape, _ in calls] == [(80, 80)]
    assert len(data) <= budget
    assert len(data) > 0.8 * budget
    assert psnr(decode.decode(data), img) > psnr(decode.decode(full), img) - 2.0
    # a pinned field stays pinned
    pinned = encode.encode(img, encode.EncodeOptions(size=budget, effort=0, spacing=3))
    assert reader.parse(pinned).header.spacing == 3


def test_the_reduced_image_is_searched_with_more_than_its_share_of_the_budget(monkeypatch):
    # an image reduced to a quarter of the pixels is searched at sqrt(2) times a quarter of
    # the room: its layout at the same bits per pixel is too sparse at full size
    img = scene(160, 160)
    budget = int(0.3 * img.size / 8)
    budgets = _searches(monkeypatch, search)
    planner, _ = pipeline.planner_for(img, encode.EncodeOptions(size=budget), "L",
                                      searched=True)
    data = encode.encode(img, encode.EncodeOptions(size=budget, effort=0))
    room = budget - planner.overhead
    ((_, searched),) = budgets
    assert searched - planner.overhead == pytest.approx(room / 4 * 2 ** 0.5, abs=2)
    assert len(data) <= budget


def test_where_that_layout_does_not_fit_at_full_size_the_plain_share_is_searched(monkeypatch):
    img = scene(160, 160)
    budget = int(0.3 * img.size / 8)
    budgets = _searches(monkeypatch, search)
    fitted = []
    fit_found = tiles.fit_found

    def first_misses(planner, found, *a, **k):
        fitted.append(found.layout)
        if len(fitted) == 1:
            raise search.BudgetTooSmall("does not fit", None)
        return fit_found(planner, found, *a, **k)

    monkeypatch.setattr(tiles, "fit_found", first_misses)
    data = encode.encode(img, encode.EncodeOptions(size=budget, effort=0))
    assert len(budgets) == 2 and budgets[1][1] < budgets[0][1] and len(fitted) == 2
    assert len(data) <= budget


def test_quality_target_on_a_reduced_image_searches_it_there_and_meets_it(monkeypatch):
    # From TILE_PIXELS on, a quality target is searched on the image reduced (each budget
    # probed there, none at full size) and the layout fitted at full size within the same
    # bits per pixel; the full-size file meets the target it was searched for
    img = scene(160, 160)
    target = 34.0
    probed = _searches(monkeypatch, quality)
    data = encode.encode(img, encode.EncodeOptions(psnr=target, effort=0))
    assert probed and {shape for shape, _ in probed} == {(80, 80)}
    assert psnr(decode.decode(data), img) >= target


@pytest.mark.parametrize("lean_meets", [True, False])
def test_a_quality_target_fits_a_leaner_budget_first_and_checks_it(monkeypatch, lean_meets):
    # the reduced image's budget times the reduction to REDUCED_BUDGET_POWER first; kept if
    # its decode meets the target, else the plain share
    img = scene(160, 160)
    target = 34.0
    _searches(monkeypatch, quality)
    budgets = []
    fit_found = tiles.fit_found
    found = []
    monkeypatch.setattr(tiles, "fit_found", lambda p, f, b, *a, **k:
                        budgets.append(b) or found.append(f.size) or fit_found(p, f, b, *a, **k))
    checked = quality.file_psnr
    monkeypatch.setattr(quality, "file_psnr", lambda p, data: -math.inf
                        if p.shape == img.shape and not lean_meets else checked(p, data))
    data = encode.encode(img, encode.EncodeOptions(psnr=target, effort=0))
    planner, _ = pipeline.planner_for(img, encode.EncodeOptions(psnr=target), "L",
                                      searched=True)
    assert len(budgets) == (1 if lean_meets else 2)
    small, _ = pipeline.planner_for(pipeline.reduced(img, 80 * 80),
                                    encode.EncodeOptions(psnr=target), "L", searched=True)
    lean = budgets[0] - planner.overhead
    plain = (found[0] - small.overhead) * 4
    assert lean == pytest.approx(plain * 4 ** -tiles.REDUCED_BUDGET_POWER, abs=2)
    if lean_meets:
        assert len(data) <= budgets[0]
        assert psnr(decode.decode(data), img) >= target
    else:
        assert budgets[1] - planner.overhead == pytest.approx(plain, abs=2)
        assert budgets[0] < len(data) <= budgets[1]


def test_budget_below_the_smallest_reduced_file_says_how_small(monkeypatch):
    img = scene(160, 160)
    monkeypatch.setattr(tiles, "TILE_PIXELS", 160 * 160)
    monkeypatch.setattr(tiles, "REDUCED_PIXELS", 80 * 80)
    with pytest.raises(search.BudgetTooSmall) as e:
        encode.encode(img, encode.EncodeOptions(size=60, effort=0))
    assert e.value.smallest is not None and e.value.smallest > 60
    assert not math.isnan(e.value.smallest)


def test_reduced_keeps_the_aspect_ratio():
    img = np.zeros((300, 120, 3), np.uint8)
    small = pipeline.reduced(img, 1000)
    assert small.shape[2] == 3 and small.shape[0] * small.shape[1] <= 1000
    assert small.shape[0] / small.shape[1] == pytest.approx(2.5, rel=0.1)
    assert pipeline.reduced(img[:, :, 0], 10 ** 6).shape == (300, 120)


@pytest.mark.parametrize("options", [dict(size=int(0.3 * 160 * 160 / 8)), dict(psnr=34.0)])
def test_a_layout_searched_on_the_reduced_image_gets_no_edge_sides_there(monkeypatch, options):
    # the full-size file is fitted from the reduced search's layout alone: sides chosen on the
    # reduced file would be lost, and would lend its PSNR (a quality target's) a gain the
    # full-size file does not have
    img = scene(160, 160)
    _searches(monkeypatch, search)
    improved = []
    real = search.sides.improve
    monkeypatch.setattr(search.sides, "improve",
                        lambda planner, *a: improved.append(planner.shape) or real(planner, *a))
    data = encode.encode(img, encode.EncodeOptions(effort=0, **options))
    assert improved == []
    assert reader.parse(data).sides is None


def test_the_file_made_before_the_check_is_given_again_without_the_planes(monkeypatch):
    # the quality check of a large image releases the planner's caches for the decode's
    # memory; the pipeline then writes the file made before, without detecting edges again
    img = scene(96, 112)
    planner, layout = pipeline.planner_for(img, encode.EncodeOptions(threshold=20.0), "L",
                                           searched=False)
    coded = planner.evaluate(layout, 1, None, measure=False)
    data = planner.file(coded)
    planner.release(analysis=True)
    assert not planner._smooth.keys() and not planner._gradient.keys()
    monkeypatch.setattr(planner, "edge", lambda *a: pytest.fail("planes made again"))
    assert planner.file(coded) == data
    assert decode.decode(data).shape == img.shape
