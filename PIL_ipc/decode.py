"""Decoder: container fields -> image (L, LA, RGB or RGBA).

decode edge and seed planes (T.82) -> locate source points (with the header's seed lattice)
-> decode their values, per channel (luma, then chroma) -> inpaint every channel with one
operator (PDE) -> inverse colour transform -> alpha plane.
Every size the file declares is checked against the header and the pixel limit before anything
is allocated from it; every failure is a :class:`~PIL_ipc.errors.FormatError` (an IpcError,
a ValueError).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator

import numpy as np

from . import _kernel_cache
from .format import alpha, colour, container, jbig, reader, sides, sources, values
from .solver import inpaint

#: Certified solver accuracy of a decode (grey levels): below 0.5, every output pixel is within
#: 1 of the rounded exact solution (spec section 9), and away from half-integers equal to it.
DECODE_TOL = 0.25

log = logging.getLogger("PIL_ipc")

#: Certified accuracy of every R, G, B sample of a colour decode (< 0.5: spec section 9).
COLOUR_SAMPLE_TOL = 0.42
#: Certified solver accuracy of luma in a colour decode.  The chroma channels get what luma
#: leaves of COLOUR_SAMPLE_TOL through the inverse transform (_chroma_tolerances): at least
#: 0.15 each (R = Y + 1.402 Cr', G = Y - 0.344 Cb' - 0.714 Cr', B = Y + 1.772 Cb'), more
#: where luma's certified error came out below its tolerance.
COLOUR_DECODE_TOL = 0.15

#: Largest image (pixels) whose solver memory (solver.inpaint, "Costs") a decode hands back
#: for the next decode of the same size, in whichever thread it runs: a fresh one costs a
#: page fault per 4 KiB on first touch (a 512 x 512 decode in a new thread of a pool took
#: as long as four in a thread that had decoded before).
KEEP_SCRATCH_PIXELS = 1 << 19
#: ... and how many such memories the process keeps at most (one per core: decodes running
#: at the same time each need their own), the least recently returned dropped first.
KEEP_SCRATCH = min(os.cpu_count() or 1, 4)
_kept: list[inpaint.Scratch] = []
_pool_lock = threading.Lock()  # guards _kept and _solving
#: Decodes of this process solving now: a decode takes a second thread (OVERLAP_PIXELS,
#: CHANNEL_THREADS) only while fewer run than there are cores, so that decodes run side by
#: side in a caller's threads do not fight for the cores.
_solving = [0]

#: Threads that solve the chroma channels of a colour decode at the same time (1: one after
#: another); each holds its own solver vectors (solver.inpaint, "Costs").
CHANNEL_THREADS = 2 if (os.cpu_count() or 1) > 1 else 1
#: ... on images of at most this many pixels: above it the second thread's vectors would
#: cost more memory than the time it saves is worth, so larger colour images solve their
#: chroma one channel after the other.
CHANNEL_THREAD_PIXELS = 1 << 22

#: Images of at least this many pixels build the solver's two phases in two threads
#: (Inpainter's ``overlap``: about a tenth of a 512 x 512 decode on two free cores); on
#: smaller ones a thread costs more than it saves.
OVERLAP_PIXELS = 1 << 16

#: Reduced decodes: 1/2, 1/4 and 1/8 of the size (level 0: the full image).
REDUCE_LEVELS = (0, 1, 2, 3)


class DecodeError(container.FormatError):
    """The file is structurally valid but its coded planes or values are not."""


def _decode_plane(name: str, bie: bytes, header: container.Header, lenient: bool) -> np.ndarray:
    shape = (header.height, header.width)
    try:
        info = jbig.read_header(bie)
        if not jbig.size_allowed(info, header.width, header.height):
            raise DecodeError(
                f"{name} plane is {info.width}x{info.height}, header says "
                f"{header.width}x{header.height}")
        plane = jbig.decode(bie, max_pixels=header.width * header.height)
    except jbig.JBIGSizeError as exc:  # the file contradicts itself: an error in any mode
        raise DecodeError(f"{name} plane: {exc}") from exc
    except jbig.JBIGError as exc:
        if lenient:
            return np.zeros(shape, dtype=bool)
        raise DecodeError(f"{name} plane: {exc}") from exc
    if plane.shape != shape:
        raise DecodeError(f"{name} plane decodes to {plane.shape[::-1]}, expected {shape[::-1]}")
    return plane


def reconstruct(points: sources.SourcePoints, indices: np.ndarray, levels: int, *,
                method: str = "fast") -> np.ndarray:
    """Inpaint from stored level indices at ``points``; returns the real-valued image u."""
    return reconstruct_channels(points, [values.dequantise(indices, levels)], DECODE_TOL,
                                method=method)[0]


def _chroma_tolerances(luma_error: float) -> list[float]:
    """Tolerances of Cb and Cr that keep every R, G, B sample within COLOUR_SAMPLE_TOL of its
    exact value, given luma's certified error (at most COLOUR_DECODE_TOL)."""
    room = COLOUR_SAMPLE_TOL - min(luma_error, COLOUR_DECODE_TOL)
    (_, _, r_cr), (_, g_cb, g_cr), (_, b_cb, _) = np.abs(colour.INVERSE)
    tol_cb = room / b_cb
    tol_cr = min(room / r_cr, (room - g_cb * tol_cb) / g_cr)
    return [float(tol_cb), float(tol_cr)]


