"""Quantising and entropy coding of the stored (source-point) values.

Values are quantised to ``levels`` uniform levels over 0..255: index k stands for the grey value
k * 255 / (levels - 1).  Each index is predicted from earlier ones (the predictors come from
:mod:`PIL_ipc.format.sources`): a row (a, -1, -1) of the predictor table predicts value i by value a
(the mid level when a = -1); a row (a, b, c) of three earlier values, the left, upper and
upper-left neighbours of a lattice point, predicts it by the median edge detector of LOCO-I
(JPEG-LS).  The residual is coded with the T.82 QM arithmetic coder (:mod:`PIL_ipc.format.qm`) under
adaptive contexts, in two sets: one for the 1-D predicted values, one for the lattice values:

- zero flag, context = activity class: of the previous residual for 1-D predicted values, of
  the local gradient |k_a - k_c| + |k_b - k_c| for lattice values (4 classes each);
- sign, same context class;
- magnitude - 1 as an Elias-gamma-like code: the bit length n of (|r|) in unary (context per
  class and position), then the n low bits of |r| below its leading one (context per n and bit
  position).

Coding 1 (format version 3, the default) leaves out every decision whose outcome the decoder
already knows from the range of levels: the sign when the prediction is level 0 or the top
level, the terminating 0 of a length that reaches the room left between the prediction and the
range's end, and mantissa bits that would pass that room.  Cartoon-like images, whose values
sit at the extremes, code 3-15 % smaller; coding 0 (versions 1-3) codes all of them.

The bit layout and context numbering are part of the format (spec/FORMAT.md section 7).
"""

from __future__ import annotations

import math

import numpy as np

from .._kernel_cache import kernel
from ..errors import CoderOverflow, FormatError
from . import qm

#: VALS codings (spec section 7, module docstring): every decision, or the bounded ones.
CODING_PLAIN = 0
CODING_BOUNDED = 1
CODINGS = (CODING_PLAIN, CODING_BOUNDED)
#: Activity classes of the previous residual magnitude: 0, 1-2, 3-6, 7+.
N_CLASSES = 4
#: |residual| <= 255, so its bit length is at most 8 and the unary prefix at most 7 ones.
MAX_BITS = 8
CX_ZERO = 0
CX_SIGN = CX_ZERO + N_CLASSES
CX_UNARY = CX_SIGN + N_CLASSES
CX_BITS = CX_UNARY + N_CLASSES * MAX_BITS
#: Contexts of one set; the lattice values use a second set, offset by this.
SET_CONTEXTS = CX_BITS + MAX_BITS * MAX_BITS
N_CONTEXTS = 2 * SET_CONTEXTS


class ValueCodingError(FormatError):
    """The coded values are inconsistent with the header (hostile or damaged file)."""


