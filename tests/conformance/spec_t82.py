"""Appendix B of spec/FORMAT.md in plain Python: a T.82 plane decoder written from the spec
text, with appendix A's QM decoder as tests/reference_decoder.py transcribes it.

It serves the tests only: they check it against JBIG-KIT on the corpus planes and the spec's
check, and with ``misread`` it decodes as one of the readings appendix B rules out, to show
that the golden corpus tells each of them apart from the right one:

- ``"yat-from-image-top"``: an ATMOVE's yAT counted from the top of the image;
- ``"sdrst-keeps-lines"``: SDRST resets the context states but not the lines above;
- ``"reset-every-stripe"``: the context states start again at every stripe.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
from reference_decoder import QMDecoder

ESC = 0xFF
STUFF, SDNORM, SDRST, ABORT, NEWLEN, ATMOVE, COMMENT = 0x00, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
LRLTWO, VLENGTH, TPBON = 0x40, 0x20, 0x08
DPON, DPPRIV, DPLAST = 0x04, 0x02, 0x01
TPCX = {False: 0x0E5, True: 0x195}
MISREADINGS = ("yat-from-image-top", "sdrst-keeps-lines", "reset-every-stripe")


class T82Error(ValueError):
    """Appendix B says this BIE is an error."""


@dataclass
class Layout:
    """What the reader loop of appendix B finds in a BIE."""

    xd: int
    yd: int
    l0: int
    mx: int
    my: int
    options: int
    height: int = 0  # the final H
    stripes: list = field(default_factory=list)  # (PSCD bytes, closing code)
    atmoves: list = field(default_factory=list)  # (stripe, yAT, tx, ty), in the order read
    newlens: list = field(default_factory=list)  # (stripes closed before it, YD')
    comments: list = field(default_factory=list)  # the COMMENT texts

    def needed(self) -> int:
        return -(-self.height // self.l0)


def layout(bie: bytes) -> Layout:
    """The reader loop, floating segments and checks of appendix B."""
    if len(bie) < 20:
        raise T82Error("BIE shorter than its header")
    _dl, _d, _p, _fill, xd, yd, l0, mx, my, _order, options = struct.unpack(
        ">BBBBIIIBBBB", bie[:20])
    lay = Layout(xd, yd, l0, mx, my, options, height=yd)
    pos = 20
    if options & (DPON | DPPRIV | DPLAST) == DPON | DPPRIV:
        pos += 1728
    n = len(bie)

    def u32(i: int) -> int:
        if i + 4 > n:
            raise T82Error("marker segment runs past the end")
        return int.from_bytes(bie[i:i + 4], "big")

    def floating(code: int) -> None:
        nonlocal pos
        if code == NEWLEN:
            new = u32(pos + 2)
            if not options & VLENGTH or not 1 <= new <= lay.height:
                raise T82Error(f"NEWLEN to {new}")
            lay.height = new
            lay.newlens.append((len(lay.stripes), new))
            pos += 6
        elif code == ATMOVE:
            yat = u32(pos + 2)
            if pos + 8 > n:
                raise T82Error("marker segment runs past the end")
            tx, ty = struct.unpack(">bB", bie[pos + 6:pos + 8])
            if abs(tx) > mx or ty > my or (ty == 0 and tx < 0) or yat >= l0:
                raise T82Error(f"ATMOVE ({yat}, {tx}, {ty})")
            lay.atmoves.append((len(lay.stripes), yat, tx, ty))
            pos += 8
        elif code == COMMENT:
            lc = u32(pos + 2)
            if pos + 6 + lc > n:
                raise T82Error("marker segment runs past the end")
            lay.comments.append(bie[pos + 6:pos + 6 + lc])
            pos += 6 + lc
        else:
            raise T82Error(f"marker 0xFF {code:#04x}")

    while len(lay.stripes) < lay.needed():
        if pos + 1 < n and bie[pos] == ESC and bie[pos + 1] not in (STUFF, SDNORM, SDRST):
            floating(bie[pos + 1])
            continue
        end = pos
        while end + 1 < n and not (bie[end] == ESC and bie[end + 1] != STUFF):
            end += 2 if bie[end] == ESC else 1
        if end + 1 >= n:
            raise T82Error(f"the data end inside stripe {len(lay.stripes)}")
        if bie[end + 1] not in (SDNORM, SDRST):
            raise T82Error(f"marker 0xFF {bie[end + 1]:#04x} ends a PSCD")
        lay.stripes.append((bie[pos:end], bie[end + 1]))
        pos = end + 2
    while (options & VLENGTH and pos + 1 < n and bie[pos] == ESC
           and bie[pos + 1] in (NEWLEN, ATMOVE, COMMENT)):
        floating(bie[pos + 1])
    for s, yat, _tx, _ty in lay.atmoves:
        if s < lay.needed() and s * l0 + yat >= lay.height:
            raise T82Error("ATMOVE below the last line")
    return lay


def decode(bie: bytes, misread: str | None = None, slntp: list | None = None) -> np.ndarray:
    """The plane (bool, True = 1) of a BIE, by appendix B's pseudo-code; the SLNTP decisions
    are appended to ``slntp`` when it is given."""
    if misread not in (None, *MISREADINGS):
        raise ValueError(misread)
    lay = layout(bie)
    two_line = bool(lay.options & LRLTWO)
    w, h, l0 = lay.xd, lay.height, lay.l0
    rows = np.zeros((h, w), np.uint8)
    top = 0

    def pixel(y: int, x: int) -> int:
        if x < 0 or x >= w or y < top:
            return 0
        return int(rows[y, x])

    st = [0] * 1024
    mps = [0] * 1024
    tx = ty = 0
    lntp = 1
    for s in range(lay.needed()):
        pscd, _ = lay.stripes[s]
        reset = s > 0 and lay.stripes[s - 1][1] == SDRST
        if reset or (misread == "reset-every-stripe" and s > 0):
            st = [0] * 1024
            mps = [0] * 1024
        if reset:
            tx = ty = 0
            lntp = 1
            if misread != "sdrst-keeps-lines":
                top = s * l0
        qm = QMDecoder(pscd, 0)
        qm.st, qm.mps = st, mps  # the states carry over: only A, C, CT start again
        y0 = s * l0
        for y in range(y0, min(y0 + l0, h)):
            for m_s, yat, m_tx, m_ty in lay.atmoves:
                line = yat if misread == "yat-from-image-top" else y0 + yat
                if (m_s == s or misread == "yat-from-image-top") and line == y:
                    tx, ty = m_tx, m_ty
            if lay.options & TPBON:
                bit = qm.decode(TPCX[two_line])
                if slntp is not None:
                    slntp.append(bit)
                lntp = 1 - (bit ^ lntp)
                if lntp == 0:
                    rows[y] = [pixel(y - 1, x) for x in range(w)]
                    continue
            for x in range(w):
                at = pixel(y - 1, x + 2) if (tx, ty) == (0, 0) else pixel(y - ty, x - tx)
                if two_line:
                    bits = (pixel(y - 1, x - 3), pixel(y - 1, x - 2), pixel(y - 1, x - 1),
                            pixel(y - 1, x), pixel(y - 1, x + 1), at,
                            pixel(y, x - 4), pixel(y, x - 3), pixel(y, x - 2), pixel(y, x - 1))
                else:
                    bits = (pixel(y - 2, x - 1), pixel(y - 2, x), pixel(y - 2, x + 1),
                            pixel(y - 1, x - 2), pixel(y - 1, x - 1), pixel(y - 1, x),
                            pixel(y - 1, x + 1), at, pixel(y, x - 2), pixel(y, x - 1))
                cx = 0
                for b in bits:
                    cx = (cx << 1) | b
                rows[y, x] = qm.decode(cx)
    return rows.astype(bool)
