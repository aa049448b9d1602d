"""Numba kernels of the T.82 bi-level coder (sequential, lowest resolution layer).

The image lives in a padded ``uint8`` buffer: buffer row 0 is all zeros and stands for every
line above the image (or above a stripe that follows an SDRST); image line y is buffer row
y + 1, with its pixels in columns PAD .. PAD + width - 1 and zeros in PAD columns on both
sides, so that template and adaptive-template (AT) pixels outside the image read as 0 without
bounds checks (|tx| <= 127 < PAD).

Context numbering (T.82 Figures 3 and 4, bit 9 first):
    three-line: (y-2: x-1 x x+1) (y-1: x-2 x-1 x x+1 A) (y: x-2 x-1)
    two-line:   (y-1: x-3 x-2 x-1 x x+1 A) (y: x-4 x-3 x-2 x-1)
where A is the pixel (y-1, x+2) by default, or the AT pixel (y-ty, x-tx) after an ATMOVE.
The typical-prediction pseudo pixel SLNTP uses context 0x0E5 (three-line) or 0x195 (two-line).

The QM coder itself is :mod:`PIL_ipc.format.qm`; its scalar cores are called here so that the coder
registers stay in machine registers over a whole stripe.
"""

from __future__ import annotations

import numpy as np

from .._kernel_cache import kernel
from .qm import BYTES, DATA, core, dec_core, dec_start, enc_core, enc_flush_core

PAD = 128
NCX = 1024
TPB3CX = 0x0E5
TPB2CX = 0x195
#: numba type of the padded image buffer
BUFFER = "uint8[:, ::1]"


@kernel("boolean")
def _template(lrltwo):
    """(width of the y-1 window, width of the line-y window, SLNTP context) of a template.

    The y-1 window ends at x+2 and sits above the line-y window in the context, so the AT
    bit (replacing x+2) is bit n0.
    """
    if lrltwo:
        return 6, 4, TPB2CX
    return 5, 2, TPB3CX


@kernel("int64, int64, int64, int64, boolean, int64")
def _context(w2, w1, w0, n0, at_on, at_pixel):
    """Context index from the template windows, with the AT pixel if one is set."""
    if at_on:
        w1 = (w1 & ~np.int64(1)) | at_pixel
    return (w2 << 7) | (w1 << n0) | w0


@core(f"int64, int64, int64, int64, {BYTES}, {BYTES}, int64, int64, int64")
def _advance(w2, w1, w0, bit, row2, row1, i, n1, n0):
    """Slide the template windows from pixel i to i + 1."""
    w2 = ((w2 << 1) & 7) | row2[i + 2]
    w1 = ((w1 << 1) & ((1 << n1) - 1)) | row1[i + 3]
    w0 = ((w0 << 1) & ((1 << n0) - 1)) | bit
    return w2, w1, w0


@kernel(f"{BYTES}, {BYTES}, {BYTES}, int64, int64")
def _windows(row2, row1, row0, n1, n0):
    """Template windows at x = 0: y-2 (x-1..x+1), y-1 (..x+2), y (x-n0..x-1)."""
    w2 = (row2[PAD - 1] << 2) | (row2[PAD] << 1) | row2[PAD + 1]
    w1 = 0
    for k in range(3 - n1, 3):
        w1 = (w1 << 1) | row1[PAD + k]
    w0 = 0
    for k in range(-n0, 0):
        w0 = (w0 << 1) | row0[PAD + k]
    return np.int64(w2), np.int64(w1), np.int64(w0)


@kernel(f"{BUFFER}, int64, int64, int64")
def lines_equal(buf, ra, rb, width):
    """True if buffer rows ra and rb hold the same line."""
    for i in range(PAD, PAD + width):
        if buf[ra, i] != buf[rb, i]:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Encoder


@kernel(f"{BUFFER}, int64, int64, int64, boolean, boolean, int64, {BYTES}, {BYTES}, int64, {BYTES}")
def encode_stripe(buf, y0, y1, width, lrltwo, tpbon, tx, st, mps, ltp_old, out):
    """Code image lines y0..y1-1 as one PSCD into ``out`` (terminated, trailing zeros removed).

    ``st``/``mps`` carry the context states over stripes (SDNORM); ``ltp_old`` is 1 if the line
    before y0 was typical (TPBON).  AT pixel (tx, 0), tx = 0 for the default position.
    Returns (byte count or -1 on overflow, ltp_old after the stripe).
    """
    n1, n0, tpcx = _template(lrltwo)
    c = np.int64(0)
    a = np.int64(0x10000)
    ct = np.int64(11)
    sc = np.int64(0)
    hold = np.int64(-1)
    pos = np.int64(0)
    ovf = np.int64(0)
    for y in range(y0, y1):
        r0 = y + 1
        r1 = y
        r2 = y - 1 if (y >= 1 and not lrltwo) else 0
        if tpbon:
            ltp = 1 if lines_equal(buf, r0, r1, width) else 0
            c, a, ct, sc, hold, pos, ovf = enc_core(
                out, st, mps, tpcx, 1 if ltp == ltp_old else 0, c, a, ct, sc, hold, pos, ovf
            )
            ltp_old = ltp
            if ltp:
                continue
        row0 = buf[r0]
        row1 = buf[r1]
        row2 = buf[r2]
        w2, w1, w0 = _windows(row2, row1, row0, n1, n0)
        for i in range(PAD, PAD + width):
            cx = _context(w2, w1, w0, n0, tx != 0, np.int64(row0[i - tx]))
            bit = np.int64(row0[i])
            c, a, ct, sc, hold, pos, ovf = enc_core(
                out, st, mps, cx, bit, c, a, ct, sc, hold, pos, ovf
            )
            w2, w1, w0 = _advance(w2, w1, w0, bit, row2, row1, i, n1, n0)
    pos, ovf = enc_flush_core(out, 0, c, a, ct, sc, hold, pos, ovf)
    return (-1 if ovf else pos), ltp_old


