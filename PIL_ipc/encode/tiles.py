"""Encoding large images: the tonal fit on overlapping tiles, on every core; the budget search
on a reduced image.

The tonal fit (:mod:`PIL_ipc.encode.tonal`) of a whole image needs an inpainting operator of the
image's size (its memory per pixel: solver.inpaint, "Costs") and runs its solves one after
another.  A stored value only moves the decoded image near it, so from TILE_PIXELS pixels on
the fit runs on tiles instead: the image is cut into cores of at most TILE_SIDE x TILE_SIDE
pixels, each core is fitted together with a MARGIN of pixels around it (the values there see
about the neighbours they see in the whole image), and each value is taken from the tile whose
core holds its pixel.  Tiles run on as many threads as there are cores (the solver kernels
release the GIL), each on its own operator memory, reused from tile to tile.  The file and
the decoder do not change: the decoder still solves the whole image.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from ..format import colour
from ..solver import inpaint
from . import quality, search, tonal, tuning
from .options import CHOICES
from .planner import Coded, Layout, Planner
from .report import Progress, Stage

#: Images of at least this many pixels are fitted on tiles.
TILE_PIXELS = 1 << 21
#: The budget search of an image of TILE_PIXELS or more runs on it reduced to about this many
#: pixels.
REDUCED_PIXELS = 1 << 20
#: The reduced image's budget search takes the full budget scaled by the pixel count, times
#: the reduction in pixel count to this power: an image reduced holds more detail per pixel, and
#: the layout it finds at the same bits per pixel is too sparse and too edge-heavy at full size
#: (the full-size fit then spends the rest on edges).  Upscaled Kodak parrots and peppers at
#: 1024 x 1024, 0.1 and 0.2 bpp (benchmarks/large_search.py): against the full search, -3.29 dB
#: with 0 at 1/16 of the pixels, -1.10 with 1/4 (x2), -1.27 with x2.5; at 1/4 of the pixels
#: -0.68 with 0, -0.28 with 1/4 (x1.41), -0.40 with x1.7.
REDUCED_BUDGET_POWER = 0.25
#: Largest side of a tile's core, in pixels.
TILE_SIDE = 1024
#: Pixels around a core that its tile also fits (values near a core's border see this much
#: of the image beyond it).
MARGIN = 64


@dataclass(frozen=True)
class Tile:
    """A core (rows y0..y1 - 1, columns x0..x1 - 1) and the region fitted for it (rows
    ry..ry + rh - 1, columns rx..rx + rw - 1), which contains the core."""

    y0: int
    y1: int
    x0: int
    x1: int
    ry: int
    rx: int
    rh: int
    rw: int


def _cuts(n: int, side: int, margin: int) -> tuple[list[tuple[int, int, int]], int]:
    """Cores along one axis of length n: (start, end, region start) each, and the region
    length, the same for all (so that one operator memory serves every tile)."""
    parts = max(1, -(-n // side))
    cuts = [n * i // parts for i in range(parts + 1)]
    length = min(n, -(-n // parts) + 2 * margin)
    return [(a, b, min(max(a - margin, 0), n - length))
            for a, b in zip(cuts[:-1], cuts[1:])], length


def tiles(shape: tuple[int, int], side: int = TILE_SIDE, margin: int = MARGIN) -> list[Tile]:
    """The tiles of an image of ``shape``: cores of nearly equal sizes, at most ``side``
    square, covering the image once; regions of one size, each its core plus up to
    ``margin`` pixels on every side (shifted inwards at the image's border)."""
    if side < 1 or margin < 0:
        raise ValueError("tiles: side must be >= 1 and margin >= 0")
    rows, rh = _cuts(int(shape[0]), side, margin)
    cols, rw = _cuts(int(shape[1]), side, margin)
    return [Tile(y0, y1, x0, x1, ry, rx, rh, rw)
            for y0, y1, ry in rows for x0, x1, rx in cols]


def applies(shape: tuple[int, int]) -> bool:
    """Whether an image of ``shape`` is fitted on tiles."""
    return shape[0] * shape[1] >= TILE_PIXELS


def fit(planner: Planner, layout: Layout, iterations: int,
        steps: int | None, *, chroma_iterations: int | None = None, workers: int = 0,
        side: int | None = None, margin: int | None = None,
        progress: Progress | Stage | None = None) -> np.ndarray:
    """The values of ``layout`` (every channel, one after the other, as Planner.evaluate
    fits them) after ``iterations`` tonal steps (``chroma_iterations`` for the chroma; None:
    the same), each solve taking ``steps`` solver steps (None: certified), fitted tile by
    tile on ``workers`` threads (0: one per CPU); ``side``, ``margin``: of the tiles (None:
    TILE_SIDE, MARGIN).  ``progress``: told of the tiles done (report.Progress: the "tiles"
    stage, its total the tile count, a tile's tonal steps counting each for its share of the
    tile), or a report.Stage that the tiles go on counting in."""
    side = TILE_SIDE if side is None else side
    margin = MARGIN if margin is None else margin
    cut = tiles(planner.shape, side, margin)
    stage = progress if isinstance(progress, Stage) else Stage(progress, "tiles", len(cut))
    pts, _ = planner.points(layout)
    h, w = planner.shape
    n = pts.count
    rows, cols = np.divmod(pts.positions, w)
    index = colour.chroma_index(n, layout.chroma_stride) if planner.colour else None
    counts = [iterations] + [iterations if chroma_iterations is None else chroma_iterations
                             ] * (len(planner.channels) - 1)
    # each channel's value at every source point (chroma: averaged over its stride below)
    per_point = [np.empty(n) for _ in planner.channels]
    if not any(counts):
        for c, image in enumerate(planner.channels):
            per_point[c][:] = np.ravel(image)[pts.positions]
    else:
        known = pts.known_mask()
        local = threading.local()
        share = 1.0 / sum(counts)  # of a tile, per tonal step

        def work(t: Tile) -> None:
            inside = np.flatnonzero((rows >= t.ry) & (rows < t.ry + t.rh)
                                    & (cols >= t.rx) & (cols < t.rx + t.rw))
            r, q = rows[inside], cols[inside]
            core = (r >= t.y0) & (r < t.y1) & (q >= t.x0) & (q < t.x1)
            if not core.any():
                stage.add(1.0)
                return
            taken = 0  # tonal steps of this tile (a fit may converge in fewer)

            def step() -> None:
                nonlocal taken
                taken += 1
                stage.add(share)

            at = (r - t.ry) * t.rw + (q - t.rx)
            area = (slice(t.ry, t.ry + t.rh), slice(t.rx, t.rx + t.rw))
            scratch = getattr(local, "scratch", None)
            if scratch is None:
                scratch = local.scratch = inpaint.Scratch((t.rh, t.rw))
            op = None
            for c, image in enumerate(planner.channels):
                expand = None
                if c and index is not None:
                    # the tile's chroma values: those of its points, renumbered from 0
                    expand = np.unique(index[inside], return_inverse=True)[1].ravel()
                fitter = tonal.Fitter(np.asarray(image[area], dtype=np.float64), known[area],
                                      pts.band[area], at, tonal.INNER_TOL, steps, scratch,
                                      op=op, expand=expand)
                op = fitter.op
                x = fitter.fit(counts[c], on_step=step)[0] if counts[c] else \
                    fitter.start_values()
                if expand is not None:
                    x = x[expand]
                per_point[c][inside[core]] = x[core]
            stage.add(1.0 - taken * share)

        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            list(pool.map(work, cut))
        del local  # (each thread's operator memory: 170 MB a tile of 1152 x 1152)
        return_freed_memory()
    if stage is not progress:
        stage.end()
    out = per_point[:1]
    for c in per_point[1:]:  # a chroma value shared by a stride of points: their mean
        out.append(np.bincount(index, c) / np.bincount(index))
    return np.concatenate(out) if len(out) > 1 else out[0]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """The C library's malloc_trim among the symbols the process has loaded, or None where
    there is none (not glibc)."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def return_freed_memory() -> None:
    """Hand the memory the tiles' threads freed back to the system where the C library can
    (glibc's malloc_trim): a tile's arrays (10 MB each) are below glibc's largest mmap
    threshold, so they come from each thread's heap, which keeps them after they are freed
    (0.9 GB at 12 Mpixel, held while the file is then decoded)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def fitted_file(planner: Planner, layout: Layout, x: np.ndarray,
                budget: int | None) -> Coded | None:
    """A layout with values ``x`` fitted on tiles, coded to ``budget`` (None: none fits; its
    decoded error is not measured: a whole-image solve is what tiles avoid)."""
    payloads, size, _ = planner.code(layout, x, budget)
    return None if payloads is None else Coded(layout, payloads, size, math.nan, x)


#: A layout at the lowest threshold whose estimate is under this share of the budget stores
#: more (see _fill).
FILL = 0.9
#: The moves that store more, in the order _fill tries them, with their step along
#: CHOICES: a denser seed lattice, more levels, a denser spacing.
FILL_MOVES = (("lattice", -1), ("levels", 1), ("spacing", -1))


def _fill(planner: Planner, layout: Layout, budget: int,
          factor: float, pinned: set[str]) -> Layout:
    """``layout``, or when it has the lowest threshold and room to spare (the full-size image
    has fewer edges per pixel than the reduced one: an upscaled photo's steps are wider),
    the layout one FILL_MOVES step at a time denser, while its estimate fits."""
    while layout.threshold == tuning.THRESHOLDS[0] \
            and planner.estimate(layout, factor) < FILL * budget:
        for name, step in FILL_MOVES:
            choices = CHOICES[name]
            value = getattr(layout, name)
            if name in pinned or value not in choices or (name == "lattice" and value == 0):
                continue
            i = choices.index(value) + step
            if not 0 <= i < len(choices) or (name == "lattice" and choices[i] == 0):
                continue
            denser = replace(layout, **{name: choices[i]})
            if planner.estimate_fits(denser, budget, factor):
                layout = denser
                break
        else:
            break
    return layout


def done_with(small: Planner) -> None:
    """Free what the reduced image's search leaves before the full-size fit: its planner's
    per-layout arrays, its denoised images and gradients and its operator memory, its
    scoring threads' included (0.6 GB at 1 Mpixel)."""
    small.release(analysis=True)


def search_reduced(planner: Planner, small: Planner, budget: int,
                   tonal_iterations: int, *, effort: int = search.DEFAULT_EFFORT,
                   workers: int = 0, progress: Progress | None = None,
                   **fixed: float | None) -> Coded:
    """The coded layout of ``planner``'s image within ``budget`` bytes, its layout searched on
    ``small`` (the image reduced) under the budget scaled by the pixel count and by
    REDUCED_BUDGET_POWER (without the latter where that layout does not fit), then fitted
    at full size: the lowest threshold whose estimate fits (the estimate allowing for the
    growth of the values that the search measured), the tonal fit on tiles, the values
    quantised to the budget; a higher threshold when they do not fit.  BudgetTooSmall
    when no layout fits.  ``progress`` (report.Progress): the "search" stage of the reduced
    image, then the "tiles" stage, its total growing by the tile count at each fit after the
    first."""
    h, w = planner.shape
    ratio = small.shape[0] * small.shape[1] / (h * w)
    room = budget - planner.overhead
    pinned = {k for k, v in fixed.items() if v is not None}

    def layout_on_small(extra: float) -> Coded:
        # the best file of the reduced image within room * ratio * extra (and its overhead)
        try:
            if room <= 0:
                raise search.BudgetTooSmall("no room", None)
            found = search.search(small, small.overhead + math.floor(room * ratio * extra),
                                  tonal_iterations, workers=workers, effort=effort,
                                  progress=progress, edge_sides=False, **fixed)
        except search.BudgetTooSmall as e:
            smallest = search.smallest_file(small, {k: fixed[k] for k in pinned})
            smallest = planner.overhead + math.ceil((smallest - small.overhead) / ratio)
            raise search.BudgetTooSmall(
                f"a budget of {budget} bytes is below the smallest file of this image and "
                f"these settings, about {smallest} bytes (bpp {8 * smallest / (h * w):.3g})",
                smallest) from e
        done_with(small)  # (a released planner searches again if it has to)
        return found

    def fitted(found: Coded) -> Coded:
        return fit_found(planner, found, budget, tonal_iterations, workers=workers,
                         progress=progress, pinned=pinned)

    found = layout_on_small(ratio ** -REDUCED_BUDGET_POWER)
    try:
        return fitted(found)
    except search.BudgetTooSmall:  # that layout does not fit at full size: the plain share
        return fitted(layout_on_small(1.0))


def search_psnr_reduced(planner: Planner, small: Planner, psnr: float,
                        tonal_iterations: int, *, effort: int = search.DEFAULT_EFFORT,
                        workers: int = 0, progress: Progress | None = None,
                        **fixed: float | None) -> Coded:
    """A quality target for ``planner``'s image: a file of ``small`` (the image reduced)
    whose decoded PSNR is at least ``psnr`` (quality.search_psnr, its budget bracketed to
    within tuning.REDUCED_QUALITY_STRIDE rungs where that is near the target), its layout
    then fitted at full size.  An image reduced holds more detail per pixel, so at the same
    bits per pixel the full-size file decodes better than needed (the 4000 x 3000 test
    photo: 3.3 dB over the target, a file twice the size): the layout is fitted first
    within that budget times the reduction to REDUCED_BUDGET_POWER (the budget search's
    correction, the other way), and that file is decoded (the planner's caches released
    first, for the decode's memory) and kept where it meets the target; else the layout is
    fitted within the same bits per pixel."""
    h, w = planner.shape
    found = quality.search_psnr(small, psnr, tonal_iterations, workers=workers, effort=effort,
                                progress=progress, edge_sides=False,
                                stride=tuning.REDUCED_QUALITY_STRIDE,
                                slack=tuning.REDUCED_QUALITY_SLACK, **fixed)
    done_with(small)
    ratio = small.shape[0] * small.shape[1] / (h * w)
    share = (found.size - small.overhead) / ratio
    pinned = {k for k, v in fixed.items() if v is not None}

    def fitted(room: float) -> Coded:
        return fit_found(planner, found, planner.overhead + math.ceil(room), tonal_iterations,
                         workers=workers, progress=progress, pinned=pinned)

    try:
        lean = fitted(share * ratio ** REDUCED_BUDGET_POWER)
        # the file as it is written (the planner keeps it), then the decode's memory instead
        # of the planner's caches (made again if the layout is fitted once more)
        data = planner.file(lean)
        planner.release(analysis=True)
        return_freed_memory()
        if quality.file_psnr(planner, data) >= psnr:
            return lean
    except search.BudgetTooSmall:
        pass
    return fitted(share)


def fit_found(planner: Planner, found: Coded, budget: int, tonal_iterations: int, *,
              workers: int = 0, progress: Progress | None = None,
              pinned: set[str] = frozenset()) -> Coded:
    """The layout ``found`` on the image reduced, fitted at full size within ``budget``
    bytes: the lowest threshold whose estimate fits (allowing for the growth of the values
    that the search measured), denser where room is left (_fill; not the ``pinned`` fields),
    the tonal fit on tiles, the values quantised to the budget; a higher threshold when they
    do not fit.  BudgetTooSmall when no layout fits.  ``progress``: the "tiles" stage, its
    total growing by the tile count at each fit after the first."""
    layout = found.layout
    scale = 1.0
    if found.growth > tuning.TONAL_RATE_FACTOR:
        scale = found.growth / tuning.TONAL_RATE_FACTOR
    hint = layout.threshold
    chroma = min(tonal_iterations, tuning.CHROMA_FINAL_ITERATIONS)
    count = len(tiles(planner.shape, TILE_SIDE, MARGIN))
    stage = Stage(progress, "tiles", count)
    last = None
    for factor in (scale * f for f in tuning.RETRY_FACTORS):
        fitted = planner.fit_threshold(layout, budget, factor=factor, hint=hint)
        if fitted is None:
            break
        fitted = _fill(planner, fitted, budget, factor, pinned)
        if last is not None:  # a fit again: more tiles to fit
            stage.grow(count)
        last, hint = fitted, fitted.threshold
        x = fit(planner, fitted, tonal_iterations, tuning.FINAL_STEPS,
                chroma_iterations=chroma, workers=workers, progress=stage)
        coded = fitted_file(planner, fitted, x, budget)
        if coded is not None:
            stage.end()
            return coded
    if last is not None:  # the pixel values themselves code smaller than fitted ones
        coded = fitted_file(planner, last, fit(planner, last, 0, None), budget)
        if coded is not None:
            stage.end()
            return coded
    raise search.BudgetTooSmall(f"no layout of this image fits {budget} bytes", None)
