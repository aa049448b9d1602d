"""Quantisation and the residual coder of stored values (spec section 7)."""

import numpy as np
import pytest

from PIL_ipc import qm, values


def binarise_reference(indices, predictors, levels):
    """The bit layout of spec section 7, transcribed in plain Python: (bits, contexts)."""
    bits, cxs = [], []
    mid = (levels - 1) // 2
    cls = 0
    for i, k in enumerate(indices):
        pred = mid if predictors[i] < 0 else indices[predictors[i]]
        r = int(k) - int(pred)
        m = abs(r)
        bits.append(int(m != 0))
        cxs.append(0 + cls)
        if m:
            bits.append(int(r < 0))
            cxs.append(4 + cls)
            n = m.bit_length()
            for j in range(1, n):
                bits.append(1)
                cxs.append(8 + cls * 8 + j)
            if n < 8:
                bits.append(0)
                cxs.append(8 + cls * 8 + n)
            for j in range(n - 2, -1, -1):
                bits.append((m >> j) & 1)
                cxs.append(40 + (n - 1) * 8 + j)
        cls = 0 if m == 0 else 1 if m <= 2 else 2 if m <= 6 else 3
    return bits, cxs


def random_walk(n, levels, seed):
    rng = np.random.default_rng(seed)
    steps = rng.integers(-4, 5, n)
    jumps = rng.random(n) < 0.05
    steps[jumps] = rng.integers(-levels + 1, levels, int(jumps.sum()))
    return np.clip(np.cumsum(steps) + levels // 2, 0, levels - 1)


@pytest.mark.parametrize("levels", [2, 3, 16, 64, 256])
def test_round_trip(levels):
    rng = np.random.default_rng(levels)
    n = 3000
    idx = rng.integers(0, levels, n)
    idx[: n // 2] = random_walk(n // 2, levels, levels)
    # Tree-shaped predictors, as sources.locate produces.
    pred = np.array([-1] + [int(rng.integers(max(0, i - 8), i)) for i in range(1, n)])
    data = values.encode(idx, pred, levels)
    assert np.array_equal(values.decode(data, pred, levels), idx)


def test_extreme_residuals():
    idx = np.array([0, 255, 0, 255, 128, 127, 0])
    pred = np.arange(idx.size) - 1
    assert np.array_equal(values.decode(values.encode(idx, pred, 256), pred, 256), idx)


def test_bit_layout_matches_reference():
    rng = np.random.default_rng(5)
    levels = 64
    idx = random_walk(500, levels, 5)
    idx[::37] = rng.integers(0, levels, idx[::37].size)
    pred = np.arange(idx.size) - 1
    pred[::5] = -1
    bits, cxs = binarise_reference(idx.tolist(), pred.tolist(), levels)
    assert max(cxs) < values.N_CONTEXTS
    assert values.encode(idx, pred, levels) == qm.encode_decisions(bits, cxs)


def test_constant_values_cost_almost_nothing():
    idx = np.full(20000, 40)
    pred = np.arange(idx.size) - 1
    assert len(values.encode(idx, pred, 64)) < 40


def test_quantise_dequantise():
    v = np.arange(256)
    assert np.array_equal(values.quantise(v, 256), v)
    assert np.array_equal(values.dequantise(values.quantise(v, 256), 256), v)
    assert set(values.quantise(v, 2).tolist()) == {0, 1}
    for levels in (2, 5, 64):
        step = 255 / (levels - 1)
        err = np.abs(values.dequantise(values.quantise(v, levels), levels) - v)
        assert err.max() <= step / 2 + 1e-9


def test_out_of_range_value_is_an_error():
    # Coded with 256 levels, read back as 16 levels: values leave 0..15.
    idx = np.array([200, 250])
    pred = np.array([-1, 0])
    data = values.encode(idx, pred, 256)
    with pytest.raises(values.ValueCodingError):
        values.decode(data, pred, 16)
    lenient = values.decode(data, pred, 16, lenient=True)
    assert lenient.min() >= 0 and lenient.max() <= 15


def test_garbage_payloads_end_in_values_or_error():
    rng = np.random.default_rng(9)
    pred = np.arange(2000) - 1
    for _ in range(50):
        junk = rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
        try:
            out = values.decode(junk, pred, 64)
        except values.ValueCodingError:
            continue
        assert out.shape == (2000,) and out.min() >= 0 and out.max() < 64


def test_bad_inputs():
    with pytest.raises(ValueError):
        values.encode(np.array([1, 2]), np.array([-1, 1]), 64)  # predictor not backwards
    with pytest.raises(ValueError):
        values.encode(np.array([64]), np.array([-1]), 64)  # index out of range
    with pytest.raises(ValueError):
        values.decode(b"", np.array([0]), 64)
