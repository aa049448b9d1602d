"""QM adaptive binary arithmetic coder of ITU-T T.82 (JBIG), clause 6.8.

The coder codes binary decisions (0 or 1) under a context index; every context keeps its own
adaptive probability estimate: a state index into the 113-entry table of T.82 Table 24 and the
current more probable symbol (MPS).  The same coder serves the JBIG bi-level coder (jbig.py)
and the value coder elsewhere in the package, both calling the numba kernels below from their
own njit kernels.

Numba-level API (all compiled with one signature each, ``_kernel_cache.kernel``; those that
allocate nothing also without reference counting, see ``core``):

* ``enc_init(capacity) -> (state, out)``; ``enc_bit(state, out, st, mps, cx, bit)``;
  ``enc_flush(state, out) -> n`` (bytes in ``out[:n]``, or -1 if ``out`` was too small).
* ``dec_init(data) -> state``; ``dec_bit(state, data, st, mps, cx) -> bit``.
* The same coder with the registers as plain values, for loops that keep them in locals:
  ``enc_core``, ``enc_flush_core``, ``dec_start``, ``dec_core`` (the array API wraps these).

Numba's on-disk cache of a caller's kernel does not notice edits of this module: after changing
it, delete the callers' cached ``*.nbi``/``*.nbc`` files (in ``_kernel_cache.kernel_cache_dir()``).

``st`` and ``mps`` are caller-owned ``uint8`` arrays, one entry per context, starting at zero
(``np.zeros(ncx, np.uint8)``): ``st[cx]`` is the probability state (0..112), ``mps[cx]`` the MPS.

Encoder state layout (``int64[8]``):
    0 C    code register (T.82 layout: carry bit 27, output byte bits 19..26, spacer 16..18,
           fraction 0..15)
    1 A    interval size (0x8000..0x10000 between decisions)
    2 CT   shifts left until the next output byte is complete
    3 SC   number of pending 0xFF bytes (they may still turn into 0x00 by a carry)
    4 BUF  last complete byte not yet written (it may still receive a carry); -1 = none
    5 POS  bytes written to ``out`` so far
    6 OVF  1 once a byte had to be dropped because ``out`` was full
    7      unused

Capacity bound: one decision renormalises at most 15 times (the smallest LSZ is 1), so it
completes at most two output bytes, each at most doubled by 0xFF 0x00 stuffing; the final
flush adds at most the pending bytes plus four.  ``4 * ndecisions + 64`` bytes always suffice.

Decoder state layout (``int64[8]``):
    0 A    interval size
    1 C    code register; its bits 16..31 are compared with A, bits 0..15 hold look-ahead
    2 CT   look-ahead bits left in C before the next byte must be read
    3 POS  index of the next byte of ``data`` to read
    4 END  index where the coded data end (``len(data)``)
    5..7   unused

Past END, and from a marker on (0xFF followed by anything but 0x00, or a final 0xFF), the
decoder reads 0x00 bytes, as T.82 decoders do at the end of a stripe.
"""

from __future__ import annotations

import numpy as np

from .._kernel_cache import kernel
from ..errors import CoderOverflow

