"""Rate control: the best file within a byte budget, chosen by decoded quality.

A file's *layout* is the edge threshold (which edges are stored), the spacing of source points
along the edges, the number of quantisation levels and the step of a regular lattice of seed
points (format section 5: the seed plane may hold any pixels; a regular lattice codes in a few
hundred bytes, so its points cost little more than their values).  Edges carry the sharp
structure; the lattice pins down the smooth regions between them, where Laplace interpolation
from the edges alone drifts.

For a budget the search fits, for each candidate (spacing, levels, lattice), the lowest edge
threshold whose file is estimated to fit, scores the candidates by the quality of a short tonal
optimisation through the real inpainting operator, and refines the winner in full.  The stored
values are then quantised with a rounding offset (a dead zone towards the predicted level)
chosen so that the file fits: a tonal-optimised value set codes a little larger than the raw
pixel values the estimate used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from . import container, edges, jbig, sources, tonal, values

#: Thresholds tried, in grey levels: a geometric ladder (file size falls as it rises).
THRESHOLDS = tuple(round(1.5 * 1.2 ** k, 3) for k in range(31)) + (math.inf,)
#: Tonal-optimised values code about this much larger than the raw pixel values.
TONAL_RATE_FACTOR = 1.1
#: Rounding offsets tried when fitting the final file (0.5 = nearest level).
OFFSETS = (0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.0)


@dataclass(frozen=True)
class Layout:
    """What the rate control chooses: edge threshold, spacing, levels, seed lattice step."""

    threshold: float  # math.inf: no edges
    spacing: int
    levels: int
    lattice: int  # 0: no seed lattice


@dataclass
class Coded:
    """A layout with fitted values and its file."""

    layout: Layout
    data: bytes
    mse: float
    values: np.ndarray = field(repr=False)


def lattice_plane(shape: tuple[int, int], step: int) -> np.ndarray:
    """Seed plane with one point every ``step`` pixels in both directions, centred in its cell."""
    plane = np.zeros(shape, dtype=bool)
    if step > 0:
        plane[step // 2::step, step // 2::step] = True
    return plane


def code_plane(plane: np.ndarray, period: int = 0) -> bytes:
    """Smallest T.82 coding of a plane among a few option sets (AT reach covers ``period``)."""
    mx = min(127, max(8, int(period)))
    return min((jbig.encode(plane, mx=mx, tpbon=tp, lrltwo=two)
                for tp in (True, False) for two in (False, True)), key=len)


@njit(cache=True, nogil=True)
def _quantise_toward(scaled: np.ndarray, predictors: np.ndarray, mid: int, top: int,
                     offset: float, out: np.ndarray) -> None:
    for i in range(scaled.shape[0]):
        p = predictors[i]
        pred = mid if p < 0 else out[p]
        d = scaled[i] - pred
        m = math.floor(abs(d) + offset)
        k = pred + m if d >= 0 else pred - m
        out[i] = min(max(k, 0), top)


def quantise_toward(x: np.ndarray, predictors: np.ndarray, levels: int,
                    offset: float = 0.5) -> np.ndarray:
    """Level indices of grey values (0..255) whose residual magnitudes, measured from the
    predicted (already quantised) level, are floor(|d| + offset): 0.5 is nearest-level
    rounding, smaller offsets give cheaper residuals and coarser values."""
    x = np.asarray(x, dtype=np.float64)
    pred = np.asarray(predictors, dtype=np.int64)
    if x.ndim != 1 or pred.shape != x.shape:
        raise ValueError("values and predictors must be 1-D arrays of equal length")
    if pred.size and not ((pred >= -1) & (pred < np.arange(pred.size))).all():
        raise ValueError("every predictor must be -1 or the index of an earlier value")
    if not 2 <= levels <= 256:
        raise ValueError("levels must be in 2..256")
    if not 0.0 <= offset <= 0.5:
        raise ValueError("offset must be in 0..0.5")
    out = np.zeros(x.size, dtype=np.int64)
    scaled = np.clip(np.nan_to_num(x), 0.0, 255.0) * ((levels - 1) / 255.0)
    _quantise_toward(scaled, pred, (levels - 1) // 2, levels - 1, float(offset), out)
    return out


def code_values(indices: np.ndarray, predictors: np.ndarray, levels: int) -> bytes:
    """VALS payload of level indices (coding 0)."""
    try:
        return values.encode(indices, predictors, levels)
    except RuntimeError:
        # values.encode takes an empty coder output for an overflow, but a few zero residuals
        # legitimately code to nothing (the decoder reads 0x00 past the end): check that.
        if np.array_equal(values.decode(b"", predictors, levels), indices):
            return b""
        raise


class Planner:
    """Everything the search needs for one image, computed once per threshold or lattice."""

    def __init__(self, pixels: np.ndarray, smooth: np.ndarray, *, thin: bool = True,
                 hysteresis: float = 0.5, min_length: int = 10,
                 icc_profile: bytes | None = None, exif: bytes | None = None,
                 text: dict[str, str] | None = None):
        self.pixels = pixels
        self.smooth = smooth
        self.shape = pixels.shape
        self.detect = (thin, hysteresis, min_length)
        self.icc_profile, self.exif, self.text = icc_profile, exif, dict(text or {})
        self._edges: dict[float, tuple[np.ndarray, bytes]] = {}
        self._lattices: dict[int, tuple[np.ndarray, bytes]] = {}
        self._points: dict[tuple[float, int, int], tuple[sources.SourcePoints, np.ndarray]] = {}
        h, w = self.shape
        empty = container.IpcFile(
            header=container.Header(width=w, height=h, mode="L", levels=2, spacing=1),
            edge=b"", seed=b"", values_count=0, values_coding=0, values_payload=b"",
            icc_profile=icc_profile, exif=exif, text=self.text)
        #: bytes of a file whose planes and payload are empty (with a SEED chunk)
        self.overhead = len(container.build(empty))

    def edge(self, threshold: float) -> tuple[np.ndarray, bytes]:
        """Edge plane at a threshold and its coding."""
        if threshold not in self._edges:
            if math.isinf(threshold):
                plane = np.zeros(self.shape, dtype=bool)
            else:
                plane = edges.detect(self.smooth, threshold, *self.detect)
            self._edges[threshold] = (plane, jbig.encode(plane, tpbon=False))
        return self._edges[threshold]

    def lattice(self, step: int) -> tuple[np.ndarray, bytes]:
        """Seed lattice plane and its coding."""
        if step not in self._lattices:
            plane = lattice_plane(self.shape, step)
            self._lattices[step] = (plane, code_plane(plane, step) if plane.any() else b"")
        return self._lattices[step]

    def points(self, threshold: float, spacing: int, lattice: int
               ) -> tuple[sources.SourcePoints, np.ndarray]:
        """Stored pixels of a layout, and the seed plane (the lattice, or one centre point
        when nothing else is stored: the PDE needs one)."""
        key = (threshold, spacing, lattice)
        if key not in self._points:
            plane = self.edge(threshold)[0]
            seed = self.lattice(lattice)[0]
            pts = sources.locate(plane, spacing, seed)
            if pts.count == 0:
                seed = np.zeros(self.shape, dtype=bool)
                seed[self.shape[0] // 2, self.shape[1] // 2] = True
                pts = sources.locate(plane, spacing, seed)
            self._points[key] = (pts, seed)
        return self._points[key]

    def seed_bytes(self, layout: Layout) -> bytes | None:
        """Coded seed plane of a layout, None when it stores no seed."""
        _, seed = self.points(layout.threshold, layout.spacing, layout.lattice)
        if not seed.any():
            return None
        if layout.lattice and seed is self.lattice(layout.lattice)[0]:
            return self.lattice(layout.lattice)[1]
        return code_plane(seed)

    def assemble(self, layout: Layout, indices: np.ndarray) -> bytes:
        """The complete file of a layout with the given level indices."""
        pts, _ = self.points(layout.threshold, layout.spacing, layout.lattice)
        h, w = self.shape
        f = container.IpcFile(
            header=container.Header(width=w, height=h, mode="L", levels=layout.levels,
                                    spacing=layout.spacing),
            edge=self.edge(layout.threshold)[1],
            seed=self.seed_bytes(layout),
            values_count=pts.count, values_coding=0,
            values_payload=code_values(indices, pts.predictors, layout.levels),
            icc_profile=self.icc_profile, exif=self.exif, text=self.text)
        return container.build(f)

    def estimate(self, layout: Layout) -> int:
        """Estimated file size: exact planes, values coded from the raw pixels."""
        pts, _ = self.points(layout.threshold, layout.spacing, layout.lattice)
        raw = values.quantise(self.pixels.ravel()[pts.positions], layout.levels)
        payload = len(code_values(raw, pts.predictors, layout.levels))
        seed = self.seed_bytes(layout)
        return (self.overhead + len(self.edge(layout.threshold)[1]) + len(seed or b"")
                + int(math.ceil(TONAL_RATE_FACTOR * payload)))

    def fit_threshold(self, spacing: int, levels: int, lattice: int, budget: int,
                      thresholds: Sequence[float] = THRESHOLDS) -> Layout | None:
        """The layout with the lowest threshold whose estimate fits (bisection on the ladder,
        which assumes sizes fall as the threshold rises)."""
        def layout(i: int) -> Layout:
            return Layout(thresholds[i], spacing, levels, lattice)

        hi = len(thresholds) - 1
        if self.estimate(layout(hi)) > budget:
            return None
        if self.estimate(layout(0)) <= budget:
            return layout(0)
        lo = 0  # invariant: lo over budget, hi fits
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.estimate(layout(mid)) <= budget:
                hi = mid
            else:
                lo = mid
        return layout(hi)

    def fitter(self, layout: Layout) -> tonal.Fitter:
        """Tonal optimiser of a layout's stored positions."""
        pts, _ = self.points(layout.threshold, layout.spacing, layout.lattice)
        return tonal.Fitter(self.pixels, pts.known_mask(), pts.band, pts.positions)

    def code(self, layout: Layout, x: np.ndarray, budget: int | None) -> tuple[bytes, np.ndarray]:
        """File of a layout with values ``x``, quantised with the largest rounding offset whose
        file fits ``budget``; returns the file and the level indices (b"" if none fits)."""
        pts, _ = self.points(layout.threshold, layout.spacing, layout.lattice)
        for offset in OFFSETS:
            k = quantise_toward(x, pts.predictors, layout.levels, offset)
            data = self.assemble(layout, k)
            if budget is None or len(data) <= budget:
                return data, k
        return b"", k

    def evaluate(self, layout: Layout, iterations: int, budget: int | None,
                 measure: bool = True) -> Coded | None:
        """Fit values with ``iterations`` tonal steps, code to the budget and (``measure``)
        the decoded error: mean squared, with the rounding the decoder applies."""
        fit = self.fitter(layout)
        x, _ = fit.fit(iterations)
        data, k = self.code(layout, x, budget)
        if not data:
            return None
        if not measure:
            return Coded(layout, data, math.nan, x)
        u = fit.render(values.dequantise(k, layout.levels))
        err = np.floor(u + 0.5).clip(0, 255) - self.pixels
        return Coded(layout, data, float(np.mean(err * err)), x)