@contextlib.contextmanager
def _scratch(shape: tuple[int, int]) -> Iterator[inpaint.Scratch]:
    """Solver memory for an image of ``shape``: a kept one of that size if there is one free
    (see KEEP_SCRATCH_PIXELS), handed back when the block ends."""
    if shape[0] * shape[1] > KEEP_SCRATCH_PIXELS:
        yield inpaint.Scratch(shape)
        return
    with _pool_lock:
        i = next((i for i, s in enumerate(_kept) if s.shape == tuple(shape)), None)
        scratch = _kept.pop(i) if i is not None else None
    if scratch is None:
        scratch = inpaint.Scratch(shape)
    try:
        yield scratch
    finally:
        with _pool_lock:
            _kept.append(scratch)
            del _kept[:-KEEP_SCRATCH]


@contextlib.contextmanager
def _solving_now() -> Iterator[int]:
    """Counts this decode among those solving (see _solving) while the block runs; gives how
    many others were solving when it began."""
    with _pool_lock:
        others = _solving[0]
        _solving[0] += 1
    try:
        yield others
    finally:
        with _pool_lock:
            _solving[0] -= 1


def reconstruct_channels(points: sources.SourcePoints, channel_values: list[np.ndarray],
                         tol: float, *, method: str = "fast", reduce: int = 0,
                         later_tol: Callable[[float], list[float]] | None = None,
                         lattice: int = 0,
                         derived: EdgeSides | None = None) -> list[np.ndarray]:
    """Inpaint every channel from its values at ``points`` with one operator (section 8:
    the geometry, and so the solver's set-up, is the same for all channels), each to ``tol``,
    or the first to ``tol`` and the others to ``later_tol(certified error of the first)``.

    A solve that reaches its iteration cap (hostile masks) keeps its best iterate and logs
    its certified error instead of warning: the file is still decoded, in bounded time.
    ``reduce`` = k > 0: each channel at 1 / 2^k of the size (ceil), solved on a coarse level
    of the solver's multigrid hierarchy (Inpainter.solve_reduced).  ``lattice``: the step
    of the header's seed lattice (its pixels are all source points: a hint for the solver's
    error certificate).  ``derived``: the edge pixels that take a side (section 8.1), data of
    the Laplace phase made from the band phase's solution."""
    pixels = points.shape[0] * points.shape[1]
    with _scratch(points.shape) as scratch, _solving_now() as others:
        spare = CHANNEL_THREADS > 1 and others + 1 < (os.cpu_count() or 1)
        known = points.known_mask()
        if derived is not None:
            known.ravel()[derived.taken()] = True
        op = inpaint.Inpainter(known, points.band, scratch,
                               lattice=lattice, overlap=spare and pixels >= OVERLAP_PIXELS,
                               certify=not reduce,
                               derive=None if derived is None else derived.apply)
        if pixels > KEEP_SCRATCH_PIXELS:  # (no other Inpainter is built on this memory)
            scratch.drop_numbering()
        fields = []
        for v in channel_values:
            data = np.zeros(points.shape[0] * points.shape[1], dtype=np.float64)
            data[points.positions] = v
            fields.append(data.reshape(points.shape))
        # start from the channel's mean stored value rather than 0: the first residual is
        # then the spread of the values, not their level (for chroma, centred on 128, a step
        # fewer)
        starts = [float(np.mean(v)) if len(v) else None for v in channel_values]
        if reduce:
            return [op.reduced_field(u, reduce, tol, s)
                    for u, s in zip(fields, starts, strict=True)]
        tols = [tol] * len(fields)
        op.solve_field(fields[0], tol, method, warn=False, start=starts[0])
        errors = [op.last_error]
        if later_tol is not None:
            tols[1:] = later_tol(errors[0])
        threaded = points.shape[0] * points.shape[1] <= CHANNEL_THREAD_PIXELS
        if len(fields) > 1 and method == "fast" and spare and threaded:
            # the other channels at once, each in a thread of its own (the kernels release
            # the GIL): a colour decode then takes little longer than a grey one on two cores
            errors += op.solve_fields(fields[1:], tols[1:], starts[1:], CHANNEL_THREADS)
        else:
            for u, t, s in zip(fields[1:], tols[1:], starts[1:], strict=True):
                op.solve_field(u, t, method, warn=False, start=s)
                errors.append(op.last_error)
        for e, t in zip(errors, tols, strict=True):
            if not e <= t:
                log.info("decode: solver cap reached, error bound %.3g grey levels (wanted %g)",
                         e, t)
        return fields