def quantise(values: np.ndarray, levels: int) -> np.ndarray:
    """Nearest level index (int64) of grey values in 0..255."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 255.0)
    return np.floor(v * ((levels - 1) / 255.0) + 0.5).astype(np.int64)


def dequantise(indices: np.ndarray, levels: int) -> np.ndarray:
    """Grey value (float64) of each level index: k * 255 / (levels - 1), multiplied first and
    divided after, so that it is the double nearest the exact quotient (spec section 7);
    k * (255 / (levels - 1)) misses it at 28 (levels, k) pairs, 127.5 among them."""
    return np.asarray(indices, dtype=np.float64) * 255.0 / (levels - 1)


@kernel("int64")
def _activity_class(magnitude: int) -> int:
    if magnitude == 0:
        return 0
    if magnitude <= 2:
        return 1
    if magnitude <= 6:
        return 2
    return 3


@kernel("int64")
def _bit_length(v: int) -> int:
    n = 0
    while v > 0:
        n += 1
        v >>= 1
    return n


@kernel("int64, int64, int64")
def med(a: int, b: int, c: int) -> int:
    """The median edge detector of LOCO-I: the prediction from the left (a), upper (b) and
    upper-left (c) neighbours."""
    if c >= max(a, b):
        return min(a, b)
    if c <= min(a, b):
        return max(a, b)
    return a + b - c


@kernel("int64[::1], int64[::1], int64")
def predict(k: np.ndarray, row: np.ndarray, mid: int) -> int:
    """Predicted level of a value from the earlier levels ``k`` and its predictor row."""
    a = row[0]
    if row[1] < 0:
        return mid if a < 0 else k[a]
    return med(k[a], k[row[1]], k[row[2]])


@kernel("int64[::1], int64[::1], int64")
def _context_base(k: np.ndarray, row: np.ndarray, previous_class: int) -> tuple[int, int]:
    """(first context of the set, activity class) of a value."""
    if row[1] < 0:
        return 0, previous_class
    kc = k[row[2]]
    return SET_CONTEXTS, _activity_class(abs(k[row[0]] - kc) + abs(k[row[1]] - kc))


@kernel("int64, int64, boolean")
def _sign_known(pred: int, top: int, bounded: bool) -> int:
    """With bounded coding the sign of a nonzero residual is known when the prediction is
    the lowest (+: 0) or the highest (-: 1) level; -1: it is coded."""
    if bounded:
        if pred == 0:
            return 0
        if pred == top:
            return 1
    return -1


@kernel("int64, boolean")
def _longest(bound: int, bounded: bool) -> int:
    """Largest bit length of |r| the coder allows: that of the room to the range's end when
    bounded (a length that reaches it needs no terminating 0), else MAX_BITS."""
    return max(_bit_length(bound), 1) if bounded else MAX_BITS


@qm.core(f"{qm.STATE}, {qm.BYTES}, {qm.BYTES}, {qm.BYTES}, int64[:, ::1], int64, int64")
def _emit(state, out, st, mps, counts, cx, bit):
    """One decision: coded, or only counted when ``counts`` (N_CONTEXTS x 2) has rows.
    Compiled like the coder's kernels, without reference counting (qm.core): a counted call
    per decision would make coding 3 times slower."""
    if counts.shape[0] == 0:
        qm.enc_bit(state, out, st, mps, cx, bit)
    else:
        counts[cx, bit] += 1


@kernel("int64[::1], int64[:, ::1], int64, int64, boolean, int64, int64[:, ::1]")
def _code(indices: np.ndarray, predictors: np.ndarray, mid: int, top: int, bounded: bool,
          capacity: int, counts: np.ndarray) -> np.ndarray:
    """Every decision of the coding of ``indices``, in order: coded (returns the output buffer
    and the code's length in it, -1 if ``capacity`` bytes did not suffice), or when ``counts``
    (N_CONTEXTS x 2; 0 x 2 to code) has rows, counted per context and bit instead (one kernel
    for both: each would cost the first use a compile of its own)."""
    state, out = qm.enc_init(capacity)
    st = np.zeros(N_CONTEXTS, dtype=np.uint8)
    mps = np.zeros(N_CONTEXTS, dtype=np.uint8)
    previous = 0
    for i in range(indices.shape[0]):
        row = predictors[i]
        base, cls = _context_base(indices, row, previous)
        pred = predict(indices, row, mid)
        r = indices[i] - pred
        m = abs(r)
        if m == 0:
            _emit(state, out, st, mps, counts, base + CX_ZERO + cls, 0)
        else:
            _emit(state, out, st, mps, counts, base + CX_ZERO + cls, 1)
            if _sign_known(pred, top, bounded) < 0:
                _emit(state, out, st, mps, counts, base + CX_SIGN + cls, 1 if r < 0 else 0)
            bound = pred if r < 0 else top - pred
            longest = _longest(bound, bounded)
            n = _bit_length(m)  # 1..8; the leading one of m is implicit
            for j in range(1, n):
                _emit(state, out, st, mps, counts, base + CX_UNARY + cls * MAX_BITS + j, 1)
            if n < longest:
                _emit(state, out, st, mps, counts, base + CX_UNARY + cls * MAX_BITS + n, 0)
            known = 1 << (n - 1)  # the bits of m found so far
            for j in range(n - 2, -1, -1):
                bit = (m >> j) & 1
                # at the longest length a 1 that would pass the bound cannot occur
                if not (bounded and n == longest and (known | (1 << j)) > bound):
                    _emit(state, out, st, mps, counts,
                          base + CX_BITS + (n - 1) * MAX_BITS + j, bit)
                known |= bit << j
        previous = _activity_class(m)
    if counts.shape[0] != 0:
        return out, 0
    return out, qm.enc_flush(state, out)


@kernel("int64[::1], int64[:, ::1], int64, int64, boolean")
def _estimate(indices: np.ndarray, predictors: np.ndarray, mid: int, top: int,
              bounded: bool) -> float:
    """Krichevsky-Trofimov code length (bits) of the decisions, context by context."""
    counts = np.zeros((N_CONTEXTS, 2), np.int64)
    _code(indices, predictors, mid, top, bounded, 0, counts)
    bits = 0.0
    for cx in range(N_CONTEXTS):
        n0, n1 = counts[cx, 0], counts[cx, 1]
        if n0 + n1:
            # -log2 of the KT probability Gamma(n0+1/2) Gamma(n1+1/2) / (pi Gamma(n0+n1+1))
            bits += (math.log(math.pi) + math.lgamma(n0 + n1 + 1.0)
                     - math.lgamma(n0 + 0.5) - math.lgamma(n1 + 0.5)) / math.log(2.0)
    return bits


@kernel(f"{qm.DATA}, int64[:, ::1], int64, int64, boolean, int64[::1]")
def _decode(data: np.ndarray, predictors: np.ndarray, mid: int, levels: int, bounded: bool,
            out: np.ndarray) -> int:
    """Decode len(out) indices; return -1 - i if value i falls outside 0..levels-1, else 0."""
    state = qm.dec_init(data)
    st = np.zeros(N_CONTEXTS, dtype=np.uint8)
    mps = np.zeros(N_CONTEXTS, dtype=np.uint8)
    top = levels - 1
    previous = 0
    bad = 0
    for i in range(out.shape[0]):
        row = predictors[i]
        base, cls = _context_base(out, row, previous)
        pred = predict(out, row, mid)
        m = 0
        r = 0
        if qm.dec_bit(state, data, st, mps, base + CX_ZERO + cls) != 0:
            negative = _sign_known(pred, top, bounded)
            if negative < 0:
                negative = int(qm.dec_bit(state, data, st, mps, base + CX_SIGN + cls))
            # (a hostile file may code a nonzero residual with no room left: bound 0 still
            # allows length 1, and the value then falls outside the range)
            bound = pred if negative else top - pred
            longest = _longest(bound, bounded)
            n = 1
            while n < longest and qm.dec_bit(state, data, st, mps,
                                             base + CX_UNARY + cls * MAX_BITS + n) != 0:
                n += 1
            m = 1 << (n - 1)
            for j in range(n - 2, -1, -1):
                if not (bounded and n == longest and (m | (1 << j)) > bound):
                    m |= qm.dec_bit(state, data, st, mps,
                                    base + CX_BITS + (n - 1) * MAX_BITS + j) << j
            r = -m if negative else m
        v = pred + r
        if v < 0 or v >= levels:
            if bad == 0:
                bad = -1 - i
            v = 0 if v < 0 else levels - 1
        out[i] = v
        previous = _activity_class(m)
    return bad


@kernel("int64[:, ::1]")
def _first_bad_predictor(pred: np.ndarray) -> int:
    """Index of the first row that does not refer to earlier values only, -1 if none."""
    for i in range(pred.shape[0]):
        a, b, c = pred[i, 0], pred[i, 1], pred[i, 2]
        if b == -1 and c == -1:
            if not -1 <= a < i:
                return i
        elif not (0 <= a < i and 0 <= b < i and 0 <= c < i):
            return i
    return -1


def check_predictors(predictors: np.ndarray) -> np.ndarray:
    """The predictor table as a contiguous int64 (N, 3) array; a 1-D array is taken as the
    first column (1-D prediction everywhere).  ValueError unless every row is (a, -1, -1) with
    -1 <= a < i, or (a, b, c) with 0 <= a, b, c < i: the kernels index earlier values with
    them and do no bounds checks."""
    pred = np.asarray(predictors, dtype=np.int64)
    if pred.ndim == 1:
        pred = np.column_stack([pred, np.full((pred.size, 2), -1, dtype=np.int64)])
    if pred.ndim != 2 or pred.shape[1] != 3:
        raise ValueError(f"predictor table must be N x 3, got shape {pred.shape}")
    pred = np.ascontiguousarray(pred)
    bad = _first_bad_predictor(pred)
    if bad >= 0:
        raise ValueError(f"predictors must refer to earlier values (row {bad})")
    return pred


def _check_coding(coding: int) -> bool:
    """Whether a VALS coding is the bounded one; ValueError for codings that do not exist."""
    if coding not in CODINGS:
        raise ValueError(f"unknown value coding {coding!r}")
    return coding == CODING_BOUNDED


def _checked(indices: np.ndarray, predictors: np.ndarray, levels: int,
             coding: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """The arguments of encode() checked: (indices, predictor table, bounded)."""
    bounded = _check_coding(coding)
    idx = np.ascontiguousarray(indices, dtype=np.int64)
    pred = check_predictors(predictors)
    if idx.shape != pred.shape[:1]:
        raise ValueError("indices and predictors differ in length")
    if not 2 <= levels <= 256:
        raise ValueError("levels must be in 2..256")
    if idx.size and (idx.min() < 0 or idx.max() >= levels):
        raise ValueError("level index out of range")
    return idx, pred, bounded


def encode(indices: np.ndarray, predictors: np.ndarray, levels: int, coding: int) -> bytes:
    """Code level indices (each in 0..levels-1) given their predictor table (N x 3, or N)
    with a VALS ``coding`` (CODINGS)."""
    idx, pred, bounded = _checked(indices, predictors, levels, coding)
    # At most 1 + 1 + 7 + 7 = 16 decisions per value; qm guarantees 4 bytes per decision.
    capacity = 4 * 16 * idx.size + 64
    coded, n = _code(idx, pred, (levels - 1) // 2, levels - 1, bounded, capacity,
                     np.zeros((0, 2), np.int64))
    if n < 0:
        raise CoderOverflow("the value coder's output exceeded its bound")
    # (a few zero residuals may code to no byte at all: the decoder reads 0x00 past the end)
    return coded[:n].tobytes()


def estimate_size(indices: np.ndarray, predictors: np.ndarray, levels: int,
                  coding: int) -> float:
    """Bytes that encode() would about take for the same arguments: the ideal adaptive code
    length (Krichevsky-Trofimov) of the same decisions under the same contexts, without
    running the arithmetic coder (2.7 times faster).  On 35 layouts of 5 test images it was
    within -4 % and +7 % of the coded size, within 2 % for most."""
    idx, pred, bounded = _checked(indices, predictors, levels, coding)
    return _estimate(idx, pred, (levels - 1) // 2, levels - 1, bounded) / 8.0


def decode(payload: bytes, predictors: np.ndarray, levels: int, coding: int, *,
           lenient: bool = False) -> np.ndarray:
    """Decode one level index per predictor row of a payload in VALS ``coding``; out-of-range
    values are an error unless lenient."""
    bounded = _check_coding(coding)
    pred = check_predictors(predictors)
    if not 2 <= levels <= 256:
        raise ValueError("levels must be in 2..256")
    data = np.frombuffer(payload, dtype=np.uint8)
    out = np.zeros(pred.shape[0], dtype=np.int64)
    if pred.shape[0] == 0:
        return out
    bad = _decode(data, pred, (levels - 1) // 2, int(levels), bounded, out)
    if bad < 0 and not lenient:
        raise ValueCodingError(f"stored value {-1 - bad} decodes outside 0..{levels - 1}")
    return out
