"""The stored values of a layout quantised and coded, and its planes coded: what the planner
turns a layout and its fitted values into (payloads, and their estimated sizes)."""

from __future__ import annotations

import math

import numpy as np

from .._kernel_cache import kernel
from ..format import jbig, values

#: VALS coding of the files written (values.CODING_BOUNDED: format version 3 and later).
VALUES_CODING = values.CODING_BOUNDED


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
def rounded_squared_error(u: np.ndarray, pixels: np.ndarray) -> float:
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
    return values.encode(indices, predictors, levels, VALUES_CODING)


def payload_estimate(indices: np.ndarray, predictors: np.ndarray, levels: int) -> int:
    """Estimated bytes of the VALS payload of level indices (values.estimate_size)."""
    return int(math.ceil(values.estimate_size(indices, predictors, levels, VALUES_CODING)))

