"""The encoder's progress reports (``progress(stage, done, total)``, encode.report): the stages
of a budget, a quality and a tiled encode, each starting at 0, never falling nor passing its
total and ending at it; the same file with and without them; each encode's own reports only;
through Pillow's save as a keyword that is not an option of the file."""

from __future__ import annotations

import dataclasses
import io
import math
import threading

import numpy as np
import pytest
from PIL import Image
from test_tiles import scene

from PIL_ipc import encode
from PIL_ipc.encode import pipeline, search, tiles
from PIL_ipc.encode.options import EncodeOptions


def colour_scene(h: int, w: int) -> np.ndarray:
    """test_large's scene, its grey levels turned into three different bands."""
    grey = scene(h, w).astype(int)
    return np.clip(np.stack([grey, 255 - grey, (grey + 80) % 256], axis=2), 0,
                   255).astype(np.uint8)


class Reports:
    """A progress callback that keeps what it is told, from any thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []
        self.lock = threading.Lock()
        self.inside = 0  # calls running at once (the encoder makes one at a time)
        self.overlapped = False

    def __call__(self, stage: str, done: float, total: float) -> None:
        with self.lock:
            self.inside += 1
            self.overlapped |= self.inside > 1
        self.calls.append((stage, done, total))
        with self.lock:
            self.inside -= 1

    def stages(self) -> list[str]:
        """The stages in the order they came, each once."""
        out: list[str] = []
        for stage, _, _ in self.calls:
            if not out or out[-1] != stage:
                out.append(stage)
        return out

    def check(self) -> dict[str, tuple[float, float]]:
        """Check the rules of every stage; (last done, last total) of each."""
        assert not self.overlapped
        order = self.stages()
        assert len(order) == len(set(order)), f"a stage came back: {order}"
        runs: dict[str, list[tuple[float, float]]] = {}
        for stage, done, total in self.calls:
            assert isinstance(stage, str) and isinstance(done, float) \
                and isinstance(total, float), (stage, done, total)
            runs.setdefault(stage, []).append((done, total))
        for stage, run in runs.items():
            assert run[0][0] == 0.0, (stage, run[:3])
            for (d0, t0), (d1, t1) in zip(run, run[1:], strict=False):
                assert d1 >= d0 and t1 >= t0, (stage, (d0, t0), (d1, t1))
            assert all(0.0 <= d <= t and t > 0 for d, t in run), (stage, run)
            assert run[-1][0] == run[-1][1], (stage, run[-3:])
        return {stage: run[-1] for stage, run in runs.items()}


def encoded(pixels: np.ndarray, **options) -> tuple[bytes, Reports]:
    """The file of an encode with a progress callback (checked to be the file without one)
    and what it was told."""
    reports = Reports()
    data = pipeline.encode(pixels, EncodeOptions(**options), progress=reports)
    assert data == pipeline.encode(pixels, EncodeOptions(**options))
    return data, reports


@pytest.mark.parametrize("pixels, options", [
    (scene(96, 128), dict(bpp=0.2)),  # a walk bounded by Effort.max_moves
    (colour_scene(48, 64), dict(bpp=0.6)),  # a high rate: no bound, an estimate by the fields
    (scene(96, 128), dict(bpp=0.2, effort=2)),  # both families may walk; two finalists
    (scene(96, 128), dict(bpp=0.2, effort=0)),  # no walk
], ids=["grey", "rgb-high-rate", "effort-2", "effort-0"])
def test_a_budget_encode_reports_its_analysis_search_and_coding(pixels, options):
    _, reports = encoded(pixels, **options)
    assert reports.stages() == ["analysis", "search", "coding"]
    last = reports.check()
    assert last["analysis"] == (30.0, 30.0)  # the Perona-Malik steps
    searched = [d for s, d, _ in reports.calls if s == "search"]
    assert len(searched) > 5  # layouts, one by one (not just a start and an end)


def test_a_second_family_walked_grows_the_search_total(monkeypatch):
    # (effort 2 walks the family without a lattice too when its best start is near enough:
    # here, always)
    efforts = list(search.EFFORTS)
    efforts[2] = dataclasses.replace(efforts[2], rival_ratio=math.inf)
    monkeypatch.setattr(search, "EFFORTS", tuple(efforts))
    _, reports = encoded(scene(96, 128), bpp=0.2, effort=2)
    reports.check()
    totals = [t for s, _, t in reports.calls if s == "search"]
    assert totals[-1] > totals[0]


def test_a_stage_reports_rising_to_its_total_only():
    from PIL_ipc.encode.report import Stage

    calls = []
    stage = Stage(lambda *a: calls.append(a), "tiles", 4)
    stage.add(1.5)
    stage.to(1.0)  # behind: nothing
    stage.add(10)  # past the total: the total
    stage.grow(4)
    piece = stage.part(4, 2)
    piece("search", 5, 10)  # half of a piece of 2 from 4
    piece("search", 30, 10)
    stage.end()
    assert calls == [("tiles", 0.0, 4.0), ("tiles", 1.5, 4.0), ("tiles", 4.0, 4.0),
                     ("tiles", 4.0, 8.0), ("tiles", 5.0, 8.0), ("tiles", 6.0, 8.0),
                     ("tiles", 8.0, 8.0)]
    quiet = Stage(None, "tiles", 0)  # no callback: nothing to call, nothing to map onto
    quiet.add()
    quiet.end()
    assert quiet.part(0, 1) is None


def test_a_quality_encode_reports_its_budget_searches_as_one_stage():
    _, reports = encoded(scene(48, 64), quality=50)
    assert reports.stages() == ["analysis", "quality", "coding"]
    last = reports.check()
    assert last["quality"][1] >= 4  # an estimate of the budget searches, at least a few
    dones = [d for s, d, _ in reports.calls if s == "quality"]
    assert len(dones) > 10  # each search's layouts move it on, not only whole searches


@pytest.mark.parametrize("pixels, channels", [(scene(48, 64), 1), (colour_scene(48, 64), 3)],
                         ids=["grey", "rgb"])
def test_a_fixed_threshold_encode_counts_its_coding(pixels, channels):
    _, reports = encoded(pixels, threshold=24)
    assert reports.stages() == ["analysis", "coding"]
    # the edges, the tonal steps (6) of each channel, the values coded, the file
    total = 1.0 + 6 * channels + 2
    assert reports.check()["coding"] == (total, total)
    assert len([1 for s, _, _ in reports.calls if s == "coding"]) == total + 1


@pytest.fixture
def small_tiles(monkeypatch):
    """Images of 96 x 128 pixels and more are large: fitted on tiles of at most 48 x 48 (6
    of them at 96 x 128), their budget searched on the image reduced to 48 x 64."""
    monkeypatch.setattr(tiles, "TILE_PIXELS", 96 * 128)
    monkeypatch.setattr(tiles, "TILE_SIDE", 48)
    monkeypatch.setattr(tiles, "MARGIN", 8)
    monkeypatch.setattr(tiles, "REDUCED_PIXELS", 48 * 64)


def test_a_large_encode_counts_its_tiles(small_tiles):
    _, reports = encoded(scene(96, 128), threshold=12, lattice=12)
    assert reports.stages() == ["analysis", "tiles", "coding"]
    last = reports.check()
    assert last["tiles"] == (6.0, 6.0)  # tiles done of the tile count
    dones = [d for s, d, _ in reports.calls if s == "tiles"]
    assert len(dones) > 6  # a tile's tonal steps move it on


def test_a_large_budget_encode_searches_the_reduced_image_then_fits_tiles(small_tiles):
    _, reports = encoded(scene(96, 128), bpp=0.3, effort=0)
    assert reports.stages() == ["analysis", "search", "tiles", "coding"]
    last = reports.check()
    # the reduced image's steps count by its pixels: a quarter of the image's
    assert last["analysis"] == (30.0 * 1.25, 30.0 * 1.25)
    assert last["tiles"][1] in (6.0, 12.0, 18.0)  # (grown by 6 at each fit again)


def test_two_encodes_in_two_threads_see_their_own_reports_only():
    jobs = {"a": (scene(96, 128), EncodeOptions(bpp=0.2, iterations=10)),
            "b": (colour_scene(40, 56), EncodeOptions(threshold=20, iterations=60))}
    reports = {name: Reports() for name in jobs}
    files: dict[str, bytes] = {}
    start = threading.Barrier(2)

    def run(name: str) -> None:
        pixels, options = jobs[name]
        start.wait()
        files[name] = pipeline.encode(pixels, options, progress=reports[name])

    threads = [threading.Thread(target=run, args=(name,)) for name in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reports["a"].stages() == ["analysis", "search", "coding"]
    assert reports["b"].stages() == ["analysis", "coding"]
    assert reports["a"].check()["analysis"] == (10.0, 10.0)
    assert reports["b"].check()["analysis"] == (60.0, 60.0)
    for name, (pixels, options) in jobs.items():
        assert files[name] == pipeline.encode(pixels, options)


def test_pillow_save_takes_a_progress_keyword_that_is_not_an_option():
    im = Image.fromarray(colour_scene(64, 96))
    reports = Reports()
    with_progress, without = io.BytesIO(), io.BytesIO()
    im.save(with_progress, format="IPC", bpp=0.5, effort=0, progress=reports)
    im.save(without, format="IPC", bpp=0.5, effort=0)
    assert with_progress.getvalue() == without.getvalue()
    assert reports.stages() == ["analysis", "search", "coding"]
    reports.check()
    assert "progress" not in vars(EncodeOptions.from_mapping({"progress": reports}))
    with pytest.raises(ValueError, match="progress must be a callable"):
        im.save(io.BytesIO(), format="IPC", threshold=24, progress="yes")


def test_an_exception_in_the_callback_stops_the_encode():
    class Stop(Exception):
        pass

    def stop(stage: str, done: float, total: float) -> None:
        if stage == "coding":
            raise Stop

    with pytest.raises(Stop):
        encode.encode(scene(48, 64), EncodeOptions(threshold=24), progress=stop)
