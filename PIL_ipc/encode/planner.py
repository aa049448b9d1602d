"""The planner: layout -> edge plane, source points, fitted values, payloads and sizes.

A *layout* is everything the search chooses (the option table's layout fields: the edge
threshold and the edge detector's settings, the spacing of source points along the edges, the
quantisation levels, the seed lattice, the edge seeds and, in colour, the chroma levels,
stride and the edges' source).  The planner computes what a layout needs once (denoised
images, gradients, edge planes, source points, coded planes; the per-layout ones for the
layouts used last) and answers the search's questions in sizes: the estimated and the coded
size of a layout's file, with its values fitted through the real inpainting operator and its
decoded error.  The file itself is built once, by :meth:`Planner.file`, at the end.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ..format import colour, container, sources, values
from ..solver import inpaint
from . import analysis, tonal
from .caches import Once, Recent
from .coding import (
    VALUES_CODING,
    code_plane,
    code_values,
    payload_estimate,
    quantise_toward,
    rounded_squared_error,
)
from .layout import Coded, Layout
from .tuning import CACHE_BYTES, ESTIMATE_SLACK, OFFSETS, RECENT, THRESHOLDS, TONAL_RATE_FACTOR

#: Bytes a chunk adds besides its data (length, type, CRC).
CHUNK_OVERHEAD = 12

class _Held:
    """A thread's inpainting memory, as its thread-local storage holds it (when the thread
    ends, a finaliser gives the memory back to the planner's spares)."""

    __slots__ = ("scratch", "__weakref__")

    def __init__(self, scratch: inpaint.Scratch):
        self.scratch = scratch


def _edge_key(layout: Layout) -> tuple:
    """The layout fields the edge plane depends on."""
    return (layout.threshold, layout.min_length, layout.hysteresis, layout.iterations,
            layout.edge_source)


