"""Quantisation and the residual coder of stored values, 1-D and 2-D predicted (spec section 7)."""

import math
from fractions import Fraction

import numpy as np
import pytest
from reference_decoder import locate

from PIL_ipc.format import container, qm, values


@pytest.fixture(params=values.CODINGS)
def coding(request):
    """Every test of the coder runs with both VALS codings."""
    return request.param


def rows_of(predictors):
    """Predictor rows (a, b, c): a 1-D predictor j is the row (j, -1, -1)."""
    return [(int(r), -1, -1) if np.ndim(r) == 0 else tuple(int(v) for v in r)
            for r in predictors]


def activity(t):
    return 0 if t == 0 else 1 if t <= 2 else 2 if t <= 6 else 3


def binarise_reference(indices, predictors, levels, coding):
    """The bit layout of spec section 7, transcribed in plain Python: (bits, contexts).
    ``predictors`` holds 1-D predictors (ints or rows (a, -1, -1)) and 2-D rows (a, b, c).
    Coding 1 leaves out the decisions the range 0..levels-1 decides."""
    top = levels - 1
    bits, cxs = [], []
    mid = (levels - 1) // 2
    previous = 0
    for i, (a, b, c) in enumerate(rows_of(predictors)):
        if b == -1:
            pred = mid if a < 0 else int(indices[a])
            cls, s = previous, 0
        else:
            ka, kb, kc = int(indices[a]), int(indices[b]), int(indices[c])
            if kc >= max(ka, kb):
                pred = min(ka, kb)
            elif kc <= min(ka, kb):
                pred = max(ka, kb)
            else:
                pred = ka + kb - kc
            cls, s = activity(abs(ka - kc) + abs(kb - kc)), 104
        r = int(indices[i]) - pred
        m = abs(r)
        bits.append(int(m != 0))
        cxs.append(s + cls)
        if m:
            if coding == 0 or pred not in (0, top):
                bits.append(int(r < 0))
                cxs.append(s + 4 + cls)
            room = pred if r < 0 else top - pred  # largest m the range allows
            longest = room.bit_length() if coding == 1 else 8
            n = m.bit_length()
            for j in range(1, n):
                bits.append(1)
                cxs.append(s + 8 + cls * 8 + j)
            if n < longest:
                bits.append(0)
                cxs.append(s + 8 + cls * 8 + n)
            for j in range(n - 2, -1, -1):
                high = (m >> (j + 1)) << (j + 1)  # the bits above j
                if coding == 1 and n == longest and high + (1 << j) > room:
                    continue  # a 1 here would pass the room: the bit is 0
                bits.append((m >> j) & 1)
                cxs.append(s + 40 + (n - 1) * 8 + j)
        previous = activity(m)
    return bits, cxs