# T.82 Table 24: LPS interval size (Qe), next state after an MPS, after an LPS, and whether an
# LPS swaps the sense of the MPS.
# fmt: off
LSZ = np.array([
    0x5a1d, 0x2586, 0x1114, 0x080b, 0x03d8, 0x01da, 0x00e5, 0x006f, 0x0036, 0x001a, 0x000d,
    0x0006, 0x0003, 0x0001, 0x5a7f, 0x3f25, 0x2cf2, 0x207c, 0x17b9, 0x1182, 0x0cef, 0x09a1,
    0x072f, 0x055c, 0x0406, 0x0303, 0x0240, 0x01b1, 0x0144, 0x00f5, 0x00b7, 0x008a, 0x0068,
    0x004e, 0x003b, 0x002c, 0x5ae1, 0x484c, 0x3a0d, 0x2ef1, 0x261f, 0x1f33, 0x19a8, 0x1518,
    0x1177, 0x0e74, 0x0bfb, 0x09f8, 0x0861, 0x0706, 0x05cd, 0x04de, 0x040f, 0x0363, 0x02d4,
    0x025c, 0x01f8, 0x01a4, 0x0160, 0x0125, 0x00f6, 0x00cb, 0x00ab, 0x008f, 0x5b12, 0x4d04,
    0x412c, 0x37d8, 0x2fe8, 0x293c, 0x2379, 0x1edf, 0x1aa9, 0x174e, 0x1424, 0x119c, 0x0f6b,
    0x0d51, 0x0bb6, 0x0a40, 0x5832, 0x4d1c, 0x438e, 0x3bdd, 0x34ee, 0x2eae, 0x299a, 0x2516,
    0x5570, 0x4ca9, 0x44d9, 0x3e22, 0x3824, 0x32b4, 0x2e17, 0x56a8, 0x4f46, 0x47e5, 0x41cf,
    0x3c3d, 0x375e, 0x5231, 0x4c0f, 0x4639, 0x415e, 0x5627, 0x50e7, 0x4b85, 0x5597, 0x504f,
    0x5a10, 0x5522, 0x59eb,
], dtype=np.int64)
NMPS = np.array([
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
    25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 9, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 32, 65, 66, 67, 68, 69, 70,
    71, 72, 73, 74, 75, 76, 77, 78, 79, 48, 81, 82, 83, 84, 85, 86, 87, 71, 89, 90, 91, 92, 93,
    94, 86, 96, 97, 98, 99, 100, 93, 102, 103, 104, 99, 106, 107, 103, 109, 107, 111, 109, 111,
], dtype=np.uint8)
NLPS = np.array([
    1, 14, 16, 18, 20, 23, 25, 28, 30, 33, 35, 9, 10, 12, 15, 36, 38, 39, 40, 42, 43, 45, 46,
    48, 49, 51, 52, 54, 56, 57, 59, 60, 62, 63, 32, 33, 37, 64, 65, 67, 68, 69, 70, 72, 73, 74,
    75, 77, 78, 79, 48, 50, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 61, 61, 65, 80, 81, 82, 83,
    84, 86, 87, 87, 72, 72, 74, 74, 75, 77, 77, 80, 88, 89, 90, 91, 92, 93, 86, 88, 95, 96, 97,
    99, 99, 93, 95, 101, 102, 103, 104, 99, 105, 106, 107, 103, 105, 108, 109, 110, 111, 110,
    112, 112,
], dtype=np.uint8)
# fmt: on
SWTCH = np.zeros(113, dtype=np.uint8)
SWTCH[[0, 14, 36, 64, 80, 88, 95, 105, 110, 112]] = 1

NSTATES = 113
STATE_LEN = 8

#: Numba types of the arguments: the coded bytes a decoder reads (read-only: they are usually
#: a view of the file's bytes), a byte buffer the encoder writes, the context states (``st``,
#: ``mps``) and the array state of the array API.
DATA = "Array(uint8, 1, 'C', readonly=True)"
BYTES = "uint8[::1]"
STATE = "int64[::1]"


def core(signature: str):
    """Decorator of the kernels that allocate nothing: compiled without numba's reference
    counting (private numba option ``_nrt``), so that a caller's per-decision loop passes its
    arrays without an atomic incref/decref per call; that alone made decoding about 7x
    faster."""
    return kernel(signature, _nrt=False)


def capacity_for(ndecisions: int) -> int:
    """Output capacity that always suffices for ``ndecisions`` decisions plus the flush."""
    return 4 * int(ndecisions) + 64


# ---------------------------------------------------------------------------------------------
# Scalar cores: the coder registers travel as plain integers so that callers looping over many
# decisions keep them in machine registers; the array-state API below wraps the same cores.


@core(f"{BYTES}, int64, int64, int64")
def _put(out, pos, ovf, b):
    """Write one byte if there is room; otherwise raise the overflow flag."""
    if pos < out.shape[0]:
        out[pos] = b
        return pos + 1, ovf
    return pos, 1


@core(f"{BYTES}, int64, int64, int64")
def _put_stuffed(out, pos, ovf, b):
    """Write a PSCD byte, following 0xFF by the 0x00 stuffing byte."""
    pos, ovf = _put(out, pos, ovf, b)
    if b == 0xFF:
        pos, ovf = _put(out, pos, ovf, 0)
    return pos, ovf


@core(f"{BYTES}, int64, int64, int64, int64, int64")
def _release(out, pos, ovf, buf, sc, carry):
    """Write the held byte and the ``sc`` pending 0xFF bytes; a carry turns those into 0x00."""
    if buf >= 0:
        pos, ovf = _put_stuffed(out, pos, ovf, buf + carry)
    for _ in range(sc):
        if carry:
            pos, ovf = _put(out, pos, ovf, 0)
        else:
            pos, ovf = _put_stuffed(out, pos, ovf, 0xFF)
    return pos, ovf


