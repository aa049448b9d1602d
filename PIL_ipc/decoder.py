"""Decoder: container fields -> grey image.

decode edge and seed planes (T.82) -> locate source points (with the header's seed lattice)
-> decode their values -> inpaint (PDE).
Every size the file declares is checked against the header and the pixel limit before anything
is allocated from it; every failure is a :class:`~PIL_ipc.container.FormatError` (a ValueError).
"""

from __future__ import annotations

import logging

import numpy as np

from . import _kernel_cache, container, inpaint, jbig, sources, values

#: Certified solver accuracy of a decode (grey levels): below 0.5, every output pixel is within
#: 1 of the rounded exact solution (spec section 9), and away from half-integers equal to it.
DECODE_TOL = 0.25

log = logging.getLogger("PIL_ipc")


class DecodeError(container.FormatError):
    """The file is structurally valid but its coded planes or values are not."""


def _decode_plane(name: str, bie: bytes, header: container.Header, lenient: bool) -> np.ndarray:
    shape = (header.height, header.width)
    try:
        info = jbig.read_header(bie)
        if (info.width, info.height) != (header.width, header.height):
            raise DecodeError(
                f"{name} plane is {info.width}x{info.height}, header says "
                f"{header.width}x{header.height}")
        plane = jbig.decode(bie, max_pixels=header.width * header.height)
    except jbig.JBIGError as exc:
        if lenient:
            return np.zeros(shape, dtype=bool)
        raise DecodeError(f"{name} plane: {exc}") from exc
    if plane.shape != shape:
        raise DecodeError(f"{name} plane decodes to {plane.shape[::-1]}, expected {shape[::-1]}")
    return plane


def reconstruct(points: sources.SourcePoints, indices: np.ndarray, levels: int, *,
                method: str = "fast") -> np.ndarray:
    """Inpaint from stored level indices at ``points``; returns the real-valued image u.

    A solve that reaches its iteration cap (hostile masks) keeps its best iterate and logs
    its certified error instead of warning: the file is still decoded, in bounded time."""
    known = points.known_mask()
    data = np.zeros(points.shape[0] * points.shape[1], dtype=np.float64)
    data[points.positions] = values.dequantise(indices, levels)
    op = inpaint.Inpainter(known, points.band)
    u = op.solve_field(data.reshape(points.shape), DECODE_TOL, method, warn=False)
    if not op.last_error <= DECODE_TOL:
        log.info("decode: solver cap reached, error bound %.3g grey levels (wanted %g)",
                 op.last_error, DECODE_TOL)
    return u


def decode_fields(f: container.IpcFile, *, lenient: bool = False,
                  max_pixels: int | None = None) -> np.ndarray:
    """Decode a parsed file to a uint8 array of shape (height, width)."""
    h = f.header
    if max_pixels is not None and h.width * h.height > max_pixels:
        raise DecodeError(
            f"image of {h.width}x{h.height} pixels exceeds the limit of {max_pixels} pixels")
    edges = _decode_plane("edge", f.edge, h, lenient)
    seed = _decode_plane("seed", f.seed, h, lenient) if f.seed else None
    points = sources.locate(edges, h.spacing, seed, h.lattice)
    if f.values_count != points.count:
        if not lenient:
            raise DecodeError(f"VALS declares {f.values_count} values, the planes give "
                              f"{points.count}")
    try:
        indices = values.decode(f.values_payload, points.predictors, h.levels,
                                coding=f.values_coding, lenient=lenient)
    except values.ValueCodingError as exc:
        raise DecodeError(str(exc)) from exc
    if points.count == 0:
        if not lenient:
            raise DecodeError("no stored pixels: the image is undefined")
        return np.full((h.height, h.width), 128, dtype=np.uint8)
    return inpaint.to_uint8(reconstruct(points, indices, h.levels))


@_kernel_cache.compiles("decode")
def decode(data: bytes, *, lenient: bool = False, max_pixels: int | None = None) -> np.ndarray:
    """Decode a complete .ipc file to a uint8 array of shape (height, width)."""
    return decode_fields(container.parse(bytes(data), lenient=lenient), lenient=lenient,
                         max_pixels=max_pixels)