def lattice_table(h, w, g, seed):
    """The predictor table of an edge-free h x w image with a seed lattice of step g and a few
    seed-plane points, from the plain-Python transcription of spec section 6."""
    rng = np.random.default_rng(seed)
    edges = np.zeros((h, w), bool)
    edges[h // 2, 1:-1] = True
    _, _, pred = locate(edges, 3, rng.random((h, w)) < 0.02, g)
    return np.array(pred, dtype=np.int64)


def smooth_levels(n, levels, seed):
    rng = np.random.default_rng(seed)
    return np.clip(np.round(levels / 2 + np.cumsum(rng.normal(0, levels / 40, n))), 0,
                   levels - 1).astype(np.int64)


def random_walk(n, levels, seed):
    rng = np.random.default_rng(seed)
    steps = rng.integers(-4, 5, n)
    jumps = rng.random(n) < 0.05
    steps[jumps] = rng.integers(-levels + 1, levels, int(jumps.sum()))
    return np.clip(np.cumsum(steps) + levels // 2, 0, levels - 1)


@pytest.mark.parametrize("levels", [2, 3, 16, 64, 256])
def test_round_trip(levels, coding):
    rng = np.random.default_rng(levels)
    n = 3000
    idx = rng.integers(0, levels, n)
    idx[: n // 2] = random_walk(n // 2, levels, levels)
    # Tree-shaped predictors, as sources.locate produces.
    pred = np.array([-1] + [int(rng.integers(max(0, i - 8), i)) for i in range(1, n)])
    data = values.encode(idx, pred, levels, coding)
    assert np.array_equal(values.decode(data, pred, levels, coding), idx)


def test_extreme_residuals(coding):
    idx = np.array([0, 255, 0, 255, 128, 127, 0])
    pred = np.arange(idx.size) - 1
    data = values.encode(idx, pred, 256, coding)
    assert np.array_equal(values.decode(data, pred, 256, coding), idx)


def test_bit_layout_matches_reference(coding):
    rng = np.random.default_rng(5)
    levels = 64
    idx = random_walk(500, levels, 5)
    idx[::37] = rng.integers(0, levels, idx[::37].size)
    pred = np.arange(idx.size) - 1
    pred[::5] = -1
    bits, cxs = binarise_reference(idx.tolist(), pred.tolist(), levels, coding)
    assert max(cxs) < values.N_CONTEXTS
    assert values.encode(idx, pred, levels, coding) == qm.encode_decisions(bits, cxs)


def kt_bits(bits, cxs):
    """Krichevsky-Trofimov code length (bits) of decisions, context by context."""
    counts = {}
    for b, cx in zip(bits, cxs, strict=True):
        counts.setdefault(cx, [0, 0])[b] += 1
    return sum((math.log(math.pi) + math.lgamma(n0 + n1 + 1) - math.lgamma(n0 + 0.5)
                - math.lgamma(n1 + 0.5)) / math.log(2) for n0, n1 in counts.values())


@pytest.mark.parametrize(("levels", "g"), [(64, 0), (16, 4), (256, 3)])
def test_size_estimate_is_the_kt_length_of_the_reference_decisions(levels, g, coding):
    """estimate_size: the KT code length of exactly the decisions of the bit layout (the
    reference binarisation), and close to what the coder makes of them."""
    rng = np.random.default_rng(levels + g)
    if g:
        pred = lattice_table(60, 70, g, levels + g)
        idx = smooth_levels(pred.shape[0], levels, levels * g)
        idx[::23] = rng.integers(0, levels, idx[::23].size)
    else:
        idx = random_walk(4000, levels, 5)
        idx[::37] = rng.integers(0, levels, idx[::37].size)
        pred = np.arange(idx.size) - 1
        pred[::5] = -1
    bits, cxs = binarise_reference(idx.tolist(), pred, levels, coding)
    estimate = values.estimate_size(idx, pred, levels, coding)
    assert estimate == pytest.approx(kt_bits(bits, cxs) / 8, rel=1e-9)
    assert estimate == pytest.approx(len(values.encode(idx, pred, levels, coding)), rel=0.08)


def test_constant_values_cost_almost_nothing(coding):
    idx = np.full(20000, 40)
    pred = np.arange(idx.size) - 1
    assert len(values.encode(idx, pred, 64, coding)) < 40


def test_quantise_dequantise():
    v = np.arange(256)
    assert np.array_equal(values.quantise(v, 256), v)
    assert np.array_equal(values.dequantise(values.quantise(v, 256), 256), v)
    assert set(values.quantise(v, 2).tolist()) == {0, 1}
    for levels in (2, 5, 64):
        step = 255 / (levels - 1)
        err = np.abs(values.dequantise(values.quantise(v, levels), levels) - v)
        assert err.max() <= step / 2 + 1e-9


def _exact_half_rounding(k: int, levels: int) -> int:
    """floor(k * 255 / (levels - 1) + 1/2) in exact rational arithmetic."""
    return math.floor(Fraction(k * 255, levels - 1) + Fraction(1, 2))


def test_dequantise_rounds_like_the_exact_quotient():
    # spec section 7: v(k) = k * 255 / (levels - 1), the product first; the output pixel at a
    # stored point is floor(v + 0.5).  Checked against exact rationals at every (levels, k).
    naive_misses = 0
    for levels in range(2, 257):
        k = np.arange(levels)
        got = np.floor(values.dequantise(k, levels) + 0.5).astype(int)
        want = [_exact_half_rounding(int(i), levels) for i in k]
        assert got.tolist() == want, f"levels {levels}"
        naive = np.floor(k * (255.0 / (levels - 1)) + 0.5).astype(int)
        naive_misses += int(np.count_nonzero(naive != want))
    # the reciprocal form the spec warns about does miss (e.g. levels 51, k 25 -> 127)
    assert naive_misses == 28
    assert values.dequantise(np.array([25]), 51)[0] == 127.5


def test_out_of_range_value_is_an_error():
    # Coded with 256 levels, read back as 16 levels: values leave 0..15 (coding 0 only: the
    # bounded coding cannot code a value outside the range, see below).
    idx = np.array([200, 250])
    pred = np.array([-1, 0])
    data = values.encode(idx, pred, 256, values.CODING_PLAIN)
    with pytest.raises(values.ValueCodingError):
        values.decode(data, pred, 16, values.CODING_PLAIN)
    lenient = values.decode(data, pred, 16, values.CODING_PLAIN, lenient=True)
    assert lenient.min() >= 0 and lenient.max() <= 15


@pytest.mark.parametrize("levels", [2, 3, 8, 12, 255, 256])
def test_bounded_coding_decodes_any_payload_within_the_range(levels):
    """In coding 1 a nonzero residual's sign is coded only when both directions have room,
    and its length and mantissa never pass the room: whatever the bytes, every value is a
    level (coding 0 can go out of range: the test above)."""
    rng = np.random.default_rng(levels)
    table = lattice_table(20, 24, 3, levels)
    for _ in range(40):
        junk = rng.integers(0, 256, int(rng.integers(0, 300)), dtype=np.uint8).tobytes()
        out = values.decode(junk, table, levels, values.CODING_BOUNDED)
        assert out.min() >= 0 and out.max() < levels
    k = values.decode(b"\xff" * 400, table, levels, values.CODING_PLAIN, lenient=True)
    assert k.size == len(table)


def test_bounded_coding_is_never_larger_on_extreme_values():
    """Two-level and cartoon-like values sit at the range's ends: most signs are implied."""
    rng = np.random.default_rng(4)
    for levels in (2, 4, 8):
        idx = np.where(rng.random(3000) < 0.5, 0, levels - 1)
        noise = rng.random(3000) < 0.2
        idx[noise] = rng.integers(0, levels, int(noise.sum()))
        pred = np.arange(idx.size) - 1
        plain = values.encode(idx, pred, levels, values.CODING_PLAIN)
        bounded = values.encode(idx, pred, levels, values.CODING_BOUNDED)
        assert len(bounded) < 0.8 * len(plain)


def test_codings_are_the_containers():
    assert set(values.CODINGS) == container.CODINGS[container.FORMAT_VERSION]
    assert (values.CODING_PLAIN, values.CODING_BOUNDED) == (
        container.CODING_ADAPTIVE_BINARY, container.CODING_BOUNDED)


def test_unknown_coding_is_rejected():
    with pytest.raises(ValueError):
        values.encode(np.array([1]), np.array([-1]), 4, 2)
    with pytest.raises(ValueError):
        values.decode(b"", np.array([-1]), 4, 7)


def test_garbage_payloads_end_in_values_or_error(coding):
    rng = np.random.default_rng(9)
    pred = np.arange(2000) - 1
    for _ in range(50):
        junk = rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
        try:
            out = values.decode(junk, pred, 64, coding)
        except values.ValueCodingError:
            continue
        assert out.shape == (2000,) and out.min() >= 0 and out.max() < 64


def test_bad_inputs(coding):
    with pytest.raises(ValueError):
        values.encode(np.array([1, 2]), np.array([-1, 1]), 64, coding)  # predictor not backwards
    with pytest.raises(ValueError):
        values.encode(np.array([64]), np.array([-1]), 64, coding)  # index out of range
    with pytest.raises(ValueError):
        values.decode(b"", np.array([0]), 64, coding)


# --- 2-D prediction (lattice values) ------------------------------------------------------------


def test_med_predictor_by_hand():
    k = np.array([5, 9, 7, 9, 5, 8])
    cases = [  # (row, prediction)
        ((0, 1, 3), 5),  # C = 9 >= max(5, 9): min
        ((0, 1, 4), 9),  # C = 5 <= min(5, 9): max
        ((0, 1, 5), 6),  # 5 < C = 8 < 9: A + B - C
        ((1, 0, 2), 7),  # 5 < C = 7 < 9: 9 + 5 - 7
        ((2, 2, 2), 7),  # flat
        ((-1, -1, -1), 3),  # 1-D, no predictor: the mid level
        ((4, -1, -1), 5),  # 1-D
    ]
    for row, expected in cases:
        assert values.predict(k, np.array(row, dtype=np.int64), 3) == expected, row


def test_2d_bit_layout_by_hand(coding):
    """Decisions and contexts of spec section 7 worked out by hand (16 levels, mid 7)."""
    idx = [5, 9, 9, 5, 8, 6, 6]
    table = [[-1, -1, -1], [0, -1, -1], [1, -1, -1], [0, 1, 2], [3, 1, 0], [0, 1, 4],
             [5, -1, -1]]
    expected = [
        # 0: P = 7, r = -2, class 0: nonzero, sign, length 2 (1 then 0), mantissa 0
        (1, 0), (1, 4), (1, 9), (0, 10), (0, 48),
        # 1: P = 5, r = 4, class 1 (previous m = 2): length 3, mantissa 00
        (1, 1), (0, 5), (1, 17), (1, 18), (0, 19), (0, 57), (0, 56),
        # 2: P = 9, r = 0, class 2 (previous m = 4)
        (0, 2),
        # 3: 2-D, A = 5, B = 9, C = 9: P = 5, r = 0; |A-C| + |B-C| = 4: class 2, set 104
        (0, 106),
        # 4: 2-D, A = 5, B = 9, C = 5: P = 9, r = -1; gradient 4: class 2
        (1, 106), (1, 110), (0, 129),
        # 5: 2-D, A = 5, B = 9, C = 8: P = 6, r = 0; gradient 4: class 2
        (0, 106),
        # 6: 1-D from value 5: r = 0, class of the previous m = 0
        (0, 0),
    ]
    bits, cxs = binarise_reference(idx, table, 16, coding)
    assert list(zip(bits, cxs, strict=True)) == expected
    data = values.encode(np.array(idx), np.array(table), 16, coding)
    assert data == qm.encode_decisions(bits, cxs)
    assert values.decode(data, np.array(table), 16, coding).tolist() == idx


@pytest.mark.parametrize("levels", [2, 16, 64, 256])
@pytest.mark.parametrize("g", [1, 2, 5])
def test_2d_bit_layout_matches_reference(levels, g, coding):
    table = lattice_table(24, 30, g, levels + g)
    idx = smooth_levels(table.shape[0], levels, levels * g)
    idx[::23] = np.random.default_rng(g).integers(0, levels, idx[::23].size)
    bits, cxs = binarise_reference(idx, table, levels, coding)
    assert (table[:, 1] >= 0).any() and max(cxs) >= 104 and max(cxs) < values.N_CONTEXTS
    data = values.encode(idx, table, levels, coding)
    assert data == qm.encode_decisions(bits, cxs)
    assert np.array_equal(values.decode(data, table, levels, coding), idx)


@pytest.mark.parametrize("levels", [2, 3, 64, 256])
def test_2d_round_trip_random_tables(levels, coding):
    """Random tables mixing 1-D rows and 2-D rows of any earlier values, extreme values too."""
    rng = np.random.default_rng(levels + 7)
    n = 2000
    table = np.full((n, 3), -1, dtype=np.int64)
    for i in range(1, n):
        if i >= 3 and rng.random() < 0.6:
            table[i] = rng.integers(max(0, i - 50), i, 3)
        else:
            table[i, 0] = rng.integers(-1, i)
    idx = rng.integers(0, levels, n)
    idx[: n // 2] = random_walk(n // 2, levels, levels)
    idx[::97] = levels - 1
    idx[::89] = 0
    data = values.encode(idx, table, levels, coding)
    assert data == qm.encode_decisions(*binarise_reference(idx, table, levels, coding))
    assert np.array_equal(values.decode(data, table, levels, coding), idx)


def test_1d_table_equals_1d_array(coding):
    idx = random_walk(300, 64, 3)
    pred = np.arange(idx.size) - 1
    pred[::7] = -1
    table = np.column_stack([pred, np.full((idx.size, 2), -1)])
    assert values.encode(idx, table, 64, coding) == values.encode(idx, pred, 64, coding)
    data = values.encode(idx, pred, 64, coding)
    assert np.array_equal(values.decode(data, table, 64, coding), idx)


def test_2d_prediction_is_cheaper_on_a_smooth_surface(coding):
    """A plane ramp in 2-D: MED predicts it exactly, a raster 1-D chain does not."""
    h, w = 30, 40
    y, x = np.mgrid[0:h, 0:w]
    idx = (5 + x + 2 * y).ravel() % 256
    # with lattice 1 and no band, every pixel but the first row and column is 2-D
    _, pos, table = locate(np.zeros((h, w), bool), 3, None, 1)
    assert pos == list(range(h * w))
    flat = np.arange(h * w) - 1
    assert len(values.encode(idx, np.array(table), 256, coding)) \
        < len(values.encode(idx, flat, 256, coding)) / 4


@pytest.mark.parametrize("table", [
    [[-1, -1, -1], [1, -1, -1]],  # 1-D, names itself
    [[-1, -1, -1], [2, -1, -1]],  # 1-D, forward
    [[-1, -1, -1], [-2, -1, -1]],  # 1-D, below -1
    [[-1, -1, -1], [0, -1, -1], [0, 2, 1]],  # 2-D, b names itself
    [[-1, -1, -1], [0, -1, -1], [1, 0, 3]],  # 2-D, c forward
    [[-1, -1, -1], [0, -1, -1], [-1, 0, 1]],  # 2-D with a = -1
    [[-1, -1, -1], [0, -1, -1], [0, 1, -1]],  # b set, c missing
    [[-1, -1, -1], [0, -1, -1], [0, -1, 1]],  # c set, b missing
    # rows (a, b, c) with b or c negative but not -1: neither form of the table
    [[-1, -1, -1], [0, -1, -1], [0, -2, -1]],
    [[-1, -1, -1], [0, -1, -1], [0, -1, -5]],
    [[0, 0, 0], [0, -1, -1], [0, 1, 0]],  # the first value has nothing before it
    [[-1, -1], [0, -1], [0, 1]],  # two columns
    [[-1, -1, -1, -1], [0, -1, -1, -1], [0, 1, 0, -1]],  # four columns
    [[[-1, -1, -1]], [[0, -1, -1]], [[0, 1, 0]]],  # three dimensions
])
def test_malformed_predictor_tables_raise(table, coding):
    table = np.array(table)
    idx = np.array([3, 4, 5])
    with pytest.raises(ValueError):
        values.encode(idx, table, 16, coding)
    with pytest.raises(ValueError):
        values.decode(b"\x12\x34", table, 16, coding)
    with pytest.raises(ValueError):
        values.check_predictors(table)


def test_well_formed_table_accepted():
    table = np.array([[-1, -1, -1], [0, -1, -1], [0, 1, 0], [-1, -1, -1], [2, 0, 1]])
    out = values.check_predictors(table)
    assert out.dtype == np.int64 and out.shape == (5, 3) and out.flags.c_contiguous
    assert np.array_equal(out, table)
    assert values.check_predictors(np.zeros((0, 3), np.int64)).shape == (0, 3)