@core(f"{BYTES}, {BYTES}, {BYTES}" + ", int64" * 9)
def enc_core(out, st, mps, cx, bit, c, a, ct, sc, buf, pos, ovf):
    """Code one decision; registers in, registers out (ENCODE of T.82 Figure 23)."""
    q = st[cx]
    lsz = LSZ[q]
    a -= lsz
    if bit != mps[cx]:
        # LPS; the larger sub-interval goes to the LPS when the MPS one got smaller
        # (conditional exchange)
        if a >= lsz:
            c += a
            a = lsz
        if SWTCH[q]:
            mps[cx] = 1 - mps[cx]
        st[cx] = NLPS[q]
    else:
        if a >= 0x8000:
            return c, a, ct, sc, buf, pos, ovf
        if a < lsz:
            c += a
            a = lsz
        st[cx] = NMPS[q]
    while True:
        a <<= 1
        c <<= 1
        ct -= 1
        if ct == 0:
            temp = c >> 19
            if temp == 0xFF:
                sc += 1  # may still turn into 0x00 by a carry: hold it back
            else:
                pos, ovf = _release(out, pos, ovf, buf, sc, temp >> 8)
                sc = 0
                buf = temp & 0xFF
            c &= 0x7FFFF
            ct = 8
        if a >= 0x8000:
            break
    return c, a, ct, sc, buf, pos, ovf


@core(BYTES + ", int64" * 8)
def enc_flush_core(out, lo, c, a, ct, sc, buf, pos, ovf):
    """Terminate the code (FLUSH): pick the value in the interval with most trailing zeros.

    Returns the final (pos, ovf).  Trailing 0x00 bytes of the code, which starts at ``out[lo]``,
    are removed (T.82 decoders pad with zeros), except a 0x00 that stuffs a preceding 0xFF.
    """
    temp = (a - 1 + c) & 0xFFFF0000
    if temp < c:
        c = temp + 0x8000
    else:
        c = temp
    c <<= ct
    # zeros released by a final carry are trailing ones unless more bytes follow: the
    # trailing-zero removal below drops them
    pos, ovf = _release(out, pos, ovf, buf, sc, (c >> 27) & 1)
    if c & 0x7FFF800:
        pos, ovf = _put_stuffed(out, pos, ovf, (c >> 19) & 0xFF)
        if c & 0x7F800:
            pos, ovf = _put_stuffed(out, pos, ovf, (c >> 11) & 0xFF)
    if ovf == 0:
        while pos > lo and out[pos - 1] == 0 and not (pos - 2 >= lo and out[pos - 2] == 0xFF):
            pos -= 1
    return pos, ovf


@core(f"{DATA}, int64, int64")
def byte_in(data, end, pos):
    """Next PSCD byte at ``pos``: unstuffs 0xFF 0x00, yields 0 from a marker or ``end`` on."""
    if pos >= end:
        return 0, pos
    b = np.int64(data[pos])
    if b == 0xFF:
        if pos + 1 < end and data[pos + 1] == 0:
            return 0xFF, pos + 2
        return 0, end
    return b, pos + 1


@core(f"{DATA}, int64, int64")
def dec_start(data, start, end):
    """Registers (a, c, ct, pos) of a decoder reading ``data[start:end]``."""
    c = np.int64(0)
    pos = start
    for shift in (24, 16, 8):
        b, pos = byte_in(data, end, pos)
        c |= b << shift
    return np.int64(0x10000), c, np.int64(8), pos


@core(f"{DATA}, int64, {BYTES}, {BYTES}" + ", int64" * 5)
def dec_core(data, end, st, mps, cx, a, c, ct, pos):
    """Decode one decision; returns (bit, a, c, ct, pos) (DECODE of T.82 Figure 32)."""
    q = st[cx]
    lsz = LSZ[q]
    m = np.int64(mps[cx])
    a -= lsz
    if (c >> 16) < a:
        if a >= 0x8000:
            return m, a, c, ct, pos
        if a < lsz:
            bit = 1 - m
            if SWTCH[q]:
                mps[cx] = bit
            st[cx] = NLPS[q]
        else:
            bit = m
            st[cx] = NMPS[q]
    else:
        c -= a << 16
        if a < lsz:
            bit = m
            st[cx] = NMPS[q]
        else:
            bit = 1 - m
            if SWTCH[q]:
                mps[cx] = bit
            st[cx] = NLPS[q]
        a = lsz
    while a < 0x8000:
        if ct == 0:
            b, pos = byte_in(data, end, pos)
            c |= b << 8
            ct = 8
        a <<= 1
        c <<= 1
        ct -= 1
    return bit, a, c, ct, pos