def candidates(bpp: float, spacing: int | None, levels: int | None,
               lattice: int | None) -> list[tuple[int, int, int]]:
    """(spacing, levels, lattice) combinations worth trying at a budget of ``bpp``."""
    # A lattice point costs ~3-4 bits (a value; its position is nearly free): keep the lattice
    # to a share of the budget.
    g0 = max(3, int(math.ceil(math.sqrt(3.5 / max(bpp, 1e-6) / 0.7))))
    lattices = [0] + sorted({g0, int(g0 * 1.3 + 0.5), int(g0 * 1.7 + 0.5), 2 * g0})
    spacings = [4, 8] if bpp >= 0.15 else [6, 12]
    level_set = [16, 32] if bpp >= 0.3 else [8, 16] if bpp >= 0.08 else [8]
    if spacing is not None:
        spacings = [spacing]
    if levels is not None:
        level_set = [levels]
    if lattice is not None:
        lattices = [lattice]
    return [(s, n, g) for g in lattices for s in spacings for n in level_set]


def search(planner: Planner, budget: int, tonal_iterations: int, *,
           spacing: int | None = None, levels: int | None = None,
           lattice: int | None = None, keep: int = 3) -> Coded:
    """The best file not over ``budget`` bytes; ValueError if no layout fits."""
    h, w = planner.shape
    bpp = 8.0 * budget / (h * w)
    layouts = []
    for s, n, g in candidates(bpp, spacing, levels, lattice):
        lay = planner.fit_threshold(s, n, g, budget)
        if lay is not None and lay not in layouts:
            layouts.append(lay)
    if not layouts:
        smallest = min(planner.estimate(Layout(math.inf, s, n, g))
                       for s, n, g in candidates(bpp, spacing, levels, lattice))
        raise ValueError(f"budget of {budget} bytes is below the smallest file this image "
                         f"allows (about {smallest} bytes)")
    quick = min(1, tonal_iterations)
    scored = [c for c in (planner.evaluate(lay, quick, budget) for lay in layouts) if c]
    scored.sort(key=lambda c: c.mse)
    best = None
    for c in scored[:keep]:
        full = planner.evaluate(c.layout, tonal_iterations, budget) if tonal_iterations > quick \
            else c
        for cand in (c, full):
            if cand is not None and (best is None or cand.mse < best.mse):
                best = cand
    if best is None:
        raise ValueError(f"budget of {budget} bytes is below the smallest file this image "
                         f"allows")
    return best
