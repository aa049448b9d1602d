"""Colour: the YCbCr transform and the chroma sampling of the source points (format section 7.1).

Colour images (format version 4) store the values of one set of source points three times:
luma Y, then the chroma Cb and Cr, each a grey-like channel in 0..255 inpainted by the same
operator.  The transform is the full-range one of JPEG/JFIF (ITU-R BT.601 weights); the encoder
applies it to the pixels, the decoder inverts it on the real-valued inpainted channels and only
then rounds, so chroma and luma errors are not rounded twice.

Chroma may be sampled more sparsely than luma: with a chroma *stride* s, a chroma value is stored
for every s-th source point (in value-list order) and serves the s points from it on.  Those are
neighbours along an edge's band (or along a lattice row), where the chroma of a photo changes
slowly.  The value list of a chroma channel then has ceil(N / s) values, predicted by the
predictors of the points that carry them, mapped to chroma indices (j -> j div s).
"""

from __future__ import annotations

import math

import numpy as np

from .._kernel_cache import kernel

#: Rows: Y, Cb, Cr as weights of R, G, B (JFIF); Cb and Cr are offset by 128.
FORWARD = np.array([[0.299, 0.587, 0.114],
                    [-0.168736, -0.331264, 0.5],
                    [0.5, -0.418688, -0.081312]])
#: Rows: R, G, B as weights of Y, Cb - 128, Cr - 128.
INVERSE = np.array([[1.0, 0.0, 1.402],
                    [1.0, -0.344136, -0.714136],
                    [1.0, 1.772, 0.0]])
OFFSET = np.array([0.0, 128.0, 128.0])


def to_ycbcr(rgb: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """(3, H, W) Y, Cb, Cr of an (H, W, 3) RGB image, float64 or (``dtype`` float32: a
    channel at a time, at half the memory, within 1e-5 grey levels) float32."""
    if np.dtype(dtype) == np.float32:
        f = np.asarray(rgb)
        if f.ndim != 3 or f.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) array, got {f.shape}")
        out = np.empty((3, *f.shape[:2]), dtype=np.float32)
        bands = [f[:, :, k].astype(np.float32) for k in range(3)]
        for c in range(3):
            np.multiply(bands[0], np.float32(FORWARD[c, 0]), out=out[c])
            out[c] += np.float32(FORWARD[c, 1]) * bands[1]
            out[c] += np.float32(FORWARD[c, 2]) * bands[2]
            out[c] += np.float32(OFFSET[c])
        return out
    f = np.asarray(rgb, dtype=np.float64)
    if f.ndim != 3 or f.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got {f.shape}")
    return np.einsum("ck,hwk->chw", FORWARD, f) + OFFSET[:, None, None]


def to_rgb(ycc: np.ndarray) -> np.ndarray:
    """(H, W, 3) float64 R, G, B of real-valued (3, H, W) Y, Cb, Cr (not rounded)."""
    f = np.asarray(ycc, dtype=np.float64)
    if f.ndim != 3 or f.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) array, got {f.shape}")
    return np.einsum("kc,chw->hwk", INVERSE, f - OFFSET[:, None, None])


@kernel(inline="always")
def _rounded_sample(y: float, b: float, r: float, inverse: np.ndarray, c: int) -> float:
    """Band ``c`` of the decoder's output pixel of Y, Cb - 128, Cr - 128: clamp(floor(v +
    0.5), 0, 255), NaN giving 0."""
    v = y + inverse[c, 1] * b + inverse[c, 2] * r
    if not v >= 0.0:  # also NaN
        v = 0.0
    return min(math.floor(v + 0.5), 255.0)


@kernel()
def _rounded_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, inverse: np.ndarray,
                 out: np.ndarray) -> None:
    h, w = y.shape
    for i in range(h):
        for j in range(w):
            for c in range(3):
                out[i, j, c] = _rounded_sample(y[i, j], cb[i, j] - 128.0, cr[i, j] - 128.0,
                                               inverse, c)


@kernel()
def _rounded_rgb_error(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, inverse: np.ndarray,
                       rgb: np.ndarray) -> float:
    h, w = y.shape
    total = 0.0
    for i in range(h):
        for j in range(w):
            for c in range(3):
                d = _rounded_sample(y[i, j], cb[i, j] - 128.0, cr[i, j] - 128.0, inverse,
                                    c) - rgb[i, j, c]
                total += d * d
    return total


def _channels(ycc: np.ndarray | list[np.ndarray]) -> tuple[np.ndarray, ...]:
    y, cb, cr = (np.ascontiguousarray(c, dtype=np.float64) for c in ycc)
    if not y.shape == cb.shape == cr.shape or y.ndim != 2:
        raise ValueError("rounded_rgb needs three channels of one 2-D shape")
    return y, cb, cr


def rounded_rgb(ycc: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """The decoder's output pixels: clamp(floor(v + 0.5), 0, 255) of to_rgb, uint8 (NaN
    gives 0); ``ycc``: (3, H, W), or the three channels."""
    y, cb, cr = _channels(ycc)
    out = np.empty((*y.shape, 3), dtype=np.uint8)
    _rounded_rgb(y, cb, cr, INVERSE, out)
    return out


def rounded_rgb_error(ycc: np.ndarray | list[np.ndarray], rgb: np.ndarray) -> float:
    """Sum of squared differences between rounded_rgb(ycc) and ``rgb`` (H, W, 3), without
    forming the image (the rate control measures hundreds): whole numbers, so exact."""
    y, cb, cr = _channels(ycc)
    ref = np.ascontiguousarray(rgb)
    if ref.shape != (*y.shape, 3):
        raise ValueError(f"rgb has shape {ref.shape}, expected {(*y.shape, 3)}")
    return float(_rounded_rgb_error(y, cb, cr, INVERSE, ref))


def chroma_count(count: int, stride: int) -> int:
    """Chroma values per channel for ``count`` source points at ``stride``."""
    return -(-int(count) // int(stride))


def chroma_index(count: int, stride: int) -> np.ndarray:
    """For each source point, the index of the chroma value it takes (i div stride)."""
    return np.arange(int(count), dtype=np.int64) // int(stride)


def chroma_predictors(predictors: np.ndarray, stride: int) -> np.ndarray:
    """Predictor table of one chroma channel: the rows of points 0, s, 2s, ..., their
    value indices divided by s (-1, no predictor, stays -1)."""
    rows = np.asarray(predictors, dtype=np.int64)[::int(stride)]
    return np.where(rows >= 0, rows // int(stride), rows)


def stacked_predictors(predictors: np.ndarray, channels: int) -> np.ndarray:
    """Predictor table of ``channels`` value lists coded one after the other in one segment:
    each list's table shifted by the values before it (-1 stays -1: each list's first value is
    predicted by the mid level)."""
    rows = np.asarray(predictors, dtype=np.int64)
    n = rows.shape[0]
    return np.concatenate([np.where(rows >= 0, rows + c * n, rows) for c in range(channels)]) \
        if channels else rows[:0]
