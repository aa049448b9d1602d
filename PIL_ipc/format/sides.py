"""Edge-pixel sides (format version 5, the SIDE chunk; spec/FORMAT.md section 8.1).

The PDE gives an edge pixel the mean of its neighbours, a mixture of the two sides of the edge;
the pixel of a drawn or rendered edge belongs to one of them.  A SIDE chunk says, for each
*eligible* edge pixel, whether the mean stands (MEAN) or the pixel takes the value of its
brightest (HIGH) or darkest (LOW) *candidate* after the band phase, and is then data of the
Laplace phase.

- A candidate of an edge pixel is a 4-neighbour inside the image, in the order up, left, right,
  down, whose value is known before the Laplace phase: a stored pixel, or a band row (a band
  pixel, not stored, with a band 4-neighbour).
- The eligible pixels are the edge pixels that are not stored and have a candidate, in raster
  order.
- Each eligible pixel codes decision A (1: HIGH or LOW) under context ``c``, and when A is 1,
  decision B (1: LOW) under context 8 + c, with the QM coder (spec appendix A), where
  c = 4 * [a neighbour took HIGH] + 2 * [a neighbour took LOW] + [a neighbour kept MEAN] over
  the eligible pixels among its left, up-left, up and up-right neighbours (coded before it).

HIGH and LOW pick among values the band phase computed: max and min move no value by more than
the band's own error, so the decoder's certificate holds as before.
"""

from __future__ import annotations

import numpy as np

from .._kernel_cache import kernel
from . import qm

#: A pixel's choice: the PDE's mean (no data), its brightest or its darkest candidate.
MEAN, HIGH, LOW = 0, 1, 2
N_CONTEXTS = 16


@kernel("boolean[:, ::1], boolean[:, ::1], boolean[:, ::1], int64[::1], int64[:, ::1]")
def _eligible(edges, known, band, positions, candidates) -> int:
    """Fill positions (flat, raster order) and candidates (flat, -1: none) of the eligible
    edge pixels; returns their count (the arrays hold room for every edge pixel)."""
    h, w = edges.shape
    n = 0
    for y in range(h):
        for x in range(w):
            if not edges[y, x] or known[y, x]:
                continue
            found = 0
            for k in range(4):  # up, left, right, down
                dy = -1 if k == 0 else 1 if k == 3 else 0
                dx = -1 if k == 1 else 1 if k == 2 else 0
                yy, xx = y + dy, x + dx
                candidates[n, k] = -1
                if yy < 0 or yy >= h or xx < 0 or xx >= w:
                    continue
                ok = known[yy, xx]
                if not ok and band[yy, xx]:
                    # a band row: a band pixel, not stored, with a band 4-neighbour
                    ok = ((yy > 0 and band[yy - 1, xx]) or (yy + 1 < h and band[yy + 1, xx])
                          or (xx > 0 and band[yy, xx - 1]) or (xx + 1 < w and band[yy, xx + 1]))
                if ok:
                    candidates[n, k] = yy * w + xx
                    found += 1
            if found:
                positions[n] = y * w + x
                n += 1
    return n


