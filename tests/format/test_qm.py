"""Tests of the QM arithmetic coder against T.82 clause 7.1 and its own invariants."""

import numpy as np
import pytest
from reference_decoder import SPEC, QMDecoder, spec_qm_table

from PIL_ipc.format import qm

# ITU-T T.82 clause 7.1: decisions PIX under contexts CX (16-bit words, MSB first) code to CODE.
PIX = "05e0 0000 8b00 01c4 1700 0034 7fff 1a3f 951b 05d8 1d17 e770 0000 0000 0656 0e6a"
CX = "0fe0 0000 0f00 00f0 ff00 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000"
CODE = bytes.fromhex(
    "69 89 99 5c 32 ea fa a0 d5 ff 00 52 7f ff 00 ff 00 ff 00 c0 00 00 00 3f ff 00 2d 20 82 91"
)


def _bits(words: str) -> np.ndarray:
    return np.array(
        [(int(w, 16) >> (15 - i)) & 1 for w in words.split() for i in range(16)], np.uint8
    )


def _no_false_marker(code: bytes) -> bool:
    """Every 0xFF inside coded data must be followed by the 0x00 stuffing byte."""
    return all(code[i + 1] == 0 for i in range(len(code) - 1) if code[i] == 0xFF) and (
        not code or code[-1] != 0xFF
    )


def test_t82_vector_encode():
    assert qm.encode_decisions(_bits(PIX), _bits(CX)) == CODE


def test_t82_vector_decode():
    np.testing.assert_array_equal(qm.decode_decisions(CODE, _bits(CX)), _bits(PIX))


def test_spec_appendix_a_check_is_the_t82_vector():
    """Appendix A's check gives the decisions, contexts and code bytes of T.82 clause 7.1, and
    its DECODE (the spec's transcription) returns those decisions from those bytes."""
    text = SPEC.read_text()
    check = text[text.index("**Check** (T.82 clause 7.1"):text.index("**Probability table**")]
    pix, cx, code = (" ".join(b.split()) for b in check.split("```")[1::2])
    assert (pix, cx, bytes.fromhex(code)) == (PIX, CX, CODE)
    decoder = QMDecoder(bytes.fromhex(code), 2)
    assert [decoder.decode(int(c)) for c in _bits(cx)] == _bits(pix).tolist()


def test_t82_vector_through_array_api():
    pix, cx = _bits(PIX), _bits(CX)
    st = np.zeros(2, np.uint8)
    mps = np.zeros(2, np.uint8)
    state, out = qm.enc_init(qm.capacity_for(pix.size))
    for b, c in zip(pix, cx, strict=True):
        qm.enc_bit(state, out, st, mps, int(c), int(b))
    n = qm.enc_flush(state, out)
    assert out[:n].tobytes() == CODE
    # st/mps are the caller's: after the run they hold adapted, valid states
    assert st.max() < qm.NSTATES and mps.max() <= 1 and st.any()

    data = np.frombuffer(CODE, np.uint8)
    st[:] = 0
    mps[:] = 0
    dstate = qm.dec_init(data)
    got = [qm.dec_bit(dstate, data, st, mps, int(c)) for c in cx]
    assert got == pix.tolist()


def test_decoder_stops_at_marker_and_pads_zeros():
    cx = _bits(CX)
    expect = _bits(PIX)
    # a marker after the code, trailing zero bytes, or garbage after a marker change nothing
    for tail in (b"\xff\x02", b"\x00\x00\x00", b"\xff\x02\x12\x34\xff\x00", b"\xff"):
        np.testing.assert_array_equal(qm.decode_decisions(CODE + tail, cx), expect)


def test_tables_are_consistent():
    assert qm.LSZ.shape == qm.NMPS.shape == qm.NLPS.shape == qm.SWTCH.shape == (113,)
    assert qm.NMPS.max() < 113 and qm.NLPS.max() < 113
    assert qm.LSZ.min() == 1 and qm.LSZ.max() < 0x8000
    # the states with SWTCH set are exactly the ones with LSZ near one half
    assert set(np.flatnonzero(qm.SWTCH)) == {0, 14, 36, 64, 80, 88, 95, 105, 110, 112}


@pytest.mark.parametrize("p1", [0.5, 0.1, 0.01, 0.0005])
def test_roundtrip_random(p1):
    rng = np.random.default_rng(int(p1 * 10000) + 7)
    n = 40000
    cxs = rng.integers(0, 37, n)
    bits = (rng.random(n) < np.where(cxs % 2 == 0, p1, 1 - p1)).astype(np.uint8)
    code = qm.encode_decisions(bits, cxs)
    assert _no_false_marker(code)
    assert not code or code[-1] != 0 or code[-2] == 0xFF  # trailing zeros removed
    np.testing.assert_array_equal(qm.decode_decisions(code, cxs), bits)
    # skewed decisions compress: at most 10% over the entropy, plus learning (a byte a context)
    h = -(p1 * np.log2(p1) + (1 - p1) * np.log2(1 - p1))
    assert len(code) <= n * h / 8 * 1.10 + 37 + 8