class EdgeSides:
    """The eligible edge pixels of a file (section 8.1), their candidates and choices."""

    def __init__(self, positions: np.ndarray, candidates: np.ndarray, choices: np.ndarray):
        self.positions, self.candidates, self.choices = positions, candidates, choices

    def taken(self) -> np.ndarray:
        """Flat indices of the pixels that take a side (data of the Laplace phase)."""
        return self.positions[self.choices != sides.MEAN]

    def apply(self, u: np.ndarray) -> None:
        """Write the sides' values into the flat field u after the band phase."""
        sides.derive(u, self.positions, self.candidates, self.choices)


def edge_sides(f: container.IpcFile, edges: np.ndarray, points: sources.SourcePoints,
               lenient: bool) -> EdgeSides | None:
    """The SIDE chunk's choices (None without one); its count must match the eligible pixels
    the planes give."""
    if f.sides is None:
        return None
    positions, candidates = sides.eligible(edges, points.known_mask(), points.band)
    if f.sides.count != len(positions):
        if not lenient:
            raise DecodeError(f"SIDE declares {f.sides.count} eligible edge pixels, the planes "
                              f"give {len(positions)}")
        return None
    choices = sides.decode(f.sides.payload, positions, edges.shape)
    return EdgeSides(positions, candidates, choices)


def _decode_values(payload: bytes, predictors: np.ndarray, levels: int, coding: int,
                   lenient: bool) -> np.ndarray:
    try:
        return values.decode(payload, predictors, levels, coding=coding, lenient=lenient)
    except values.ValueCodingError as exc:
        raise DecodeError(str(exc)) from exc


def _chroma_values(f: container.IpcFile, points: sources.SourcePoints,
                   lenient: bool) -> list[np.ndarray]:
    """Cb and Cr at every source point (section 7.1); neutral (128) where a truncated file
    lost them."""
    c = f.chroma
    n = points.count
    if c is None:  # only in lenient mode (reader.parse checks it otherwise)
        return [np.full(n, 128.0), np.full(n, 128.0)]
    m = colour.chroma_count(n, c.stride)
    if c.count != m and not lenient:
        raise DecodeError(f"CVAL declares {c.count} values per channel, the planes and stride "
                          f"{c.stride} give {m}")
    predictors = colour.stacked_predictors(colour.chroma_predictors(points.predictors,
                                                                    c.stride), 2)
    k = values.dequantise(_decode_values(c.payload, predictors, c.levels, c.coding, lenient),
                          c.levels)
    index = colour.chroma_index(n, c.stride)
    return [k[:m][index], k[m:][index]]


