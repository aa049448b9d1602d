"""Encoder options, budgets and behaviour."""

import numpy as np
import pytest

from PIL_ipc.format import container, jbig, reader, sources
from PIL_ipc import decode, encode
from PIL_ipc.encode import search


def scene(h=64, w=80):
    """Piecewise-smooth test image: a bright disc on a ramp, plus a dark bar."""
    y, x = np.mgrid[0:h, 0:w]
    img = 60 + 0.8 * x
    img = np.where((y - h / 2) ** 2 + (x - w / 3) ** 2 < (h / 4) ** 2, 210.0, img)
    img[h // 5:h // 5 + 6, w // 2:] = 20
    return np.clip(img, 0, 255).astype(np.uint8)


def psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / max(np.mean((a.astype(float) - b) ** 2), 1e-12))


@pytest.mark.parametrize("bad", [
    dict(threshold=-1), dict(threshold=float("nan")), dict(threshold="10"),
    dict(spacing=0), dict(spacing=256), dict(spacing=2.5), dict(levels=1), dict(levels=257),
    dict(contrast=0), dict(iterations=-1), dict(thin="yes"), dict(hysteresis=0),
    dict(hysteresis=1.5), dict(min_length=-1), dict(tonal=-1), dict(bpp=0), dict(size=0),
    dict(bpp=0.1, size=100), dict(spacing=True), dict(lattice=-1), dict(lattice=65536),
    dict(lattice=2.5),
    dict(edge_seeds=-1), dict(edge_seeds="5"), dict(edge_seeds=float("nan")),
    dict(effort=-1), dict(effort=3), dict(effort=1.5), dict(effort=True),
])
def test_bad_options_raise_value_error(bad):
    with pytest.raises(ValueError):
        encode.EncodeOptions(**bad)


def test_whole_number_floats_of_integer_options_are_taken_as_integers():
    """As Pillow's own integer options take them: 2.0 is 2 (2.5 is a bad option, above)."""
    o = encode.EncodeOptions(lattice=2.0, effort=1.0, spacing=3.0)
    assert (o.lattice, o.effort, o.spacing) == (2, 1, 3)
    assert all(type(v) is int for v in (o.lattice, o.effort, o.spacing))


def test_from_mapping_ignores_unknown_keys():
    o = encode.EncodeOptions.from_mapping({"threshold": 12, "method": 6, "optimize": True})
    assert o.threshold == 12 and o.spacing == encode.EncodeOptions().spacing


@pytest.mark.parametrize("pixels", [np.zeros((4, 4), np.float64), np.zeros((2, 3, 5), np.uint8),
                                    np.zeros((0, 5), np.uint8)])
def test_bad_pixels(pixels):
    with pytest.raises(ValueError):
        encode.encode(pixels)


def test_round_trip_quality_and_header():
    img = scene()
    data = encode.encode(img, encode.EncodeOptions(threshold=20, spacing=3, levels=128))
    f = reader.parse(data)
    assert (f.header.width, f.header.height, f.header.levels, f.header.spacing) == (80, 64, 128, 3)
    assert f.text["threshold"] == "20"
    # Edge pixels are interpolated between the two sides (spec section 8): about 28 dB here.
    assert psnr(decode.decode(data), img) > 26


def test_lower_threshold_means_more_edges_and_bytes():
    # Vertical steps of heights 20, 60 and 150: each threshold below a height keeps that edge.
    img = np.full((48, 64), 30, np.uint8)
    img[:, 16:] = 50
    img[:, 32:] = 110
    img[:, 48:] = 255  # a 145 step
    files = [reader.parse(encode.encode(img, encode.EncodeOptions(threshold=t, tonal=0)))
             for t in (10, 40, 100, 300)]
    edge_pixels = [int(jbig.decode(f.edge).sum()) for f in files]
    assert edge_pixels == [3 * 48, 2 * 48, 48, 0]
    counts = [f.values_count for f in files]
    assert counts[0] > counts[1] > counts[2] > counts[3] == 1  # the last: one seed point
    coded = [len(f.edge) + len(f.values_payload) for f in files]
    assert coded[0] > coded[2] > coded[3]