# ---------------------------------------------------------------------------------------------
# Array-state API


@kernel("int64")
def enc_init(capacity: int):
    """Fresh encoder writing into a new ``uint8[capacity]`` buffer: returns (state, out)."""
    state = np.zeros(STATE_LEN, np.int64)
    state[1] = 0x10000
    state[2] = 11
    state[4] = -1
    out = np.zeros(max(capacity, 0), np.uint8)
    return state, out


@core(f"{STATE}, {BYTES}, {BYTES}, {BYTES}, int64, int64")
def enc_bit(state, out, st, mps, cx, bit):
    """Code one decision ``bit`` under context ``cx``."""
    c, a, ct, sc, buf, pos, ovf = enc_core(
        out,
        st,
        mps,
        cx,
        1 if bit else 0,
        state[0],
        state[1],
        state[2],
        state[3],
        state[4],
        state[5],
        state[6],
    )
    state[0] = c
    state[1] = a
    state[2] = ct
    state[3] = sc
    state[4] = buf
    state[5] = pos
    state[6] = ovf


@core(f"{STATE}, {BYTES}")
def enc_flush(state, out):
    """Terminate the code; returns the byte count in ``out`` or -1 if ``out`` overflowed."""
    pos, ovf = enc_flush_core(
        out, 0, state[0], state[1], state[2], state[3], state[4], state[5], state[6]
    )
    state[3] = 0
    state[4] = -1
    state[5] = pos
    state[6] = ovf
    return -1 if ovf else pos


@kernel(DATA)
def dec_init(data):
    """Decoder state reading the coded bytes ``data``."""
    state = np.zeros(STATE_LEN, np.int64)
    end = data.shape[0]
    state[0], state[1], state[2], state[3] = dec_start(data, 0, end)
    state[4] = end
    return state


@core(f"{STATE}, {DATA}, {BYTES}, {BYTES}, int64")
def dec_bit(state, data, st, mps, cx):
    """Decode one decision under context ``cx``."""
    end = min(state[4], data.shape[0])
    bit, state[0], state[1], state[2], state[3] = dec_core(
        data, end, st, mps, cx, state[0], state[1], state[2], state[3]
    )
    return bit


# ---------------------------------------------------------------------------------------------
# Python conveniences (used by tests and tools)


@kernel("uint8[::1], int64[::1], int64")
def _encode_run(bits, cxs, ncx):
    st = np.zeros(ncx, np.uint8)
    mps = np.zeros(ncx, np.uint8)
    state, out = enc_init(4 * bits.shape[0] + 64)  # capacity_for()
    for i in range(bits.shape[0]):
        enc_bit(state, out, st, mps, cxs[i], bits[i])
    n = enc_flush(state, out)
    return out[: max(n, 0)].copy(), n


@kernel(f"{DATA}, int64[::1], int64")
def _decode_run(data, cxs, ncx):
    st = np.zeros(ncx, np.uint8)
    mps = np.zeros(ncx, np.uint8)
    state = dec_init(data)
    bits = np.zeros(cxs.shape[0], np.uint8)
    for i in range(cxs.shape[0]):
        bits[i] = dec_bit(state, data, st, mps, cxs[i])
    return bits


def _contexts(contexts, n: int) -> tuple[np.ndarray, int]:
    cxs = np.ascontiguousarray(contexts, dtype=np.int64).ravel()
    if cxs.shape[0] != n:
        raise ValueError(f"{cxs.shape[0]} contexts for {n} decisions")
    if n and (cxs.min() < 0):
        raise ValueError("negative context index")
    ncx = int(cxs.max()) + 1 if n else 1
    return cxs, ncx


def encode_decisions(bits, contexts) -> bytes:
    """Code the decisions ``bits`` (0/1) under ``contexts``; returns the terminated code."""
    b = np.ascontiguousarray(bits, dtype=np.uint8).ravel()
    if b.size and b.max() > 1:
        raise ValueError("decisions must be 0 or 1")
    cxs, ncx = _contexts(contexts, b.shape[0])
    out, n = _encode_run(b, cxs, ncx)
    if n < 0:  # cannot happen with capacity_for(); kept as a guard
        raise CoderOverflow("QM output capacity exceeded")
    return out.tobytes()


def decode_decisions(data: bytes, contexts) -> np.ndarray:
    """Decode one decision per entry of ``contexts`` from ``data``; returns a uint8 array."""
    buf = np.frombuffer(bytes(data), dtype=np.uint8)
    cxs, ncx = _contexts(contexts, np.asarray(contexts).size)
    return _decode_run(buf, cxs, ncx)