def test_carries_and_ff_runs_roundtrip():
    """Long MPS runs in one context push the code through 0xFF runs and carries."""
    rng = np.random.default_rng(3)
    for _ in range(30):
        n = int(rng.integers(1, 3000))
        bits = np.ones(n, np.uint8)
        bits[rng.integers(0, n, int(rng.integers(0, 4)))] = 0
        if rng.random() < 0.5:
            bits ^= 1
        cxs = np.zeros(n, np.int64)
        code = qm.encode_decisions(bits, cxs)
        assert _no_false_marker(code)
        np.testing.assert_array_equal(qm.decode_decisions(code, cxs), bits)


def test_capacity_bound_with_adversarial_decisions():
    """Always coding the LPS is the worst case; the documented bound must hold."""
    n = 5000
    st = np.zeros(1, np.uint8)
    mps = np.zeros(1, np.uint8)
    state, out = qm.enc_init(qm.capacity_for(n))
    bits = []
    for _ in range(n):
        b = 1 - int(mps[0])  # the LPS of the current estimate
        bits.append(b)
        qm.enc_bit(state, out, st, mps, 0, b)
    k = qm.enc_flush(state, out)
    assert 0 < k <= qm.capacity_for(n)
    np.testing.assert_array_equal(
        qm.decode_decisions(out[:k].tobytes(), np.zeros(n, np.int64)), bits
    )


def test_overflow_is_flagged_and_never_writes_past_out():
    big = np.full(64, 0xAB, np.uint8)
    out = big[:5]
    state, _ = qm.enc_init(0)
    st = np.zeros(4, np.uint8)
    mps = np.zeros(4, np.uint8)
    rng = np.random.default_rng(0)
    for b in rng.integers(0, 2, 500):
        qm.enc_bit(state, out, st, mps, 3, int(b))  # incompressible
    assert qm.enc_flush(state, out) == -1
    assert (big[5:] == 0xAB).all()


def test_decoder_on_garbage_is_bounded():
    rng = np.random.default_rng(11)
    for size in (0, 1, 2, 3, 17, 400):
        data = rng.integers(0, 256, size).astype(np.uint8).tobytes()
        cxs = rng.integers(0, 5, 3000)
        bits = qm.decode_decisions(data, cxs)
        assert bits.shape == (3000,) and bits.max(initial=0) <= 1


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        qm.encode_decisions([0, 2], [0, 0])
    with pytest.raises(ValueError):
        qm.encode_decisions([0, 1], [0])
    with pytest.raises(ValueError):
        qm.decode_decisions(b"", [-1])


def test_spec_appendix_table_is_the_coders():
    """The probability table printed in spec/FORMAT.md appendix A is the one the coder uses."""
    table = spec_qm_table()
    assert [row[0] for row in table] == qm.LSZ.tolist()
    assert [row[1] for row in table] == qm.NMPS.tolist()
    assert [row[2] for row in table] == qm.NLPS.tolist()
    assert [row[3] for row in table] == qm.SWTCH.tolist()


def test_spec_appendix_decoder_decodes_the_t82_vector_and_random_codes():
    """A plain transcription of appendix A's procedures (tests/conformance/reference_decoder.py)
    decodes T.82's test sequence and agrees with the coder on random decisions, markers and
    truncated codes (reading zeros past the end)."""
    dec = QMDecoder(CODE, 2)
    assert [dec.decode(int(c)) for c in _bits(CX)] == _bits(PIX).tolist()
    rng = np.random.default_rng(17)
    for trial in range(40):
        n = int(rng.integers(1, 400))
        cxs = rng.integers(0, 5, n)
        bits = (rng.random(n) < rng.random()).astype(np.uint8)
        code = qm.encode_decisions(bits, cxs)
        if trial % 3 == 1:
            code = code[: len(code) // 2]
        elif trial % 3 == 2:
            code = code + b"\xff\x02" + bytes(rng.integers(0, 256, 5, dtype=np.uint8))
        dec = QMDecoder(code, 5)
        got = [dec.decode(int(c)) for c in cxs]
        assert got == qm.decode_decisions(code, cxs).tolist()
        if trial % 3 != 1:
            assert got == bits.tolist()
