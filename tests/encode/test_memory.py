"""What the encoder holds: its caches bounded by bytes, operator memory reused and freed."""

import gc
import weakref

import numpy as np

from PIL_ipc.encode import analysis, caches, pipeline, search, tiles
from PIL_ipc.encode.planner import Layout, Planner
from PIL_ipc.format import colour, sources
from PIL_ipc.solver import inpaint
from PIL_ipc.solver.phase import Scratch


def scene(h=96, w=96):
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = 120 + 60 * np.sin(5 * x) * np.cos(4 * y) + 30 * np.cos(9 * x * y)
    img[h // 3:h // 3 + 5, w // 4:3 * w // 4] = 240
    img[(y - 0.6) ** 2 + (x - 0.7) ** 2 < 0.03] = 30
    img += np.random.default_rng(3).normal(0, 2, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


LAYOUT = Layout(threshold=12.0, spacing=4, levels=64, iterations=30, hysteresis=0.5,
                min_length=10, lattice=12, edge_seeds=16.0, chroma_levels=16,
                chroma_stride=1, edge_source="luma")


def test_recent_cache_keeps_no_more_bytes_than_its_limit_but_the_last_entry():
    cache = caches.Recent(10, limit=2500)
    for k in range(4):
        cache.put(k, (np.zeros(1000, np.uint8), b"x"))
    assert len(cache) == 2 and cache.nbytes == 2000
    assert cache.get(0) is None and cache.get(3) is not None
    cache.put("big", np.zeros(5000, np.uint8))  # over the limit alone: kept, alone
    assert len(cache) == 1 and cache.get("big") is not None
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


def test_once_cache_with_a_limit_makes_an_evicted_value_again():
    made = []
    cache = caches.Once(limit=1500)

    def make(k):
        made.append(k)
        return np.full(1000, k, np.uint8)

    for k in (1, 2, 1):
        assert cache.get(k, lambda k=k: make(k))[0] == k
    assert made == [1, 2, 1] and cache.nbytes == 1000
    assert caches.array_bytes((np.zeros(3), [np.zeros(2, np.uint8)], "s")) == 26


def test_planner_edge_codes_outlive_their_planes(monkeypatch):
    p = Planner(scene())
    code = p.edge(LAYOUT)[1]
    size = p.estimate(LAYOUT)
    p._edges.clear()
    detected = []
    real = p.gradient
    monkeypatch.setattr(p, "gradient", lambda *a: detected.append(1) or real(*a))
    assert p.edge_code(LAYOUT) == code and not detected  # (the size needs no plane)
    assert p.estimate(LAYOUT) == size and not detected
    assert p.edge(LAYOUT)[1] == code and detected


def test_planner_keeps_edge_deviations_of_edge_pixels_only():
    p = Planner(scene())
    plane = p.edge(LAYOUT)[0]
    dense = p.edge_deviation(LAYOUT)
    assert np.array_equal(dense, analysis.edge_deviation(p.pixels, plane))
    at, values = p._deviation.get(next(iter(p._deviation._items)))
    assert at.size == plane.sum() and values.size == at.size
    _, seed = p.points(LAYOUT)
    lattice = sources.lattice_plane(p.shape, 12)
    assert seed is not None and np.array_equal(seed, plane & (dense > 16.0) & ~lattice)


def count_scratches(monkeypatch):
    made = []
    real = inpaint.Scratch

    def counted(shape):
        made.append(shape)
        return real(shape)

    monkeypatch.setattr(inpaint, "Scratch", counted)
    return made


def test_a_planners_operator_memory_serves_its_searches_one_after_another(monkeypatch):
    # each search scores on threads of its own: the memory of the threads of the one before
    # is reused, not made again (it stayed until the collector ran, 1.5 GB over a quality
    # target's searches at 1 Mpixel)
    made = count_scratches(monkeypatch)
    # (edge sides decode their files: the decoder's memory, kept by the decoder, not counted)
    monkeypatch.setattr(search.sides, "improve", lambda planner, coded, *a: coded)
    p = Planner(scene())
    gc.disable()
    try:
        search.search(p, 500, 2, effort=0, workers=2)
        first = len(made)
        for budget in (600, 700):
            search.search(p, budget, 2, effort=0, workers=2)
    finally:
        gc.enable()
    assert 1 <= first <= 2 and len(made) == first


def test_done_with_frees_the_reduced_planner_and_its_threads_memory(monkeypatch):
    # (the planner's memory: edge sides decode with the decoder's, which the decoder keeps)
    monkeypatch.setattr(search.sides, "improve", lambda planner, coded, *a: coded)
    gc.collect()
    before = {id(s) for s in gc.get_objects() if isinstance(s, Scratch)}  # (other tests')
    p = Planner(scene())
    search.search(p, 500, 2, effort=0, workers=2)
    p.fitter(LAYOUT)  # (this thread's memory too)
    assert len(p._points) and p._edges.keys()
    made = [weakref.ref(s) for s in gc.get_objects()
            if isinstance(s, Scratch) and id(s) not in before]
    assert made
    tiles.done_with(p)
    assert not len(p._points) and not p._edges.keys() and not p._spare
    assert [r for r in made if r() is not None] == []
    assert p.estimate(LAYOUT) > 0  # (still answers: what it needs is made again)


def test_tiles_fit_leaves_no_operator_memory_behind():
    p = Planner(scene(128, 128))
    gc.collect()
    before = {id(s) for s in gc.get_objects() if isinstance(s, Scratch)}  # (other tests')
    tiles.fit(p, LAYOUT, 2, 4, side=48, margin=8, workers=2)
    assert not [s for s in gc.get_objects() if isinstance(s, Scratch) and id(s) not in before]


def test_float32_ycbcr_is_the_float64_one_within_1e_5():
    rgb = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    f32 = colour.to_ycbcr(rgb, np.float32)
    assert f32.dtype == np.float32 and f32.shape == (3, 40, 30)
    assert np.abs(f32 - colour.to_ycbcr(rgb)).max() < 1e-4


def test_a_tiled_colour_planner_keeps_float32_channels(monkeypatch):
    rgb = np.stack([scene(64, 64)] * 3, axis=2)
    options = pipeline.EncodeOptions()
    small, _ = pipeline.planner_for(rgb, options, "RGB", searched=True)
    assert small.pixels.dtype == np.float64
    monkeypatch.setattr(tiles, "TILE_PIXELS", 64 * 64)
    large, _ = pipeline.planner_for(rgb, options, "RGB", searched=True)
    assert all(c.dtype == np.float32 for c in large.channels)