def eligible(edges: np.ndarray, known: np.ndarray, band: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """(positions (n,) int64 flat raster order, candidates (n, 4) int64 flat, -1: none) of the
    eligible edge pixels of an edge plane, the stored pixels and the band (H x W bool)."""
    e = np.ascontiguousarray(edges, dtype=np.bool_)
    room = int(e.sum())
    positions = np.empty(room, dtype=np.int64)
    candidates = np.empty((room, 4), dtype=np.int64)
    n = _eligible(e, np.ascontiguousarray(known, dtype=np.bool_),
                  np.ascontiguousarray(band, dtype=np.bool_), positions, candidates)
    return positions[:n].copy(), candidates[:n].copy()


@kernel("int64, int64, int64, int8[::1]")
def _context(p, h, w, state) -> int:
    """Context class of the pixel at flat index p: state holds 0 (not eligible) or 1 + the
    choice of each eligible pixel coded so far."""
    y, x = p // w, p % w
    c = 0
    for k in range(4):  # left, up-left, up, up-right: coded before p
        dy = 0 if k == 0 else -1
        dx = -1 if k < 2 else 0 if k == 2 else 1
        yy, xx = y + dy, x + dx
        if yy < 0 or xx < 0 or xx >= w:
            continue
        s = state[yy * w + xx]
        if s == 1 + HIGH:
            c |= 4
        elif s == 1 + LOW:
            c |= 2
        elif s == 1 + MEAN:
            c |= 1
    return c


@kernel("uint8[::1], int64[::1], int64, int64, int64")
def _code(choices, positions, h, w, capacity):
    state, out = qm.enc_init(capacity)
    st = np.zeros(N_CONTEXTS, dtype=np.uint8)
    mps = np.zeros(N_CONTEXTS, dtype=np.uint8)
    seen = np.zeros(h * w, dtype=np.int8)
    for i in range(positions.shape[0]):
        p = positions[i]
        c = _context(p, h, w, seen)
        ch = choices[i]
        qm.enc_bit(state, out, st, mps, c, 1 if ch != MEAN else 0)
        if ch != MEAN:
            qm.enc_bit(state, out, st, mps, 8 + c, 1 if ch == LOW else 0)
        seen[p] = 1 + ch
    return out, qm.enc_flush(state, out)


@kernel(f"{qm.DATA}, int64[::1], int64, int64, uint8[::1]")
def _decode(data, positions, h, w, choices) -> None:
    state = qm.dec_init(data)
    st = np.zeros(N_CONTEXTS, dtype=np.uint8)
    mps = np.zeros(N_CONTEXTS, dtype=np.uint8)
    seen = np.zeros(h * w, dtype=np.int8)
    for i in range(positions.shape[0]):
        p = positions[i]
        c = _context(p, h, w, seen)
        ch = MEAN
        if qm.dec_bit(state, data, st, mps, c) != 0:
            ch = LOW if qm.dec_bit(state, data, st, mps, 8 + c) != 0 else HIGH
        choices[i] = ch
        seen[p] = 1 + ch


def _checked_positions(positions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    pos = np.ascontiguousarray(positions, dtype=np.int64)
    h, w = shape
    if pos.ndim != 1 or (pos.size and (pos.min() < 0 or pos.max() >= h * w
                                       or np.any(np.diff(pos) <= 0))):
        raise ValueError("positions must be increasing flat indices inside the image")
    return pos


def encode(choices: np.ndarray, positions: np.ndarray, shape: tuple[int, int]) -> bytes:
    """Code the choices (MEAN, HIGH, LOW) of the eligible pixels at ``positions``."""
    ch = np.ascontiguousarray(choices, dtype=np.uint8)
    pos = _checked_positions(positions, shape)
    if ch.shape != pos.shape or (ch.size and ch.max() > LOW):
        raise ValueError("one choice (0, 1 or 2) per eligible pixel")
    out, n = _code(ch, pos, int(shape[0]), int(shape[1]), qm.capacity_for(2 * ch.size))
    return out[:n].tobytes()


def decode(payload: bytes, positions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The choices (uint8: MEAN, HIGH, LOW) of the eligible pixels at ``positions``; a payload
    cut short reads as zero bytes (spec appendix A), so any payload decodes."""
    pos = _checked_positions(positions, shape)
    out = np.zeros(pos.shape[0], dtype=np.uint8)
    if pos.size:
        _decode(np.frombuffer(bytes(payload), dtype=np.uint8), pos, int(shape[0]),
                int(shape[1]), out)
    return out


@kernel("float64[::1], int64[::1], int64[:, ::1], uint8[::1]")
def derive(u, positions, candidates, choices) -> None:
    """Set u (flat) at each eligible pixel that takes a side to its brightest (HIGH) or
    darkest (LOW) candidate's value in u; the first candidate in order among equal values."""
    for i in range(positions.shape[0]):
        c = choices[i]
        if c == MEAN:
            continue
        best = 0.0
        found = False
        for k in range(4):
            q = candidates[i, k]
            if q < 0:
                continue
            v = u[q]
            if not found or (c == HIGH and v > best) or (c == LOW and v < best):
                best = v
                found = True
        u[positions[i]] = best