@kernel(f"{BUFFER}, int64, int64, int64, int64, boolean")
def at_scores(buf, y0, y1, width, mx, lrltwo):
    """Agreement counts ranking AT positions for lines y0..y1-1.

    Only pixels that differ from their left neighbour count (elsewhere the fixed template
    already predicts well).  scores[t] (t >= 3, or >= 5 with the two-line template) counts
    those where the pixel t to the left is equal; scores[0] does the same for the default
    position (y-1, x+2).
    """
    scores = np.zeros(mx + 1, np.int64)
    tmin = 5 if lrltwo else 3
    for y in range(y0, y1):
        row0 = buf[y + 1]
        row1 = buf[y]
        for i in range(PAD + 1, PAD + width):
            p = row0[i]
            if p == row0[i - 1]:
                continue
            if row1[i + 2] == p:
                scores[0] += 1
            for t in range(tmin, mx + 1):
                if row0[i - t] == p:
                    scores[t] += 1
    return scores


# ---------------------------------------------------------------------------------------------
# Decoder


@kernel(f"{DATA}, int64[:, ::1], int64[:, ::1], int64, int64, int64, boolean, boolean, {BUFFER}")
def decode_image(data, stripes, atmoves, height, width, l0, lrltwo, tpbon, buf):
    """Decode all stripes of a BIE into ``buf`` (padded layout, rows 1..height).

    Row k of ``stripes`` is (start, end, reset): stripe k's PSCD is data[start:end], reset = 1
    if it ended with SDRST.  Each row (stripe, line, tx, ty) of ``atmoves`` (sorted by stripe,
    then line) moves the AT pixel to (tx, ty) from that line of that stripe on.  All indices
    were validated by the caller.
    """
    n1, n0, tpcx = _template(lrltwo)
    st = np.zeros(NCX, np.uint8)
    mps = np.zeros(NCX, np.uint8)
    tx = 0
    ty = 0
    lntp = 1
    top = 0  # first line of the image or of the stripes since the last SDRST
    k_at = 0
    n_at = atmoves.shape[0]
    nstripes = (height + l0 - 1) // l0
    for s in range(nstripes):
        if s > 0 and stripes[s - 1, 2]:
            st[:] = 0
            mps[:] = 0
            tx = 0
            ty = 0
            lntp = 1
            top = s * l0
        end = stripes[s, 1]
        a, c, ct, pos = dec_start(data, stripes[s, 0], end)
        y0 = s * l0
        y1 = min(y0 + l0, height)
        for y in range(y0, y1):
            while k_at < n_at and atmoves[k_at, 0] == s and atmoves[k_at, 1] == y - y0:
                tx = atmoves[k_at, 2]
                ty = atmoves[k_at, 3]
                k_at += 1
            r0 = y + 1
            r1 = y if y - 1 >= top else 0
            r2 = y - 1 if (y - 2 >= top and not lrltwo) else 0
            if tpbon:
                slntp, a, c, ct, pos = dec_core(data, end, st, mps, tpcx, a, c, ct, pos)
                lntp = 1 - (slntp ^ lntp)
                if lntp == 0:
                    # a loop, not a slice assignment: numba compiles the latter with its
                    # shape-mismatch error message, 2.5 s of the first decode's compiling
                    for x in range(PAD, PAD + width):
                        buf[r0, x] = buf[r1, x]
                    continue
            row0 = buf[r0]
            row1 = buf[r1]
            row2 = buf[r2]
            at_on = tx != 0 or ty != 0
            if ty == 0:
                rat = r0
            elif y - ty >= top:
                rat = y - ty + 1
            else:
                rat = 0
            rowa = buf[rat]
            w2, w1, w0 = _windows(row2, row1, row0, n1, n0)
            for i in range(PAD, PAD + width):
                cx = _context(w2, w1, w0, n0, at_on, np.int64(rowa[i - tx]))
                bit, a, c, ct, pos = dec_core(data, end, st, mps, cx, a, c, ct, pos)
                row0[i] = bit
                w2, w1, w0 = _advance(w2, w1, w0, bit, row2, row1, i, n1, n0)