def _alpha(f: container.IpcFile, lenient: bool) -> np.ndarray:
    h = f.header
    if f.alpha is None:  # only in lenient mode: opaque
        return np.full((h.height, h.width), 255, dtype=np.uint8)
    try:
        return alpha.decode(f.alpha.coding, f.alpha.payload, (h.height, h.width))
    except alpha.AlphaError as exc:
        if lenient and not isinstance(exc, alpha.AlphaSizeError):
            return np.full((h.height, h.width), 255, dtype=np.uint8)
        raise DecodeError(str(exc)) from exc


def decode_fields(f: container.IpcFile, *, lenient: bool = False,
                  max_pixels: int | None = None, reduce: int = 0) -> np.ndarray:
    """Decode a parsed file to a uint8 array: (height, width) for L, (height, width, bands)
    for LA, RGB and RGBA.  ``reduce`` = k (0..3): of height and width ceil(size / 2^k),
    each pixel approximating the mean of its 2^k x 2^k block of the full decode."""
    if reduce not in REDUCE_LEVELS:
        raise ValueError(f"reduce must be one of {REDUCE_LEVELS}, not {reduce!r}")
    h = f.header
    if max_pixels is not None and h.width * h.height > max_pixels:
        raise DecodeError(
            f"image of {h.width}x{h.height} pixels exceeds the limit of {max_pixels} pixels")
    edges, points, luma = _stored(f, lenient)
    colour_mode = h.mode in container.COLOUR_MODES
    channel_values = [luma]
    if colour_mode:
        channel_values += _chroma_values(f, points, lenient)
    if points.count == 0:
        if not lenient:
            raise DecodeError("no stored pixels: the image is undefined")
        s = 1 << reduce
        solved = [np.full((-(-h.height // s), -(-h.width // s)), 128.0) for _ in channel_values]
    else:
        solved = reconstruct_channels(points, channel_values,
                                      COLOUR_DECODE_TOL if colour_mode else DECODE_TOL,
                                      reduce=reduce,
                                      later_tol=_chroma_tolerances if colour_mode else None,
                                      lattice=h.lattice,
                                      derived=edge_sides(f, edges, points, lenient))
    out = colour.rounded_rgb(solved) if colour_mode else inpaint.to_uint8(solved[0])
    if h.mode in container.ALPHA_MODES:
        a = _alpha(f, lenient)
        if reduce:
            a = inpaint.to_uint8(inpaint.block_means(a, reduce))
        out = np.dstack([out, a])
    return out


def _stored(f: container.IpcFile, lenient: bool
            ) -> tuple[np.ndarray, sources.SourcePoints, np.ndarray]:
    """(edge plane, source points, grey or luma values at them) of a parsed file."""
    h = f.header
    edges = _decode_plane("edge", f.edge, h, lenient)
    seed = _decode_plane("seed", f.seed, h, lenient) if f.seed else None
    points = sources.locate(edges, h.spacing, seed, h.lattice)
    if f.values_count != points.count:
        if not lenient:
            raise DecodeError(f"VALS declares {f.values_count} values, the planes give "
                              f"{points.count}")
    indices = _decode_values(f.values_payload, points.predictors, h.levels, f.values_coding,
                             lenient)
    return edges, points, values.dequantise(indices, h.levels)


def grey_solution(f: container.IpcFile) -> tuple[np.ndarray, sources.SourcePoints, np.ndarray]:
    """(edge plane, source points, the solution u, float64 H x W before rounding) of a parsed
    grey file (L or LA, its SIDE chunk applied): what an encoder choosing edge sides needs."""
    if f.header.mode not in container.SIDE_MODES:
        raise ValueError(f"not a grey file: {f.header.mode}")
    edges, points, luma = _stored(f, False)
    if points.count == 0:
        raise DecodeError("no stored pixels: the image is undefined")
    u = reconstruct_channels(points, [luma], DECODE_TOL, lattice=f.header.lattice,
                             derived=edge_sides(f, edges, points, False))[0]
    return edges, points, u


@_kernel_cache.compiles("decode")
def decode(data: bytes, *, lenient: bool = False, max_pixels: int | None = None,
           reduce: int = 0) -> np.ndarray:
    """Decode a complete .ipc file to a uint8 array (see decode_fields)."""
    return decode_fields(reader.parse(bytes(data), lenient=lenient), lenient=lenient,
                         max_pixels=max_pixels, reduce=reduce)