class Planner:
    """Everything the search needs for one image, computed once per threshold or lattice."""

    def __init__(self, pixels: np.ndarray, contrast: float = 8.0, *, thin: bool = True,
                 smooth: dict[int, np.ndarray] | None = None,
                 chroma: np.ndarray | None = None, rgb: np.ndarray | None = None,
                 mode: str = "L", alpha: container.Alpha | None = None,
                 metadata: dict | None = None):
        """``smooth``: images already denoised, by number of Perona-Malik steps.  A colour
        image gives its luma as ``pixels`` (float), its chroma (2, H, W) and its RGB pixels
        (H, W, 3, uint8: what the decoded file is measured against); ``mode`` and ``alpha``
        (the coded ALPH chunk) are what the file carries, and ``metadata`` (IpcFile's
        icc_profile, exif, xmp and text) what it carries besides: their bytes count against
        a budget, and :meth:`file` adds them."""
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
        self._chroma_predictors = Recent(RECENT, CACHE_BYTES)
        self.contrast = contrast
        self._smooth = Once({(0, k): v for k, v in (smooth or {}).items()})
        self._smoothing = threading.Lock()
        self._gradient = Once()
        self.shape = pixels.shape
        self.thin = thin
        self.metadata = dict(metadata or {})
        # the edge planes (one byte a pixel each) within CACHE_BYTES: a quality target's
        # searches detect hundreds (0.3 GB at 1 Mpixel); their codings (the sizes ask for
        # them) are kept, a few kB each
        self._edges = Once(limit=CACHE_BYTES)
        self._edge_codes: dict[tuple, bytes] = {}
        # the per-layout arrays (a few MB each at 512 x 512, 30 MB at 12 Mpixel) are kept
        # for the layouts used last only, within CACHE_BYTES: a search probes hundreds, and
        # kept them all (0.8 GB at 0.8 bpp)
        self._points = Recent(RECENT, CACHE_BYTES)
        self._last_file: tuple[Coded, bytes] | None = None
        self._walks = Recent(RECENT, CACHE_BYTES)
        self._seed_bytes: dict[tuple, bytes] = {}
        # (the edge pixels' deviations only: an image of them was 8 bytes a pixel)
        self._deviation = Recent(RECENT, CACHE_BYTES)
        self._raw_payload: dict[tuple, int] = {}
        self._local = threading.local()  # each scoring thread's inpainting memory
        #: inpainting memory of threads that have ended, for the next ones (see _scratch)
        self._spare: list[inpaint.Scratch] = []
        h, w = self.shape
        empty = container.IpcFile(
            header=container.Header(width=w, height=h, mode=mode, levels=2, spacing=1,
                                    lattice=1, version=container.version_for(mode)),
            edge=b"", seed=None, values_count=0, values_coding=0, values_payload=b"",
            chroma=container.Chroma(2, 1, 0, 0, b"") if self.colour else None, alpha=alpha,
            **self.metadata)
        #: bytes of a file whose planes and payloads are empty (no SEED chunk): every field
        #: is fixed-width, so a file is this plus its planes, a SEED chunk and its payloads
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
        key = _edge_key(layout)

        def make() -> tuple[np.ndarray, bytes]:
            if math.isinf(layout.threshold):
                plane = np.zeros(self.shape, dtype=bool)
            else:
                plane = analysis.detect(self.gradient(layout.iterations, layout.edge_source),
                                     layout.threshold,
                                     self.thin, layout.hysteresis, layout.min_length)
            code = self._edge_codes.get(key)
            if code is None:
                code = self._edge_codes[key] = code_plane(plane)
            return plane, code

        return self._edges.get(key, make)

    def edge_code(self, layout: Layout) -> bytes:
        """The coded edge plane of a layout (edge(layout)[1]; the plane is detected again
        only when neither it nor its coding is kept)."""
        code = self._edge_codes.get(_edge_key(layout))
        return self.edge(layout)[1] if code is None else code

    def points(self, layout: Layout) -> tuple[sources.SourcePoints, np.ndarray | None]:
        """Stored pixels of a layout, and its seed plane (None: no SEED chunk): the edge
        seeds, or one centre point when nothing else would be stored (the PDE needs one)."""
        key = (*_edge_key(layout), layout.spacing, layout.lattice, layout.edge_seeds)
        found = self._points.get(key)
        if found is None:
            plane = self.edge(layout)[0]
            seed = None
            if not math.isinf(layout.edge_seeds):
                at, deviation = self._edge_deviations(layout)
                seed = np.zeros(plane.size, dtype=bool)
                seed[at[deviation > layout.edge_seeds]] = True
                seed = seed.reshape(plane.shape)
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
        at, deviation = self._edge_deviations(layout)
        out = np.zeros(self.pixels.size)
        out[at] = deviation
        return out.reshape(self.shape)

    def _edge_deviations(self, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
        """(flat indices of the edge pixels, their edge_deviation)."""
        key = _edge_key(layout)
        found = self._deviation.get(key)
        if found is None:
            plane = self.edge(layout)[0]
            at = np.flatnonzero(plane)
            found = self._deviation.put(
                key, (at, analysis.edge_deviation(self.pixels, plane).ravel()[at]))
        return found

    def release(self, analysis: bool = False) -> None:
        """Drop what the per-layout caches hold and this thread's inpainting memory (the
        sizes found stay): a planner whose search is over, while a larger one works;
        ``analysis``: the denoised images and their gradients too (made again if asked
        for)."""
        for cache in (self._points, self._walks, self._deviation, self._chroma_predictors):
            cache.clear()
        self._edges.clear()
        if analysis:
            self._smooth.clear()
            self._gradient.clear()
        self._local = threading.local()  # (this thread's memory goes to the spares)
        self._spare.clear()

    def file(self, coded: Coded, metadata: bool = True) -> bytes:
        """The complete file of a coded layout, with the metadata (``metadata``) or without
        it (the same pixels).  The last file made with its metadata is kept, and given
        again for the same ``coded`` (without its layout's planes: see release)."""
        if metadata and self._last_file is not None and self._last_file[0] is coded:
            return self._last_file[1]
        layout = coded.layout
        pts, _ = self.points(layout)
        h, w = self.shape
        payload, chroma_payload = (coded.payloads + (b"",))[:2]
        chroma = None
        if self.colour:
            chroma = container.Chroma(
                layout.chroma_levels, layout.chroma_stride, VALUES_CODING,
                colour.chroma_count(pts.count, layout.chroma_stride), chroma_payload)
        version = container.SIDE_VERSION if coded.sides else container.version_for(self.mode)
        f = container.IpcFile(
            header=container.Header(width=w, height=h, mode=self.mode, levels=layout.levels,
                                    spacing=layout.spacing, lattice=layout.lattice,
                                    version=version),
            edge=self.edge_code(layout),
            seed=self.seed_bytes(layout),
            values_count=pts.count, values_coding=VALUES_CODING, values_payload=payload,
            chroma=chroma, alpha=self.alpha, sides=coded.sides,
            **(self.metadata if metadata else {}))
        data = container.build(f)
        if metadata:
            self._last_file = (coded, data)
        return data

    def frame_size(self, layout: Layout) -> int:
        """Bytes of a layout's file besides the values payloads."""
        seed = self.seed_bytes(layout)
        return self.overhead + len(self.edge_code(layout)) + \
            (0 if seed is None else CHUNK_OVERHEAD + len(seed))

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
        size = self.overhead + len(self.edge_code(layout))
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
        return tonal.Fitter(self.pixels, pts.known_mask(), pts.band, pts.positions, tol, steps,
                            self._scratch())

    def _scratch(self) -> inpaint.Scratch:
        """This thread's inpainting memory: a spare one, or a new one.  When the thread ends
        it goes back to the spares: each search scores on threads of its own, and the next
        search's threads take it over instead of making their own (a quality target runs
        several searches: at 1 Mpixel a thread's memory is about 190 MB)."""
        held = getattr(self._local, "held", None)
        if held is None:
            try:
                scratch = self._spare.pop()
            except IndexError:
                scratch = inpaint.Scratch(self.shape)
            held = self._local.held = _Held(scratch)
            weakref.finalize(held, self._spare.append, scratch)
        return held.scratch

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

    def code(self, layout: Layout, x: np.ndarray, budget: int | None
             ) -> tuple[tuple[bytes, ...] | None, int, np.ndarray]:
        """Values ``x`` of a layout quantised with the largest rounding offset whose file fits
        ``budget``, and coded: (the payloads, the file's size, the level indices); None and 0
        for the first two when none fits."""
        frame = self.frame_size(layout)
        for offset in OFFSETS:
            streams = self._quantised(layout, x, offset)
            k = np.concatenate([s[0] for s in streams])
            if budget is not None and offset != OFFSETS[-1] and \
                    sum(payload_estimate(*s) for s in streams) \
                    > ESTIMATE_SLACK * (budget - frame) + CHUNK_OVERHEAD:
                continue  # clearly over: not worth coding
            payloads = tuple(code_values(*s) for s in streams)
            size = frame + sum(map(len, payloads))
            if budget is None or size <= budget:
                return payloads, size, k
        return None, 0, k

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
                 chroma_iterations: int | None = None,
                 on_step: Callable[[], None] | None = None) -> Coded | None:
        """Fit values with ``iterations`` tonal steps, code to the budget and (``measure``)
        the decoded error: mean squared, with the rounding the decoder applies.  Solves are
        certified to ``tol`` grey levels; the fit's solves take ``steps`` solver steps instead
        when given (it needs descent directions, not digits), and so does the measurement
        when ``rough`` (an uncertified estimate, for ranking).  ``near``: a fitted similar
        layout, whose values start the fit (see warm_start).  ``fallback``: when the fitted
        values code over the budget (each step makes them dearer), take those of the last
        step that fit instead.  ``chroma_iterations``: tonal steps of the chroma channels
        (None: ``iterations``).  ``on_step()`` is called after each tonal step of each
        channel (for progress)."""
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
                x_c, image_c = fit.fit(steps_c, start, tr, on_step)
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
        payloads, size, k = self.code(layout, x, budget)
        while payloads is None and trail:
            # (the measurement below still starts from the last step's image: only a guess)
            x = trail.pop()
            payloads, size, k = self.code(layout, x, budget)
        if payloads is None:
            return None
        if not measure:
            return Coded(layout, payloads, size, math.nan, x)
        # quantising moves the image little: start the solver from the unquantised one
        for fit in fits:
            fit.steps = steps if rough else None
        mse = self._decoded_mse(layout, fits, k, images)
        return Coded(layout, payloads, size, mse, x, self.growth(layout, x))

    def _decoded_mse(self, layout: Layout, fits: list[tonal.Fitter], k: np.ndarray,
                     guesses: list[np.ndarray]) -> float:
        """Mean squared error (over all samples: grey, or R, G and B) of the image decoded
        from level indices ``k``, with the decoder's rounding."""
        parts = self.split(layout, k)
        levels = [layout.levels] + [layout.chroma_levels] * (len(parts) - 1)
        u = [fit.render(values.dequantise(kc, lv), guess=g)
             for fit, kc, lv, g in zip(fits, parts, levels, guesses, strict=True)]
        if not self.colour:
            return rounded_squared_error(u[0].ravel(), np.ravel(self.pixels)) / u[0].size
        return colour.rounded_rgb_error(u, self.rgb) / self.rgb.size

    def remeasure(self, coded: Coded, budget: int | None, steps: int | None) -> Coded:
        """``coded`` with its decoded error measured again with ``steps`` solver steps
        (None: certified), so that it compares with layouts fitted and measured so."""
        _, _, k = self.code(coded.layout, coded.values, budget)  # the quantisation of its file
        fits = self.fitters(coded.layout, steps=steps)
        return replace(coded, mse=self._decoded_mse(coded.layout, fits, k, self.channels))

    def growth(self, layout: Layout, x: np.ndarray) -> float:
        """Coded.growth of values ``x`` of a layout (both payloads estimated alike)."""
        size = sum(payload_estimate(*s) for s in self._quantised(layout, x, 0.0))
        return size / max(self.raw_payload(layout), 1)


