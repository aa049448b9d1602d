"""Quantising and entropy coding of the stored (source-point) values.

Values are quantised to ``levels`` uniform levels over 0..255: index k stands for the grey value
k * 255 / (levels - 1).  Each index is predicted from an earlier one (the predictor order comes
from :mod:`PIL_ipc.sources`), and the residual is coded with the T.82 QM arithmetic coder
(:mod:`PIL_ipc.qm`) under adaptive contexts:

- zero flag, context = activity class of the previous residual (4 classes);
- sign, same context class;
- magnitude - 1 as an Elias-gamma-like code: the bit length n of (|r|) in unary (context per
  class and position), then the n low bits of |r| below its leading one (context per n and bit
  position).

The bit layout and context numbering are part of the format (spec/FORMAT.md section 7).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import qm

#: Activity classes of the previous residual magnitude: 0, 1-2, 3-6, 7+.
N_CLASSES = 4
#: |residual| <= 255, so its bit length is at most 8 and the unary prefix at most 7 ones.
MAX_BITS = 8
CX_ZERO = 0
CX_SIGN = CX_ZERO + N_CLASSES
CX_UNARY = CX_SIGN + N_CLASSES
CX_BITS = CX_UNARY + N_CLASSES * MAX_BITS
N_CONTEXTS = CX_BITS + MAX_BITS * MAX_BITS


class ValueCodingError(ValueError):
    """The coded values are inconsistent with the header (hostile or damaged file)."""


def quantise(values: np.ndarray, levels: int) -> np.ndarray:
    """Nearest level index (int64) of grey values in 0..255."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 255.0)
    return np.floor(v * ((levels - 1) / 255.0) + 0.5).astype(np.int64)


def dequantise(indices: np.ndarray, levels: int) -> np.ndarray:
    """Grey value (float64) of each level index."""
    return np.asarray(indices, dtype=np.float64) * (255.0 / (levels - 1))


@njit(cache=True, nogil=True)
def _activity_class(magnitude: int) -> int:
    if magnitude == 0:
        return 0
    if magnitude <= 2:
        return 1
    if magnitude <= 6:
        return 2
    return 3


@njit(cache=True, nogil=True)
def _bit_length(v: int) -> int:
    n = 0
    while v > 0:
        n += 1
        v >>= 1
    return n


@njit(cache=True, nogil=True)
def _encode(indices: np.ndarray, predictors: np.ndarray, mid: int, capacity: int) -> np.ndarray:
    state, out = qm.enc_init(capacity)
    st = np.zeros(N_CONTEXTS, dtype=np.uint8)
    mps = np.zeros(N_CONTEXTS, dtype=np.uint8)
    cls = 0
    for i in range(indices.shape[0]):
        p = predictors[i]
        pred = mid if p < 0 else indices[p]
        r = indices[i] - pred
        m = abs(r)
        if m == 0:
            qm.enc_bit(state, out, st, mps, CX_ZERO + cls, 0)
        else:
            qm.enc_bit(state, out, st, mps, CX_ZERO + cls, 1)
            qm.enc_bit(state, out, st, mps, CX_SIGN + cls, 1 if r < 0 else 0)
            n = _bit_length(m)  # 1..8; the leading one of m is implicit
            for j in range(1, n):
                qm.enc_bit(state, out, st, mps, CX_UNARY + cls * MAX_BITS + j, 1)
            if n < MAX_BITS:
                qm.enc_bit(state, out, st, mps, CX_UNARY + cls * MAX_BITS + n, 0)
            for j in range(n - 2, -1, -1):
                qm.enc_bit(state, out, st, mps, CX_BITS + (n - 1) * MAX_BITS + j, (m >> j) & 1)
        cls = _activity_class(m)
    n_bytes = qm.enc_flush(state, out)
    if n_bytes < 0:
        return out[:0]
    return out[:n_bytes].copy()


@njit(cache=True, nogil=True)
def _decode(data: np.ndarray, predictors: np.ndarray, mid: int, levels: int,
            out: np.ndarray) -> int:
    """Decode len(out) indices; return -1 - i if value i falls outside 0..levels-1, else 0."""
    state = qm.dec_init(data)
    st = np.zeros(N_CONTEXTS, dtype=np.uint8)
    mps = np.zeros(N_CONTEXTS, dtype=np.uint8)
    cls = 0
    bad = 0
    for i in range(out.shape[0]):
        p = predictors[i]
        pred = mid if p < 0 else out[p]
        m = 0
        r = 0
        if qm.dec_bit(state, data, st, mps, CX_ZERO + cls) != 0:
            negative = qm.dec_bit(state, data, st, mps, CX_SIGN + cls)
            n = 1
            while n < MAX_BITS and qm.dec_bit(state, data, st, mps,
                                              CX_UNARY + cls * MAX_BITS + n) != 0:
                n += 1
            m = 1
            for j in range(n - 2, -1, -1):
                m = (m << 1) | qm.dec_bit(state, data, st, mps, CX_BITS + (n - 1) * MAX_BITS + j)
            r = -m if negative else m
        v = pred + r
        if v < 0 or v >= levels:
            if bad == 0:
                bad = -1 - i
            v = 0 if v < 0 else levels - 1
        out[i] = v
        cls = _activity_class(m)
    return bad


def _check_predictors(predictors: np.ndarray) -> np.ndarray:
    pred = np.ascontiguousarray(predictors, dtype=np.int64)
    # The kernels index earlier values with these: each must point strictly backwards.
    if pred.size and (np.any(pred >= np.arange(pred.size)) or np.any(pred < -1)):
        raise ValueError("predictors must refer to earlier values")
    return pred


def encode(indices: np.ndarray, predictors: np.ndarray, levels: int) -> bytes:
    """Code level indices (each in 0..levels-1) given their predictor order."""
    idx = np.ascontiguousarray(indices, dtype=np.int64)
    pred = _check_predictors(predictors)
    if idx.shape != pred.shape:
        raise ValueError("indices and predictors differ in length")
    if idx.size and (idx.min() < 0 or idx.max() >= levels):
        raise ValueError("level index out of range")
    # At most 1 + 1 + 7 + 7 = 16 decisions per value; qm guarantees 4 bytes per decision.
    capacity = 4 * 16 * idx.size + 64
    coded = _encode(idx, pred, (levels - 1) // 2, capacity)
    if idx.size and coded.size == 0:
        raise RuntimeError("arithmetic coder output exceeded its bound")
    return coded.tobytes()


def decode(payload: bytes, predictors: np.ndarray, levels: int, *,
           lenient: bool = False) -> np.ndarray:
    """Decode ``len(predictors)`` level indices; out-of-range values are an error unless lenient."""
    pred = _check_predictors(predictors)
    data = np.frombuffer(payload, dtype=np.uint8)
    out = np.zeros(pred.size, dtype=np.int64)
    if pred.size == 0:
        return out
    bad = _decode(data, pred, (levels - 1) // 2, int(levels), out)
    if bad < 0 and not lenient:
        raise ValueCodingError(f"stored value {-1 - bad} decodes outside 0..{levels - 1}")
    return out
