"""Rate control: the best file within a byte budget, chosen by decoded quality.

A file's *layout* is the edge threshold (which edges are stored), the spacing of source points
along the edges, the number of quantisation levels and the step of a regular lattice of seed
points (format section 5: the header's lattice step costs nothing but the values, which are
predicted in 2-D).  Edges carry the sharp
structure; the lattice pins down the smooth regions between them, where Laplace interpolation
from the edges alone drifts.

For a budget the search fits, for each candidate (spacing, levels, lattice), the lowest edge
threshold whose file is estimated to fit, scores the candidates by the quality of a short tonal
optimisation through the real inpainting operator (solved roughly: a few multigrid steps per
solve), and refines the winner in full.  How many candidates, and how long a fit scores them,
is the effort level (EFFORTS).  The stored
values are then quantised with a rounding offset (a dead zone towards the predicted level)
chosen so that the file fits: a tonal-optimised value set codes a little larger than the raw
pixel values the estimate used.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from .._kernel_cache import kernel
from ..format import colour, container, jbig, sources, values
from . import analysis, tonal
from ..solver import inpaint

_log = logging.getLogger("PIL_ipc")

#: Where the edges of a colour image come from (Layout.edge_source).
EDGE_SOURCES = ("luma", "colour")
#: Thresholds tried, in grey levels: a geometric ladder (file size falls as it rises).
THRESHOLDS = tuple(round(1.5 * 1.1 ** k, 3) for k in range(60)) + (math.inf,)
#: Tonal-optimised values code about this much larger than the raw pixel values.
TONAL_RATE_FACTOR = 1.05
#: Growth factors tried in turn when a candidate's file misses the budget.
RETRY_FACTORS = (TONAL_RATE_FACTOR, 1.3, 1.7)
#: A move's ladder of growth factors is RETRY_FACTORS scaled up to this share of the growth
#: measured on the layout it moves from (neighbours grow alike; a little less, so that a
#: move that may just fit is still tried at the lower threshold).
GROWTH_SHARE = 0.97
#: VALS coding of the files written (values.CODING_BOUNDED: format version 3).
VALUES_CODING = values.CODING_BOUNDED
#: Bytes a chunk adds besides its data (length, type, CRC).
CHUNK_OVERHEAD = 12
#: A payload whose estimate (values.estimate_size) is over this times the room left is not
#: coded to check it: estimates were at most 7 % over the coded size.
ESTIMATE_SLACK = 1.15
#: Rounding offsets tried when fitting the final file (0.5 = nearest level).
OFFSETS = (0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.0)


class BudgetTooSmall(ValueError):
    """No layout fits the byte budget: it is below the smallest file the image allows.
    ``smallest``: the size in bytes of a budget that fits (the smallest starting layout)."""

    def __init__(self, message: str, smallest: int | None = None):
        super().__init__(message)
        self.smallest = smallest


@dataclass(frozen=True)
class Layout:
    """What the rate control chooses: edges (threshold, shortest chain kept), spacing of the
    source points along them, quantisation levels, seed lattice step."""

    threshold: float  # math.inf: no edges
    spacing: int
    levels: int
    lattice: int  # 0: no seed lattice
    min_length: int = 10
    hysteresis: float = 0.5
    denoise: int = 30  # Perona-Malik steps before edge detection
    #: seed the edge pixels whose value is this far (grey levels) from the mean of their
    #: non-edge 4-neighbours: the decoder interpolates edge pixels (format section 8), which
    #: misses sharp steps; math.inf: no such seeds
    edge_seeds: float = math.inf
    #: quantisation levels of the chroma values and their stride over the source points
    #: (colour images only, colour.py)
    chroma_levels: int = 16
    chroma_stride: int = 1
    #: edges of a colour image from the gradient of its luma or of all its channels
    #: (EDGE_SOURCES); grey images: luma
    edge_source: str = "luma"


@dataclass
class Coded:
    """A layout with fitted values and its file."""

    layout: Layout
    data: bytes
    mse: float
    values: np.ndarray = field(repr=False)
    #: the smallest values payload of the fitted values (rounding offset 0) over the
    #: raw-value payload the size estimate uses, both estimated: the estimate factor at
    #: which the layout just fits (nan: not measured)
    growth: float = math.nan


def code_plane(plane: np.ndarray) -> bytes:
    """T.82 coding of an edge or seed plane: three-line template, no typical prediction.
    Among the four option sets this one was the smallest for 275 of 279 seed planes the
    search coded on four test images (always taking it cost 10 bytes in 265 kB), and trying
    all four made the seed plane the dearest part of a size estimate."""
    return jbig.encode(plane, tpbon=False, lrltwo=False)


@kernel()
def _quantise_toward(scaled: np.ndarray, predictors: np.ndarray, mid: int, top: int,
                     offset: float, out: np.ndarray) -> None:
    for i in range(scaled.shape[0]):
        pred = values.predict(out, predictors[i], mid)
        d = scaled[i] - pred
        m = math.floor(abs(d) + offset)
        k = pred + m if d >= 0 else pred - m
        out[i] = min(max(k, 0), top)


@kernel()
def _rounded_squared_error(u: np.ndarray, pixels: np.ndarray) -> float:
    """Sum of squared differences between the decoder's rounding of ``u`` (floor(u + 0.5)
    clamped to 0..255) and ``pixels``: whole numbers, so the sum is exact in any order."""
    total = 0.0
    for i in range(u.shape[0]):
        d = min(max(math.floor(u[i] + 0.5), 0.0), 255.0) - pixels[i]
        total += d * d
    return total


def quantise_toward(x: np.ndarray, predictors: np.ndarray, levels: int,
                    offset: float = 0.5) -> np.ndarray:
    """Level indices of grey values (0..255) whose residual magnitudes, measured from the
    predicted (already quantised) level, are floor(|d| + offset): 0.5 is nearest-level
    rounding, smaller offsets give cheaper residuals and coarser values."""
    x = np.asarray(x, dtype=np.float64)
    pred = values.check_predictors(predictors)
    if x.ndim != 1 or pred.shape[0] != x.shape[0]:
        raise ValueError("values must be a 1-D array with one value per predictor row")
    if not 2 <= levels <= 256:
        raise ValueError("levels must be in 2..256")
    if not 0.0 <= offset <= 0.5:
        raise ValueError("offset must be in 0..0.5")
    out = np.zeros(x.size, dtype=np.int64)
    scaled = np.clip(np.nan_to_num(x), 0.0, 255.0) * ((levels - 1) / 255.0)
    _quantise_toward(scaled, pred, (levels - 1) // 2, levels - 1, float(offset), out)
    return out


def code_values(indices: np.ndarray, predictors: np.ndarray, levels: int) -> bytes:
    """VALS payload of level indices (the bounded coding, VALUES_CODING)."""
    try:
        return values.encode(indices, predictors, levels, VALUES_CODING)
    except RuntimeError:
        # values.encode takes an empty coder output for an overflow, but a few zero residuals
        # legitimately code to nothing (the decoder reads 0x00 past the end): check that.
        if np.array_equal(values.decode(b"", predictors, levels, coding=VALUES_CODING),
                          indices):
            return b""
        raise


def payload_estimate(indices: np.ndarray, predictors: np.ndarray, levels: int) -> int:
    """Estimated bytes of the VALS payload of level indices (values.estimate_size)."""
    return int(math.ceil(values.estimate_size(indices, predictors, levels, VALUES_CODING)))


def _edge_key(layout: Layout) -> tuple:
    """The layout fields the edge plane depends on."""
    return (layout.threshold, layout.min_length, layout.hysteresis, layout.denoise,
            layout.edge_source)


#: Entries of each of the Planner's large caches (source points, band walks, edge deviations).
RECENT = 16


class _Recent:
    """A cache of the ``size`` entries used last (threads may share it)."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object) -> object | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: object, value: object) -> object:
        """Store ``value`` (or keep the one another thread stored meanwhile); return it."""
        with self._lock:
            value = self._items.setdefault(key, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return value

    def __len__(self) -> int:
        return len(self._items)


class _Once:
    """A cache whose values are made once: a thread asking for a key that another thread is
    making waits for it (the scoring threads start alike and would otherwise make the same
    gradient and edge planes side by side)."""

    def __init__(self, items: dict | None = None):
        self._items: dict = dict(items or {})
        self._locks: dict = {}
        self._lock = threading.Lock()

    def get(self, key: object, make) -> object:
        """The value of ``key``, made by ``make()`` if no thread made it yet."""
        try:
            return self._items[key]
        except KeyError:
            pass
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._items:
                value = make()
                with self._lock:
                    self._items[key] = value
            return self._items[key]

    def keys(self) -> list:
        with self._lock:
            return list(self._items)

    def __getitem__(self, key: object) -> object:
        return self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items


class Planner:
    """Everything the search needs for one image, computed once per threshold or lattice."""

    def __init__(self, pixels: np.ndarray, contrast: float = 8.0, *, thin: bool = True,
                 smooth: dict[int, np.ndarray] | None = None,
                 icc_profile: bytes | None = None, exif: bytes | None = None,
                 text: dict[str, str] | None = None, chroma: np.ndarray | None = None,
                 rgb: np.ndarray | None = None, mode: str = "L",
                 alpha: container.Alpha | None = None, xmp: bytes | None = None):
        """``smooth``: images already denoised, by number of Perona-Malik steps.  A colour
        image gives its luma as ``pixels`` (float), its chroma (2, H, W) and its RGB pixels
        (H, W, 3, uint8: what the decoded file is measured against); ``mode`` and ``alpha``
        (the coded ALPH chunk) are what the files carry."""
        self.pixels = pixels
        self.mode = mode
        self.colour = mode in container.COLOUR_MODES
        if self.colour and (chroma is None or rgb is None):
            raise ValueError(f"a {mode} planner needs the chroma and RGB pixels")
        self.chroma = chroma
        self.rgb = rgb
        self.alpha = alpha
        #: the images the value channels are fitted to: luma (or grey), then Cb and Cr
        self.channels = [pixels] + ([chroma[0], chroma[1]] if self.colour else [])
        self._chroma_predictors = _Recent(RECENT)
        self.contrast = contrast
        self._smooth = _Once({(0, k): v for k, v in (smooth or {}).items()})
        self._smoothing = threading.Lock()
        self._gradient = _Once()
        self.shape = pixels.shape
        self.thin = thin
        self.icc_profile, self.exif, self.text = icc_profile, exif, dict(text or {})
        self.xmp = xmp
        self._edges = _Once()
        # the per-layout arrays (a few MB each at 512 x 512) are kept for the layouts used
        # last only: a search probes hundreds, and kept them all (0.8 GB at 0.8 bpp)
        self._points = _Recent(RECENT)
        self._walks = _Recent(RECENT)
        self._seed_bytes: dict[tuple, bytes] = {}
        self._deviation = _Recent(RECENT)
        self._raw_payload: dict[tuple, int] = {}
        self._local = threading.local()  # each scoring thread's inpainting memory
        h, w = self.shape
        empty = container.IpcFile(
            header=container.Header(width=w, height=h, mode=mode, levels=2, spacing=1,
                                    lattice=1, version=container.version_for(mode)),
            edge=b"", seed=None, values_count=0, values_coding=0, values_payload=b"",
            icc_profile=icc_profile, exif=exif, text=self.text, xmp=xmp,
            chroma=container.Chroma(2, 1, 0, 0, b"") if self.colour else None, alpha=alpha)
        #: bytes of a file whose planes and payload are empty (no SEED chunk)
        self.overhead = len(container.build(empty))

    def smooth(self, iterations: int, channel: int = 0) -> np.ndarray:
        """The image (``channel`` of self.channels: luma or grey, Cb, Cr) after
        ``iterations`` Perona-Malik steps."""
        def make() -> np.ndarray:
            # the diffusion is a sequence of steps: continue from the longest run done
            done = max((k for c, k in self._smooth.keys() if c == channel and k < iterations),
                       default=0)
            start = self._smooth[channel, done] if done else self.channels[channel]
            return analysis.denoise(start, self.contrast, iterations - done)

        with self._smoothing:  # one run at a time: each may continue the one before
            return self._smooth.get((channel, iterations), make)

    def gradient(self, iterations: int, source: str = "luma") -> analysis.Gradient:
        """Sobel gradient of the image after ``iterations`` Perona-Malik steps: of its luma,
        or (``source`` "colour", colour images) of all its channels (Di Zenzo)."""
        key = (iterations, source if self.colour else "luma")

        def make() -> analysis.Gradient:
            if key[1] == "colour":
                return analysis.Gradient.of_channels([self.smooth(iterations, c)
                                                   for c in range(len(self.channels))])
            return analysis.Gradient(self.smooth(iterations))

        return self._gradient.get(key, make)

    def edge(self, layout: Layout) -> tuple[np.ndarray, bytes]:
        """Edge plane of a layout and its coding."""
        def make() -> tuple[np.ndarray, bytes]:
            if math.isinf(layout.threshold):
                plane = np.zeros(self.shape, dtype=bool)
            else:
                plane = analysis.detect(self.gradient(layout.denoise, layout.edge_source),
                                     layout.threshold,
                                     self.thin, layout.hysteresis, layout.min_length)
            return plane, code_plane(plane)

        return self._edges.get(_edge_key(layout), make)

    def points(self, layout: Layout) -> tuple[sources.SourcePoints, np.ndarray | None]:
        """Stored pixels of a layout, and its seed plane (None: no SEED chunk): the edge
        seeds, or one centre point when nothing else would be stored (the PDE needs one)."""
        key = (*_edge_key(layout), layout.spacing, layout.lattice, layout.edge_seeds)
        found = self._points.get(key)
        if found is None:
            plane = self.edge(layout)[0]
            seed = None
            if not math.isinf(layout.edge_seeds):
                seed = plane & (self.edge_deviation(layout) > layout.edge_seeds)
                seed &= ~sources.lattice_plane(self.shape, layout.lattice)  # stored anyway
                seed = seed if seed.any() else None
            walk = self.walk(layout)
            pts = sources.locate(plane, layout.spacing, seed, layout.lattice, walk)
            if pts.count == 0:
                seed = np.zeros(self.shape, dtype=bool)
                seed[self.shape[0] // 2, self.shape[1] // 2] = True
                pts = sources.locate(plane, layout.spacing, seed, layout.lattice, walk)
            found = self._points.put(key, (pts, seed))
        return found

    def walk(self, layout: Layout) -> sources.BandWalk:
        """The band walk of a layout's edge plane, shared by every spacing, seed plane and
        lattice (layouts that differ in those alone, as many moves do, walk it once)."""
        key = _edge_key(layout)
        found = self._walks.get(key)
        if found is None:
            found = self._walks.put(key, sources.walk_band(self.edge(layout)[0]))
        return found

    def seed_bytes(self, layout: Layout) -> bytes | None:
        """Coded seed plane of a layout, None when it has none."""
        _, seed = self.points(layout)
        if seed is None:
            return None
        key = (*_edge_key(layout), layout.lattice, layout.edge_seeds)  # spacing plays no part
        if key not in self._seed_bytes:
            self._seed_bytes[key] = code_plane(seed)
        return self._seed_bytes[key]

    def edge_deviation(self, layout: Layout) -> np.ndarray:
        """|pixel - mean of its non-edge 4-neighbours| on edge pixels (0 elsewhere): about
        how far the decoder's interpolation of an edge pixel is from its value."""
        key = _edge_key(layout)
        found = self._deviation.get(key)
        if found is None:
            found = self._deviation.put(
                key, analysis.edge_deviation(self.pixels, self.edge(layout)[0]))
        return found

    def _file(self, layout: Layout, payload: bytes, chroma_payload: bytes = b"") -> bytes:
        """The complete file of a layout with the given values payloads."""
        pts, _ = self.points(layout)
        h, w = self.shape
        chroma = None
        if self.colour:
            chroma = container.Chroma(
                layout.chroma_levels, layout.chroma_stride, VALUES_CODING,
                colour.chroma_count(pts.count, layout.chroma_stride), chroma_payload)
        f = container.IpcFile(
            header=container.Header(width=w, height=h, mode=self.mode, levels=layout.levels,
                                    spacing=layout.spacing, lattice=layout.lattice,
                                    version=container.version_for(self.mode)),
            edge=self.edge(layout)[1],
            seed=self.seed_bytes(layout),
            values_count=pts.count, values_coding=VALUES_CODING, values_payload=payload,
            icc_profile=self.icc_profile, exif=self.exif, text=self.text, xmp=self.xmp,
            chroma=chroma, alpha=self.alpha)
        return container.build(f)

    def frame_size(self, layout: Layout) -> int:
        """Bytes of a layout's file besides the values payloads (every field is fixed-width,
        so the file is this plus the payloads)."""
        return len(self._file(layout, b""))

    def chroma_predictors(self, layout: Layout) -> np.ndarray:
        """Predictor table of the chroma values (Cb then Cr) of a colour layout."""
        key = (*_edge_key(layout), layout.spacing, layout.lattice, layout.edge_seeds,
               layout.chroma_stride)
        found = self._chroma_predictors.get(key)
        if found is None:
            pts, _ = self.points(layout)
            found = self._chroma_predictors.put(key, colour.stacked_predictors(
                colour.chroma_predictors(pts.predictors, layout.chroma_stride), 2))
        return found

    def split(self, layout: Layout, x: np.ndarray) -> list[np.ndarray]:
        """Values of a layout (all channels, one after the other) per channel."""
        n = self.points(layout)[0].count
        if not self.colour:
            return [x]
        m = colour.chroma_count(n, layout.chroma_stride)
        return [x[:n], x[n:n + m], x[n + m:]]

    def per_point(self, layout: Layout, x: np.ndarray) -> list[np.ndarray]:
        """Values of a layout per channel, at every source point (chroma expanded)."""
        parts = self.split(layout, x)
        if len(parts) == 1:
            return parts
        index = colour.chroma_index(parts[0].size, layout.chroma_stride)
        return [parts[0], parts[1][index], parts[2][index]]

    def estimate(self, layout: Layout, factor: float = TONAL_RATE_FACTOR) -> int:
        """Estimated file size: exact planes, values coded from the raw pixels, times
        ``factor`` (tonal-optimised values code larger)."""
        return self._estimate(layout, factor, None)

    def estimate_fits(self, layout: Layout, budget: int,
                      factor: float = TONAL_RATE_FACTOR) -> bool:
        """estimate(layout, factor) <= budget, computing no more parts than it needs."""
        return self._estimate(layout, factor, budget) <= budget

    def _estimate(self, layout: Layout, factor: float, budget: int | None) -> int:
        """The estimate, or a partial sum over ``budget`` as soon as one is (every part is
        positive): misses, most of the rungs a threshold search tries, then skip the
        source points (whose edge plane alone is over) or the seed plane's coding."""
        size = self.overhead + len(self.edge(layout)[1])
        if budget is not None and size > budget:
            return size
        size += int(math.ceil(factor * self.raw_payload(layout)))
        if budget is not None and size > budget:
            return size
        seed = self.seed_bytes(layout)
        return size + (0 if seed is None else CHUNK_OVERHEAD + len(seed))

    def raw_payload(self, layout: Layout) -> int:
        """Bytes of the values payload of the raw pixel values (nearest levels), estimated
        (values.estimate_size: within a few % of the coded size, at a third of the cost of
        coding, which was a fifth of the search's time at high rates)."""
        pts, _ = self.points(layout)
        key = (*_edge_key(layout), layout.spacing, layout.lattice, layout.edge_seeds,
               layout.levels)
        if self.colour:
            key += (layout.chroma_levels, layout.chroma_stride)
        if key not in self._raw_payload:
            raw = values.quantise(self.pixels.ravel()[pts.positions], layout.levels)
            size = payload_estimate(raw, pts.predictors, layout.levels)
            if self.colour:
                at = pts.positions[::layout.chroma_stride]
                raw = values.quantise(np.concatenate([c.ravel()[at] for c in self.chroma]),
                                      layout.chroma_levels)
                size += payload_estimate(raw, self.chroma_predictors(layout),
                                         layout.chroma_levels)
            self._raw_payload[key] = size
        return self._raw_payload[key]

    def fit_threshold(self, template: Layout, budget: int,
                      thresholds: Sequence[float] = THRESHOLDS,
                      factor: float = TONAL_RATE_FACTOR,
                      hint: float | None = None,
                      ceiling: float | None = None) -> Layout | None:
        """``template`` with the lowest threshold whose estimate fits, None if none fits
        (or none at or below ``ceiling``, a rung of the ladder).

        Bisection on the ladder (which assumes sizes fall as the threshold rises).  A ``hint``
        (the threshold of a similar layout) is tried first: a neighbour layout's rung is
        often the same or a few rungs away, so the search gallops from it (steps of 1, 2,
        4, ... rungs towards the answer) and bisects only the last gap: 2-4 estimates
        instead of 7 (each new rung costs an edge detection and a plane coding)."""
        def layout(i: int) -> Layout:
            return replace(template, threshold=thresholds[i])

        def fits(i: int) -> bool:
            return self.estimate_fits(layout(i), budget, factor)

        top = len(thresholds) - 1 if ceiling is None else thresholds.index(ceiling)
        lo, hi = -1, top + 1  # sentinels: no rung known to miss / to fit
        if hint in thresholds and thresholds.index(hint) <= top:
            h = thresholds.index(hint)
            step = 1
            if fits(h):
                hi = h
                while hi > 0:  # gallop down until a rung misses
                    i = max(hi - step, 0)
                    if not fits(i):
                        lo = i
                        break
                    hi, step = i, 2 * step
                if hi == 0:
                    return layout(0)
            else:
                lo = h
                while lo < top:  # gallop up until a rung fits
                    i = min(lo + step, top)
                    if fits(i):
                        hi = i
                        break
                    lo, step = i, 2 * step
                if lo == top:
                    return None
        if hi > top:
            if not fits(top):
                return None
            hi = top
        if lo < 0:
            if fits(0):
                return layout(0)
            lo = 0
        # invariant: lo over budget, hi fits
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if fits(mid):
                hi = mid
            else:
                lo = mid
        return layout(hi)

    def fitter(self, layout: Layout, tol: float = tonal.INNER_TOL,
               steps: int | None = None) -> tonal.Fitter:
        """Tonal optimiser of a layout's stored positions, on this thread's inpainting memory:
        valid until the thread's next call."""
        pts, _ = self.points(layout)
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = inpaint.Scratch(self.shape)
        return tonal.Fitter(self.pixels, pts.known_mask(), pts.band, pts.positions, tol, steps,
                            scratch)

    def fitters(self, layout: Layout, tol: float = tonal.INNER_TOL,
                steps: int | None = None) -> list[tonal.Fitter]:
        """One tonal optimiser per channel, all on the one operator of the layout's geometry
        (valid until this thread's next call)."""
        first = self.fitter(layout, tol, steps)
        if not self.colour:
            return [first]
        pts, _ = self.points(layout)
        index = colour.chroma_index(pts.count, layout.chroma_stride)
        return [first] + [tonal.Fitter(c, first.op.known, first.op.band, pts.positions, tol,
                                       steps, op=first.op, expand=index)
                          for c in self.chroma]

    def _quantised(self, layout: Layout, x: np.ndarray,
                   offset: float) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """(level indices, predictors, levels) of each value stream: luma, and the chroma."""
        pts, _ = self.points(layout)
        parts = self.split(layout, x)
        out = [(quantise_toward(parts[0], pts.predictors, layout.levels, offset),
                pts.predictors, layout.levels)]
        if self.colour:
            pc = self.chroma_predictors(layout)
            out.append((quantise_toward(np.concatenate(parts[1:]), pc, layout.chroma_levels,
                                        offset), pc, layout.chroma_levels))
        return out

    def code(self, layout: Layout, x: np.ndarray, budget: int | None) -> tuple[bytes, np.ndarray]:
        """File of a layout with values ``x``, quantised with the largest rounding offset whose
        file fits ``budget``; returns the file and the level indices (b"" if none fits)."""
        frame = self.frame_size(layout)
        for offset in OFFSETS:
            streams = self._quantised(layout, x, offset)
            k = np.concatenate([s[0] for s in streams])
            if budget is not None and offset != OFFSETS[-1] and \
                    sum(payload_estimate(*s) for s in streams) \
                    > ESTIMATE_SLACK * (budget - frame) + CHUNK_OVERHEAD:
                continue  # clearly over: not worth coding
            payloads = [code_values(*s) for s in streams]
            if budget is None or frame + sum(map(len, payloads)) <= budget:
                return self._file(layout, *payloads), k
        return b"", k

    def warm_start(self, layout: Layout, near: Coded) -> np.ndarray:
        """Start values for a layout's tonal fit: the fitted values of a similar layout
        ``near`` where the two store the same pixel, the pixel values elsewhere."""
        pos = self.points(layout)[0].positions
        ref = self.points(near.layout)[0].positions
        index = colour.chroma_index(pos.size, layout.chroma_stride)
        out = []
        for c, (target, theirs) in enumerate(zip(self.channels,
                                                 self.per_point(near.layout, near.values),
                                                 strict=True)):
            # an image of near's values (NaN where it stores nothing), read at our positions:
            # a tenth of the time of matching sorted positions at high rates
            grid = np.full(self.pixels.size, np.nan)
            grid[ref] = theirs
            start = grid[pos]
            miss = np.isnan(start)
            start[miss] = target.ravel()[pos[miss]]
            if c and layout.chroma_stride > 1:
                start = np.bincount(index, start) / np.bincount(index)
            out.append(start)
        return np.concatenate(out) if len(out) > 1 else out[0]

    def evaluate(self, layout: Layout, iterations: int, budget: int | None,
                 measure: bool = True, tol: float = tonal.INNER_TOL,
                 steps: int | None = None, rough: bool = False,
                 near: Coded | None = None, fallback: bool = False,
                 chroma_iterations: int | None = None) -> Coded | None:
        """Fit values with ``iterations`` tonal steps, code to the budget and (``measure``)
        the decoded error: mean squared, with the rounding the decoder applies.  Solves are
        certified to ``tol`` grey levels; the fit's solves take ``steps`` solver steps instead
        when given (it needs descent directions, not digits), and so does the measurement
        when ``rough`` (an uncertified estimate, for ranking).  ``near``: a fitted similar
        layout, whose values start the fit (see warm_start).  ``fallback``: when the fitted
        values code over the budget (each step makes them dearer), take those of the last
        step that fit instead.  ``chroma_iterations``: tonal steps of the chroma channels
        (None: ``iterations``)."""
        fits = self.fitters(layout, tol, steps)
        trail: list[np.ndarray] | None = None
        if iterations:
            starts = [None] * len(fits) if near is None else \
                self.split(layout, self.warm_start(layout, near))
            xs, images, trails = [], [], []
            for c, (fit, start) in enumerate(zip(fits, starts, strict=True)):
                tr: list[np.ndarray] | None = [] if fallback else None
                steps_c = iterations if c == 0 or chroma_iterations is None else \
                    chroma_iterations
                if not steps_c:
                    xs.append(fit.start_values() if start is None else np.clip(start, 0, 255))
                    images.append(self.channels[c])
                    trails.append(None)
                    continue
                x_c, image_c = fit.fit(steps_c, start, tr)
                xs.append(x_c)
                images.append(image_c)
                trails.append(tr)
            if fallback:
                steps_kept = min(len(t) for t in trails if t is not None)
                trail = [np.concatenate([xs[c] if t is None else t[i]
                                         for c, t in enumerate(trails)])
                         for i in range(steps_kept)]
        else:  # the paper's choice, and one solve fewer than fit(0)
            xs = [fit.start_values() for fit in fits]
            images = self.channels
        x = np.concatenate(xs) if len(xs) > 1 else xs[0]
        data, k = self.code(layout, x, budget)
        while not data and trail:
            # (the measurement below still starts from the last step's image: only a guess)
            x = trail.pop()
            data, k = self.code(layout, x, budget)
        if not data:
            return None
        if not measure:
            return Coded(layout, data, math.nan, x)
        # quantising moves the image little: start the solver from the unquantised one
        for fit in fits:
            fit.steps = steps if rough else None
        mse = self._decoded_mse(layout, fits, k, images)
        return Coded(layout, data, mse, x, self.growth(layout, x))

    def _decoded_mse(self, layout: Layout, fits: list[tonal.Fitter], k: np.ndarray,
                     guesses: list[np.ndarray]) -> float:
        """Mean squared error (over all samples: grey, or R, G and B) of the image decoded
        from level indices ``k``, with the decoder's rounding."""
        parts = self.split(layout, k)
        levels = [layout.levels] + [layout.chroma_levels] * (len(parts) - 1)
        u = [fit.render(values.dequantise(kc, lv), guess=g)
             for fit, kc, lv, g in zip(fits, parts, levels, guesses, strict=True)]
        if not self.colour:
            return _rounded_squared_error(u[0].ravel(), np.ravel(self.pixels)) / u[0].size
        return colour.rounded_rgb_error(u, self.rgb) / self.rgb.size

    def remeasure(self, coded: Coded, budget: int | None, steps: int | None) -> Coded:
        """``coded`` with its decoded error measured again with ``steps`` solver steps
        (None: certified), so that it compares with layouts fitted and measured so."""
        _, k = self.code(coded.layout, coded.values, budget)  # the quantisation of its file
        fits = self.fitters(coded.layout, steps=steps)
        return replace(coded, mse=self._decoded_mse(coded.layout, fits, k, self.channels))

    def growth(self, layout: Layout, x: np.ndarray) -> float:
        """Coded.growth of values ``x`` of a layout (both payloads estimated alike)."""
        size = sum(payload_estimate(*s) for s in self._quantised(layout, x, 0.0))
        return size / max(self.raw_payload(layout), 1)


#: Ordered choices of the layout fields the search moves along.
CHOICES = {
    "spacing": (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48),
    "levels": (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256),
    "lattice": (0, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64),
    "min_length": (0, 5, 10, 20, 40, 80, 160),
    "hysteresis": (0.3, 0.5, 1.0),
    "denoise": (0, 10, 30, 60, 120),
    "edge_seeds": (math.inf, 48.0, 32.0, 24.0, 16.0, 12.0, 8.0, 6.0, 4.0),
    "chroma_levels": (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128),
    "chroma_stride": (1, 2, 3, 4, 6, 8),
    "edge_source": EDGE_SOURCES,
}
#: Fields only colour images have; the descent visits them after luma's levels and spacing
#: (the split of the budget between luma and chroma is chosen there, by decoded quality; and
#: luma edges or colour edges, whichever decodes better).
COLOUR_FIELDS = ("edge_source", "chroma_levels", "chroma_stride")
#: Order in which the coordinate descent visits the fields.
DESCENT = ("levels", "spacing", "lattice", "min_length", "hysteresis", "denoise",
           "edge_seeds")
#: Solver steps per solve inside tonal fits and scores (uncertified solves): 2 multigrid-
#: preconditioned CG steps rank layouts about as well as 4 (final files of the thorough search
#: moved by -0.16 to +0.23 dB on the test images) at a third of the cost of certifying 0.5
#: grey levels (6-12 steps).  One step is too few: the final fits
#: then lose up to 12 dB.  The decoder solves to its own certified tolerance.
FIT_STEPS = 2
#: Edges the colour starts take (the descent tries the other source first): colour edges
#: catch the steps between colours of one brightness (house at 0.1 bpp: 24.28 dB against
#: 23.12 from luma edges).
COLOUR_START_EDGES = "colour"
#: Tonal iterations of the chroma channels when scoring colour layouts: chroma is smooth, its
#: fit changes the ranking little, and skipping it halves the cost of a colour score (the
#: finalists' fits optimise every channel).
CHROMA_SCORE_ITERATIONS = 0
#: Tonal iterations of the chroma channels in the finalists' fits (luma takes what is left
#: of ``tonal``): on kodim23 and kodim05 at 0.1 bpp 2 did as well as 4 (28.59 / 20.36 dB
#: against 28.56 / 20.32) at a fifth less time; 0 lost 0.7 dB on kodim23.
CHROMA_FINAL_ITERATIONS = 2
#: Solver steps per solve in the finalists' full fits: these values go into the file.  With
#: the band phase solved exactly, 4 steps do about as well as 6 (over the 32 test cases:
#: within 0.01 dB but gradients at 0.1 bpp, -0.12) and 3 nearly (-0.1 dB on three cases);
#: with 2-step band solves, 2 steps left up to 0.35 dB (comic at 0.05 bpp: 23.19 dB with 2,
#: 23.54 with 6).  They run on the critical path: 4 instead of 6 saves about 0.1 s.
FINAL_STEPS = 4
#: Smallest relative error reduction for which the descent moves (0.002 = 0.01 dB).  Without
#: one the walk drifts on ties (pikachu at 0.8 bpp: levels 96 -> 256 for nothing, after which
#: the edge seeds worth 7 dB no longer fit).  Larger values trade images against each other
#: (0.01: splash at 0.2 bpp +1.45 dB, pikachu at 0.05 bpp -0.05 dB).
MIN_GAIN = 0.002
#: Budgets from this many bits per pixel on are searched as high rates: starts with dense
#: source points, moves that must gain MIN_GAIN_HIGH_RATE, scores by fewer tonal iterations
#: (Effort.high_rate_score_iterations), no bound on the moves or on how far their threshold
#: goes (MAX_MOVES, MOVE_REACH apply below).
HIGH_RATE = 0.3
#: MIN_GAIN from HIGH_RATE on: there the walks took many steps of 0.01-0.03 dB each (levels
#: 64 -> 96 -> 128 -> 192); over 20 cases at 0.4 and 0.8 bpp, with the starts' spacing there,
#: 9 % less CPU and no case more than 0.33 dB worse.
MIN_GAIN_HIGH_RATE = 0.01
#: Below HIGH_RATE, rungs a move's threshold may rise above that of the layout it moves
#: from: a move that fits only with the threshold up more than 2x (most often edge seeds
#: turned on, fitting with almost no edges left) is not scored.  On 36 cases below 0.3 bpp:
#: +0.27 dB in sum (splash at 0.2 bpp +0.68, lisa at 0.05 bpp -0.47), 3.5 % less CPU, comic
#: at 0.2 bpp -27 %.  From HIGH_RATE on such moves often win (an escape from the bottom rungs:
#: house at 0.8 bpp lost 4 dB without them).
MOVE_REACH = 8
#: Layouts scored together in a descent batch at least (padded with likely next moves): one
#: per thread on the 2-core machines the search is tuned for.
BATCH = 2
#: A second family (with or without a lattice) is explored when its best start's error is
#: within this factor of the best (1.26 = 1 dB).
RIVAL_RATIO = 1.26


@dataclass(frozen=True)
class Effort:
    """How hard the search works: what it costs is candidates x solves per candidate."""

    #: tonal iterations when scoring candidates
    score_iterations: int
    #: fields the coordinate descent moves along, in order
    descent: tuple[str, ...]
    #: candidates that get the full tonal optimisation at the end (each also one threshold
    #: rung lower)
    finalists: int
    #: explore the second family when its best start's error is within this factor of the
    #: best (1.0 = only the leading family)
    rival_ratio: float
    #: start lattices, as multiples of the step of one taking about 60 % of the budget
    sparsity: tuple[float, ...] = (1.0, 1.8, 3.3, 6.0)
    #: fields walked once more after the others
    revisit: tuple[str, ...] = ()
    #: score_iterations from HIGH_RATE bits per pixel on (None: the same)
    high_rate_score_iterations: int | None = None
    #: layouts a descent scores at most below HIGH_RATE bits per pixel (it stops after the
    #: batch that reaches it): a bound on the running time where layouts are dear to score
    #: and walks run long; None: no bound
    max_moves: int | None = None


#: The descent of the default effort: hysteresis, the field that moves least, is left out
#: (leaving it out of the thorough search lost nothing on ten test cases).
QUICK_DESCENT = tuple(f for f in DESCENT if f != "hysteresis")

#: Fields the walks visit again at the end: how many values and how many stored pixels the
#: bytes buy is worth rebalancing once the edges have moved (over the 32 test cases: comic at
#: 0.05 bpp +0.19 dB, at 0.2 bpp +0.12, blobs at 0.1 +0.25; 4 more layouts scored on average).
REVISIT = ("levels", "spacing")

#: Layouts the default effort's descent scores at most below HIGH_RATE: walks longer than
#: that were the synthetic images' (gradients at 0.05 bpp scored 69 layouts); 32 costs them
#: 0.07-0.13 dB and saves up to 20 % of their time.  From HIGH_RATE on the walks that run
#: long are cheap ones (synthetic images, 1 s), where a bound cost up to 0.4 dB.
MAX_MOVES = 32
#: Search effort levels (``effort`` of the encoder): 0 fastest ... 2 most thorough.
#: 0 scores the starting layouts only. 1 (the default) walks the layout fields from the best
#: start of the leading family, then levels and spacing again. 2 also walks the second family
#: when it is within 1 dB, moves hysteresis, and fits two finalists in full.  Scoring by 1
#: tonal iteration instead of 2 saves a sixth of the time but misleads the walk on some images
#: (fry at 0.1 bpp: -0.7 dB, pikachu at 0.05 bpp: -0.55 dB), so every walk scores by 2 below
#: HIGH_RATE; from there on the default scores by 1 (over 20 cases at 0.4 and 0.8 bpp: 15 %
#: less CPU, -0.63 dB in sum, no case below -0.78 dB).
EFFORTS = (
    Effort(1, (), 1, 1.0, sparsity=(1.3, 3.5)),
    Effort(2, QUICK_DESCENT, 1, 1.0, revisit=REVISIT, high_rate_score_iterations=1,
           max_moves=MAX_MOVES),
    Effort(2, DESCENT, 2, RIVAL_RATIO, revisit=REVISIT),
)
DEFAULT_EFFORT = 1


def _starts(bpp: float, sparsity: Sequence[float],
            colour_image: bool = False) -> list[dict[str, int]]:
    """Diverse starting layouts at a budget of ``bpp`` bits per pixel: lattices ``sparsity``
    times sparser than one taking about 60 % of the budget, or none (edges only)."""
    chroma = {"chroma_levels": Layout.chroma_levels, "chroma_stride": Layout.chroma_stride,
              "edge_source": Layout.edge_source}
    if colour_image:
        # chroma of photos is smooth: coarser and sparser than luma at low rates
        chroma = {"chroma_levels": 16 if bpp >= HIGH_RATE else 12 if bpp >= 0.15 else 8,
                  "chroma_stride": 1 if bpp >= HIGH_RATE else 2,
                  "edge_source": COLOUR_START_EDGES}
    # A lattice point costs ~3-4 bits (its value; the position is nearly free).  Sparse
    # lattices (a few % of the budget) matter: they pin down smooth fills between edges.
    dense = math.sqrt(3.5 / max(bpp, 1e-6) / 0.6)
    ladder = CHOICES["lattice"][1:]
    steps = sorted({min(ladder, key=lambda g: abs(math.log(g / (k * dense)))) for k in sparsity})
    # (at 0.4 and 0.8 bpp the walks ended at spacing 1-3 on the photos: starting there
    # saves them 3-5 steps)
    base = {"spacing": 2 if bpp >= 2 * HIGH_RATE else 3 if bpp >= HIGH_RATE else 6 if bpp >= 0.15
            else 8 if bpp >= 0.07 else 12,
            "levels": 32 if bpp >= 0.4 else 16 if bpp >= 0.07 else 8}
    # edges from weak continuations and short chains (kept) or from strong, long chains only;
    # from HIGH_RATE on the strong ones never started the best walk on 20 test cases (leaving
    # them out there: 7 % less CPU, no result worse)
    styles = ((10, 0.5),) if bpp >= HIGH_RATE else ((10, 0.5), (40, 1.0))
    starts = [{**base, **chroma, "lattice": g, "min_length": m, "hysteresis": hy,
               "denoise": 30, "edge_seeds": math.inf}
              for m, hy in styles for g in [0, *steps]]
    # Every pixel stored (lattice 1): no inpainting at all, the values predicted in 2-D: on
    # flat-coloured images at high rates this near-lossless coding beats any sparse layout
    # by 20 dB (pikachu at 0.8 bpp: 58.9 against 37.1 dB).  It is a start, not a walk
    # step: lattices 1 and 2 among the walk's choices trap it (svalbard at 0.8 bpp: -3 dB).
    # Below 0.15 bpp it never fits on the test images, and trying costs a fifth of a second.
    if bpp >= 0.15:
        starts.append({**base, **chroma, "lattice": 1, "min_length": 40, "hysteresis": 1.0,
                       "denoise": 30, "edge_seeds": math.inf})
    return starts


def _neighbours(name: str, value: float, reach: int = 1) -> list[float]:
    """The choices up to ``reach`` steps either side of ``value`` (a lattice never turns on
    or off here; edge seeds turn on at a moderate and at a dense setting)."""
    choices = CHOICES[name]
    if name == "edge_seeds" and math.isinf(value):
        return [24.0, 8.0]
    i = choices.index(value) if value in choices else \
        min(range(1, len(choices)), key=lambda j: abs(choices[j] - value))
    out = [choices[j] for j in range(i - reach, i + reach + 1) if 0 <= j < len(choices)]
    if name == "lattice":
        out = [c for c in out if (c == 0) == (value == 0)]
    return [c for c in out if c != value]


def search(planner: Planner, budget: int, tonal_iterations: int, *, workers: int = 0,
           effort: int = DEFAULT_EFFORT, **fixed: int | None) -> Coded:
    """The best file not over ``budget`` bytes; BudgetTooSmall if no layout fits.

    ``fixed`` pins layout fields (spacing, levels, lattice, min_length, hysteresis, denoise,
    edge_seeds; None = search it); ``effort`` indexes EFFORTS.
    Coordinate descent over the free fields, each candidate with the lowest threshold that
    fits, scored by a short tonal optimisation; the winner gets the full one.  A move's
    threshold search starts at the layout it moves from, and its tonal fit from that
    layout's fitted values (two iterations from there rank layouts better than from the
    pixel values).  Candidates are scored on ``workers`` threads (0: one per CPU; the solver
    kernels release the GIL); batches too small to keep two busy are padded with the moves
    the walk scores next if it does not move.
    """
    unknown = set(fixed) - set(CHOICES)
    if unknown:
        raise ValueError(f"unknown layout fields {sorted(unknown)}")
    if isinstance(effort, bool) or not (isinstance(effort, (int, np.integer))
                                        and 0 <= effort < len(EFFORTS)):
        raise ValueError(f"effort must be an integer in 0..{len(EFFORTS) - 1}, got {effort!r}")
    plan = EFFORTS[int(effort)]
    h, w = planner.shape
    pinned = {k: v for k, v in fixed.items() if v is not None}
    high_rate = 8.0 * budget / (h * w) >= HIGH_RATE
    quick = min(plan.score_iterations, tonal_iterations)
    if high_rate and plan.high_rate_score_iterations is not None:
        quick = min(plan.high_rate_score_iterations, tonal_iterations)
    min_gain = MIN_GAIN_HIGH_RATE if high_rate else MIN_GAIN
    scores: dict[Layout, Coded | None] = {}

    def template(fields: dict[str, float]) -> Layout:
        return Layout(math.inf, fields["spacing"], fields["levels"], fields["lattice"],
                      fields["min_length"], fields["hysteresis"], fields["denoise"],
                      fields["edge_seeds"], fields["chroma_levels"], fields["chroma_stride"],
                      fields["edge_source"])

    def evaluate(t: Layout, near: Coded | None) -> Coded | None:
        # when the estimate misses (many levels code far larger once optimised), refit
        # assuming a larger growth
        hint = ceiling = None
        if near is not None:
            hint = near.layout.threshold
            if not high_rate:
                ceiling = THRESHOLDS[min(THRESHOLDS.index(hint) + MOVE_REACH,
                                         len(THRESHOLDS) - 1)]
        scale = 1.0
        if near is not None and GROWTH_SHARE * near.growth > TONAL_RATE_FACTOR:
            scale = GROWTH_SHARE * near.growth / TONAL_RATE_FACTOR
        for factor in (scale * f for f in RETRY_FACTORS):
            lay = planner.fit_threshold(t, budget, factor=factor, hint=hint, ceiling=ceiling)
            if lay is None:
                return None
            c = planner.evaluate(lay, quick, budget, steps=FIT_STEPS, rough=True, near=near,
                                 chroma_iterations=CHROMA_SCORE_ITERATIONS)
            if c is not None:
                return c
            hint = lay.threshold
        return None

    def score(batch: list[dict[str, float]], near: Coded | None = None) -> list[float]:
        """Scores of layouts given by their fields; ``near``: the scored layout they are
        moves from (its threshold and values start their fits)."""
        todo = list(dict.fromkeys(t for t in map(template, batch) if t not in scores))
        for t, c in zip(todo, pool.map(lambda t: evaluate(t, near), todo), strict=True):
            scores[t] = c
            _log.debug("search: scored %s: %s", t if c is None else c.layout,
                       "no fit" if c is None else f"{psnr_of(c.mse):.3f} dB")
        return [math.inf if scores[t] is None else scores[t].mse for t in map(template, batch)]

    def _speculate(moves: list[dict[str, float]], here: dict[str, float],
                   later: list[str]) -> list[dict[str, float]]:
        """Layouts to score beside a batch of fewer than BATCH new ones: the later fields'
        first moves from ``here``, which the walk scores next unless it moves (most batches
        end without a move).  A fixed batch size, not the thread count, keeps the result
        independent of the number of threads."""
        todo = {t for t in map(template, moves) if t not in scores}
        extra: list[dict[str, float]] = []
        for name in later:
            for v in _neighbours(name, here[name]):
                if len(todo) >= BATCH:
                    return extra
                m = {**here, name: v}
                t = template(m)
                if t not in scores and t not in todo:
                    todo.add(t)
                    extra.append(m)
        return extra

    def best(family: bool | None = None) -> Coded | None:
        """Best scored candidate, among those with (True) or without (False) a lattice."""
        done = [c for c in scores.values()
                if c is not None and (family is None or (c.layout.lattice > 0) == family)]
        return min(done, key=lambda c: c.mse) if done else None

    def descend(family: bool) -> None:
        current = best(family)
        descent = list(plan.descent)
        revisit = list(plan.revisit)
        if planner.colour and "spacing" in descent:
            at = descent.index("spacing") + 1
            descent[at:at] = COLOUR_FIELDS
            revisit.append("chroma_levels")
        fields = [name for name in descent if fixed.get(name) is None]
        fields += [name for name in revisit if fixed.get(name) is None]
        moves_scored = 0
        max_moves = None if high_rate else plan.max_moves
        for f, name in enumerate(fields):
            while current is not None:
                if max_moves is not None and moves_scored >= max_moves:
                    return
                here = {k: getattr(current.layout, k) for k in CHOICES}
                moves = [{**here, name: v} for v in _neighbours(name, here[name])]
                new = [m for m in moves if template(m) not in scores]
                if len(new) == 1:
                    # after a step one neighbour is the layout just left: look one step
                    # further on too, so that a batch keeps two threads busy (a move may
                    # then jump two steps)
                    ahead = _neighbours(name, new[0][name])
                    moves += [{**here, name: v} for v in ahead
                              if v not in (here[name], new[0][name])
                              and v in _neighbours(name, here[name], 2)]
                batch = moves + _speculate(moves, here, fields[f + 1:])
                moves_scored += len({t for t in map(template, batch) if t not in scores})
                score(batch, current)
                done = [c for c in (scores[t] for t in map(template, moves)) if c is not None]
                step = min(done, key=lambda c: c.mse, default=None)
                # a move must gain something real: drifting on ties (more levels for 0.01 dB,
                # say) spends bytes that later fields can use better
                if step is None or step.mse >= current.mse * (1.0 - min_gain):
                    _log.debug("search: %s stays at %s (%d layouts scored)", name,
                               here[name], len(scores))
                    break
                _log.debug("search: %s %s -> %s, %+.3f dB (%d layouts scored)", name,
                           here[name], getattr(step.layout, name),
                           psnr_of(step.mse) - psnr_of(current.mse), len(scores))
                current = step

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        score([{**start, **pinned}
               for start in _starts(8.0 * budget / (h * w), plan.sparsity, planner.colour)])
        # Edges alone and edges with a lattice are different regimes: descend from the best
        # start of each unless one is far behind.
        leaders = [c for c in (best(True), best(False)) if c is not None]
        families = [c.layout.lattice > 0 for c in leaders
                    if c.mse <= plan.rival_ratio * min(d.mse for d in leaders)]
        # the families' layouts are disjoint (a move never turns the lattice on or off), so
        # their descents run side by side, sharing the scoring threads
        with ThreadPoolExecutor(max_workers=max(len(families), 1)) as sides:
            list(sides.map(descend, families))
        top = best()
        if top is None:
            smallest = smallest_file(planner, pinned)
            raise BudgetTooSmall(f"a budget of {budget} bytes is below the smallest file of "
                                 f"this image and these settings, about {smallest} bytes "
                                 f"(bpp {8 * smallest / (h * w):.3g})", smallest)
        # The full optimisation of the best few, each also one threshold rung lower: the
        # size estimate is conservative, and quantising to the budget may make it fit.
        ranked = sorted((c for c in scores.values() if c is not None), key=lambda c: c.mse)
        finals = []
        for c in ranked[:plan.finalists]:
            finals.append((c.layout, c))
            i = THRESHOLDS.index(c.layout.threshold)
            if i > 0:
                finals.append((replace(c.layout, threshold=THRESHOLDS[i - 1]), c))

        def final(job: tuple[Layout, Coded] | Coded) -> Coded | None:
            if isinstance(job, Coded):
                return planner.remeasure(job, budget, FINAL_STEPS)
            # the fit goes on from the scored values (mapped to the layout's positions): the
            # iterations left of tonal_iterations do better than all of them from the pixel
            # values (over the 32 test cases +0.64 dB in sum, at 10 % less CPU)
            layout, scored = job
            iterations = max(tonal_iterations - quick, 1)
            return planner.evaluate(layout, iterations, budget, steps=FINAL_STEPS, rough=True,
                                    fallback=True, near=scored,
                                    chroma_iterations=min(iterations, CHROMA_FINAL_ITERATIONS))

        # Scores are rough: the best of the finals and the best scored file, all measured
        # alike, wins (a full fit is not always better once quantised: comic at 0.05 bpp,
        # 6 levels, scores 23.62 dB after 2 iterations and 23.55 after 6).
        jobs: list[tuple[Layout, Coded] | Coded] = [top, *finals]
        top = None
        for i, c in enumerate(pool.map(final, jobs)):
            if c is not None and (top is None or c.mse < top.mse):
                top = c
                _log.debug("search: final %d of %d leads: %s, %.3f dB", i, len(jobs),
                           c.layout, psnr_of(c.mse))
    return top


def smallest_file(planner: Planner, pinned: dict[str, float] | None = None) -> int:
    """Bytes of the smallest file a budget search can start from: no edges, the sparsest
    starting layout (and the pinned fields): a budget of that size fits."""
    fields = {**_starts(0.0, (1.0,), planner.colour)[0], "lattice": 0, **(pinned or {})}
    layout = Layout(math.inf, fields["spacing"], fields["levels"], fields["lattice"],
                    fields["min_length"], fields["hysteresis"], fields["denoise"],
                    fields["edge_seeds"], fields["chroma_levels"], fields["chroma_stride"],
                    fields.get("edge_source", Layout.edge_source))
    coded = planner.evaluate(layout, 0, None, measure=False)
    # the search estimates values payloads with TONAL_RATE_FACTOR of slack
    return math.ceil(len(coded.data) * TONAL_RATE_FACTOR) + 1


# ---------------------------------------------------------------- a quality target

#: Budgets the quality search tries: a geometric ladder of byte counts, BUDGET_RATIO apart
#: (5 %: 0.1-0.3 dB on the test images).  Every target uses the same ladder and takes its
#: smallest rung that meets it, so that a higher target never gives a worse file.
BUDGET_RATIO = 1.05
BUDGET_BASE = 32
#: Decibels gained per doubling of the budget, assumed until two budgets are measured.
DB_PER_DOUBLING = 4.0


def budget_rung(k: int) -> int:
    """Rung ``k`` of the budget ladder, in bytes."""
    return math.ceil(BUDGET_BASE * BUDGET_RATIO ** k)


def psnr_of(mse: float) -> float:
    """PSNR in dB of 8-bit samples with mean squared error ``mse`` (inf when exact)."""
    return math.inf if mse <= 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def search_psnr(planner: Planner, psnr: float, tonal_iterations: int, *,
                workers: int = 0, effort: int = DEFAULT_EFFORT,
                **fixed: int | None) -> Coded:
    """The smallest file whose decoded PSNR is at least ``psnr`` dB: a :func:`search` for
    each budget tried, on the ladder of :func:`budget_rung`, until the smallest rung that
    meets the target is next to one that misses it (secant steps in log-budget, then
    bisection).  When no budget up to about 9 bits per pixel meets it, the file of that
    largest budget.  The PSNR is that of the decoded file (the decoder's own result)."""
    from .. import decode

    if not psnr > 0:
        raise ValueError(f"psnr must be > 0, got {psnr!r}")
    h, w = planner.shape
    # what the decoded file is measured against: grey or RGB pixels (not alpha)
    reference = np.asarray(planner.rgb if planner.colour else planner.pixels, np.float64)
    top = math.ceil(math.log((1.1 * h * w + planner.overhead + 256) / BUDGET_BASE)
                    / math.log(BUDGET_RATIO))
    tried: dict[int, tuple[float, Coded | None]] = {}

    def quality(k: int) -> float:
        if k not in tried:
            try:
                c = search(planner, budget_rung(k), tonal_iterations, workers=workers,
                           effort=effort, **fixed)
            except BudgetTooSmall:
                tried[k] = (-math.inf, None)
            else:
                decoded = decode.decode(c.data)
                if decoded.ndim > reference.ndim:  # LA: the grey band
                    decoded = decoded[..., 0]
                decoded = decoded[..., :3] if decoded.ndim == 3 else decoded  # RGBA: RGB
                mse = float(np.mean((decoded.astype(np.float64) - reference) ** 2))
                tried[k] = (psnr_of(mse), c)
        return tried[k][0]

    def rung_for(bytes_: float) -> int:
        return min(max(round(math.log(max(bytes_, 1) / BUDGET_BASE)
                             / math.log(BUDGET_RATIO)), 0), top)

    per_rung = DB_PER_DOUBLING * math.log2(BUDGET_RATIO)
    k = rung_for(smallest_file(planner, {n: v for n, v in fixed.items() if v is not None}))
    k = max(k, rung_for(0.2 * 2 ** ((psnr - 32.0) / DB_PER_DOUBLING) * h * w / 8))
    lo, hi = -1, top + 1  # rungs known to miss / to meet (sentinels)
    weight = {lo: 1.0, hi: 1.0}  # the Illinois rule: halve the weight of an end that stays
    kept = None
    while True:
        q = quality(k)
        if q >= psnr:
            hi, moved = k, "hi"
        else:
            lo, moved = k, "lo"
        if hi - lo <= 1:
            break
        weight[k] = 1.0
        if kept == moved:  # the other end stayed twice in a row
            other = hi if moved == "lo" else lo
            weight[other] *= 0.5
        kept = moved
        ends = [(j, tried[j][0]) for j in (lo, hi) if j in tried and math.isfinite(tried[j][0])]
        if len(ends) == 2 and ends[1][1] > ends[0][1]:
            (j0, q0), (j1, q1) = ends
            r0, r1 = (q0 - psnr) * weight[j0], (q1 - psnr) * weight[j1]
            guess = j0 + r0 * (j1 - j0) / (r0 - r1)
        elif math.isfinite(q):
            guess = k + (psnr - q) / per_rung
        else:  # below the smallest file: double the budget
            guess = k + 1 / math.log2(BUDGET_RATIO)
        # a rung strictly inside the bracket, rounded towards the end just probed
        k = min(max(math.ceil(guess) if moved == "lo" else math.floor(guess), lo + 1), hi - 1)
    if hi > top:  # the target is out of reach: the largest budget's file
        quality(top)
        hi = top
    coded = tried[hi][1]
    if coded is None:
        raise BudgetTooSmall("no file of this image meets the target", None)
    return coded
