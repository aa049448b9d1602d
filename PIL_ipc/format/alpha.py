"""Lossless coding of an alpha plane (format section 4.11, the ALPH chunk).

Two codings: an alpha of only 0 and 255 is a bi-level plane (1 = opaque) coded with T.82 like the
edge plane; any other alpha is predicted pixel by pixel with the median edge detector of
LOCO-I (left, upper, upper-left neighbours, 0 outside the image) and the residuals modulo 256
are deflated with zlib.
"""

from __future__ import annotations

import zlib

import numpy as np

from .._kernel_cache import kernel
from ..errors import FormatError
from . import jbig
from .values import med

BILEVEL = 0
GRADED = 1
CODINGS = (BILEVEL, GRADED)


class AlphaError(FormatError):
    """The ALPH chunk does not decode to an alpha plane of the header's size."""


class AlphaSizeError(AlphaError):
    """The bi-level alpha plane's BIE declares, or decodes to, a size the header does not
    allow: the file contradicts itself (an error even where a damaged ALPH is tolerated)."""


@kernel()
def _prediction(plane: np.ndarray, y: int, x: int) -> int:
    """The median edge detector of the left, upper and upper-left samples (0 outside)."""
    a = int(plane[y, x - 1]) if x > 0 else 0
    b = int(plane[y - 1, x]) if y > 0 else 0
    c = int(plane[y - 1, x - 1]) if x > 0 and y > 0 else 0
    return med(a, b, c)


@kernel()
def _residuals(alpha: np.ndarray, out: np.ndarray) -> None:
    h, w = alpha.shape
    for y in range(h):
        for x in range(w):
            out[y, x] = (int(alpha[y, x]) - _prediction(alpha, y, x)) & 255


@kernel()
def _unpredict(res: np.ndarray, out: np.ndarray) -> None:
    h, w = res.shape
    for y in range(h):
        for x in range(w):
            out[y, x] = (int(res[y, x]) + _prediction(out, y, x)) & 255


def encode(alpha: np.ndarray) -> tuple[int, bytes]:
    """(coding, payload) of a uint8 (H, W) alpha plane: bi-level when it only holds 0 and
    255, else graded."""
    a = np.ascontiguousarray(alpha, dtype=np.uint8)
    if a.ndim != 2:
        raise ValueError("alpha must be 2-D")
    if np.all((a == 0) | (a == 255)):
        return BILEVEL, jbig.encode(a == 255)
    res = np.empty_like(a)
    _residuals(a, res)
    return GRADED, zlib.compress(res.tobytes(), 9)


def decode(coding: int, payload: bytes, shape: tuple[int, int], *,
           max_pixels: int | None = None) -> np.ndarray:
    """The uint8 alpha plane of ``shape``; AlphaError if the payload does not give one."""
    h, w = shape
    if coding == BILEVEL:
        try:
            info = jbig.read_header(payload)
            if not jbig.size_allowed(info, w, h):
                raise AlphaSizeError(f"alpha plane is {info.width}x{info.height}, header says "
                                     f"{w}x{h}")
            plane = jbig.decode(payload, max_pixels=max_pixels if max_pixels else h * w)
        except jbig.JBIGSizeError as exc:
            raise AlphaSizeError(f"alpha plane: {exc}") from exc
        except jbig.JBIGError as exc:
            raise AlphaError(f"alpha plane: {exc}") from exc
        if plane.shape != (h, w):
            raise AlphaSizeError(f"alpha plane decodes to {plane.shape[1]}x{plane.shape[0]}, "
                                 f"header says {w}x{h}")
        return np.where(plane, 255, 0).astype(np.uint8)
    if coding == GRADED:
        z = zlib.decompressobj()
        try:
            # never inflate more than the plane holds (plus one byte to notice an excess)
            raw = z.decompress(payload, h * w + 1)
        except zlib.error as exc:
            raise AlphaError(f"alpha residuals: {exc}") from None
        if len(raw) != h * w or not z.eof:
            raise AlphaError(f"alpha residuals hold {len(raw)}{'+' if len(raw) > h * w else ''} "
                             f"bytes, the image has {h * w} pixels (or the stream is cut)")
        out = np.empty((h, w), dtype=np.uint8)
        _unpredict(np.frombuffer(raw, dtype=np.uint8).reshape(h, w), out)
        return out
    raise AlphaError(f"unknown alpha coding {coding}")