def test_tonal_optimisation_improves_quality(monkeypatch):
    # (the tonal fit alone: no edge sides after it)
    monkeypatch.setattr(search.sides, "improve", lambda planner, coded, *a: coded)
    rng = np.random.default_rng(0)
    img = np.clip(scene().astype(float) + rng.normal(0, 4, (64, 80)), 0, 255).astype(np.uint8)
    plain = decode.decode(encode.encode(img, encode.EncodeOptions(tonal=0)))
    tuned = decode.decode(encode.encode(img, encode.EncodeOptions(tonal=8)))
    assert psnr(tuned, img) > psnr(plain, img) + 0.3


@pytest.mark.parametrize("bpp", [0.3, 0.6, 1.5])
def test_bpp_budget_is_respected(bpp):
    img = scene(96, 96)
    data = encode.encode(img, encode.EncodeOptions(bpp=bpp))
    assert len(data) <= bpp * img.size / 8
    # Under a budget the informative text is left out: every byte goes to the image.
    assert reader.parse(data).text == {}
    assert decode.decode(data).shape == img.shape


def test_size_budget_and_more_budget_gives_better_quality():
    img = scene(96, 96)
    small = encode.encode(img, encode.EncodeOptions(size=700))
    large = encode.encode(img, encode.EncodeOptions(size=1600))
    assert len(small) <= 700 and len(large) <= 1600
    assert psnr(decode.decode(large), img) >= psnr(decode.decode(small), img)


def test_budget_below_minimum_is_a_value_error():
    with pytest.raises(ValueError, match="budget"):
        encode.encode(scene(), encode.EncodeOptions(size=50))


def test_flat_image_is_exact():
    img = np.full((17, 9), 93, np.uint8)
    out = decode.decode(encode.encode(img, encode.EncodeOptions(levels=256)))
    assert np.array_equal(out, img)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 2)])
def test_tiny_images(shape):
    img = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    out = decode.decode(encode.encode(img, encode.EncodeOptions(threshold=0)))
    assert out.shape == shape


def test_metadata_pass_through():
    data = encode.encode(scene(), icc_profile=b"ICCDATA", exif=b"MM\x00*\x00\x00\x00\x08")
    f = reader.parse(data)
    assert f.icc_profile == b"ICCDATA" and f.exif.startswith(b"MM")


def test_fixed_threshold_with_lattice_and_edge_seeds():
    img = np.full((40, 48), 40, np.uint8)
    img[:, 24:] = 200  # a sharp step: its edge pixels are interpolated half way unless seeded
    plain = encode.encode(img, encode.EncodeOptions(threshold=20, min_length=0))
    seeded = encode.encode(img, encode.EncodeOptions(threshold=20, min_length=0, lattice=8,
                                                       edge_seeds=30))
    f = reader.parse(seeded)
    assert reader.parse(plain).seed is None and reader.parse(plain).header.lattice == 0
    assert (f.text["lattice"], f.text["edge_seeds"]) == ("8", "30")
    # the lattice is the header's step; the seed plane holds the edge seeds off the lattice
    assert (f.header.version, f.header.lattice) == (container.version_for("L"), 8)
    seed = jbig.decode(f.seed)
    lattice = np.zeros(img.shape, bool)
    lattice[4::8, 4::8] = True
    assert not (seed & lattice).any()
    edges = jbig.decode(f.edge)
    edge_cols = np.nonzero(edges.any(axis=0))[0]
    assert (seed | lattice)[:, edge_cols].all()  # every edge pixel of the step
    known = sources.locate(edges, f.header.spacing, seed, 8).known_mask()
    assert known[lattice].all() and known[:, edge_cols].all()
    assert psnr(decode.decode(seeded), img) > psnr(decode.decode(plain), img) + 6


def test_lattice_alone_needs_no_seed_plane():
    img = scene()
    data = encode.encode(img, encode.EncodeOptions(threshold=20, lattice=5))
    f = reader.parse(data)
    assert f.seed is None and (f.header.version, f.header.lattice) == (
        container.version_for("L"), 5)
    pts = sources.locate(jbig.decode(f.edge), f.header.spacing, None, 5)
    assert f.values_count == pts.count
    assert pts.known_mask()[2::5, 2::5].all()
    assert (pts.predictors[:, 1] >= 0).sum() > 100  # lattice values predicted in 2-D
    plain = encode.encode(img, encode.EncodeOptions(threshold=20))
    assert psnr(decode.decode(data), img) > psnr(decode.decode(plain), img)
