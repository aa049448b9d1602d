"""ITU-T T.82 (JBIG1) bi-level image coder: single-layer bi-level image entities (BIEs).

A BIE is the 20-byte bi-level image header (BIH) followed by stripe data entities: each stripe
of L0 lines is coded by the QM coder (:mod:`PIL_ipc.format.qm`) under a 10-pixel template and closed
by an SDNORM (or SDRST) marker; floating marker segments (ATMOVE, NEWLEN, COMMENT) may sit
between stripes.  Pixels are 1 = black = foreground.

Encoder: sequential, one resolution layer (D = 0), one plane, three- or two-line template,
typical prediction (TPBON), adaptive template (AT).  AT rule: before each stripe the encoder
ranks the AT positions tx = 3..mx (5..mx with the two-line template) and the default position
by how often they equal the coded pixel where that pixel differs from its left neighbour;
when the best-ranked position differs from the current one, it codes the stripe both ways and
keeps the ATMOVE (at line 0 of the stripe) only if the stripe plus the 8-byte marker segment
comes out shorter.  So AT moves never lengthen a stripe, and at most one ATMOVE precedes a
stripe (as the T.85 profile requires).

Encoder defaults, measured on 260 edge planes (Sobel magnitude of 26 corpus photos above its
80th to 99.5th percentile, plain and thinned; benchmarks/jbig_speed.py prints the table): one
stripe for the whole image (each stripe end costs its flush and marker bytes: L0 = 128 was
0.13% larger in total, L0 = 32 0.7%), the three-line template (two-line 4.8% larger), typical
prediction off (TPBON was 0.16% larger in total and smaller on only 57 of the 260 planes: the
all-white context already codes empty lines almost for free) and mx = 8 (AT hardly ever moves
on edge planes, where the totals of mx = 0, 8 and 127 differ by under 0.001%; it pays off on
halftones and dithering).  These defaults came out 1.9% smaller than ``pbmtojbg -q`` and 0.3%
smaller than ``pbmtojbg85``.

Decoder: every single-layer BIE (DL = D = 0, P = 1): both templates, TPBON, ATMOVE (any tx, ty
within MX and MY), SDNORM and SDRST, NEWLEN with VLENGTH, COMMENT, any L0 and width, a private
deterministic-prediction table (skipped: it only serves differential layers), and the T.85
profile.  Resolution layers or several bit planes raise :class:`JBIGError`.

Hostile input: :func:`decode` first walks the marker structure in Python (every length checked
against the data), then checks width x height against ``max_pixels`` (default
:data:`MAX_PIXELS`) before allocating the image, so every byte string ends in pixels or a
:class:`JBIGError` with memory bounded by the declared size and time bounded by it plus the
input length.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..errors import CoderOverflow, FormatError
from . import _jbig_kernels as K
from . import qm

#: Default pixel limit of :func:`decode`: twice Pillow's default MAX_IMAGE_PIXELS, the size at
#: which Pillow itself refuses an image as a decompression bomb.
MAX_PIXELS = 2 * 89_478_485

BIH_LEN = 20
DPTABLE_LEN = 1728

# Order byte (BIH byte 18) and options byte (byte 19)
HITOLO, SEQ, ILEAVE, SMID = 0x08, 0x04, 0x02, 0x01
LRLTWO, VLENGTH, TPDON, TPBON, DPON, DPPRIV, DPLAST = 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01

ESC, STUFF, RESERVE, SDNORM, SDRST, ABORT, NEWLEN, ATMOVE, COMMENT = (
    0xFF, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
)  # fmt: skip

_U32 = 0xFFFFFFFF
_FLOATING = (ATMOVE, NEWLEN, COMMENT)


class JBIGError(FormatError):
    """The bytes are not a BIE this decoder can read (malformed, hostile or unsupported)."""


class JBIGSizeError(JBIGError):
    """The BIE's image is larger than the caller allows."""


def size_allowed(info: Header, width: int, height: int) -> bool:
    """Whether a BIH may stand for a plane of ``width`` x ``height`` (spec section 5): XD
    equal to the width, YD equal to the height or, with VLENGTH, at least it (the final
    height, after NEWLEN, is checked on the decoded plane)."""
    return info.width == width and (info.height == height
                                    or (info.vlength and info.height > height))


@dataclass(frozen=True)
class Header:
    """The fields of a single-layer, single-plane BIH (DL = D = 0, P = 1).

    ``height`` is YD as declared; with VLENGTH a NEWLEN marker segment may lower it.
    """

    width: int
    height: int
    l0: int
    mx: int
    my: int
    order: int
    options: int

    @property
    def lrltwo(self) -> bool:
        """Two-line template."""
        return bool(self.options & LRLTWO)

    @property
    def tpbon(self) -> bool:
        """Typical prediction."""
        return bool(self.options & TPBON)

    @property
    def vlength(self) -> bool:
        """Height may be lowered by a NEWLEN marker segment."""
        return bool(self.options & VLENGTH)

    @property
    def dp_table(self) -> bool:
        """A private 1728-byte deterministic-prediction table follows the BIH."""
        return self.options & (DPON | DPPRIV | DPLAST) == DPON | DPPRIV


def read_header(bie: bytes) -> Header:
    """Parse and validate the 20-byte BIH only; raises JBIGError."""
    if len(bie) < BIH_LEN:
        raise JBIGError(f"BIE shorter than its {BIH_LEN}-byte header ({len(bie)} bytes)")
    dl, d, p, fill, xd, yd, l0, mx, my, order, options = struct.unpack(
        ">BBBBIIIBBBB", bytes(bie[:BIH_LEN])
    )
    if fill != 0 or order & 0xF0 or options & 0x80:
        raise JBIGError("BIH padding bits are not zero")
    if d != 0 or dl != 0:
        raise JBIGError(
            f"resolution layers are not supported (DL={dl}, D={d}); only single-layer BIEs"
        )
    if p != 1:
        raise JBIGError(f"{p} bit planes: only single-plane (bi-level, P=1) BIEs are supported")
    if xd == 0 or yd == 0:
        raise JBIGError(f"empty image size {xd} x {yd}")
    if l0 == 0:
        raise JBIGError("L0 (lines per stripe) is 0")
    if mx > 127:
        raise JBIGError(f"MX={mx} exceeds 127")
    if order & (SMID | ILEAVE | SEQ) in (SMID, SMID | ILEAVE | SEQ):  # illegal in T.82
        raise JBIGError(f"invalid order byte {order:#04x}")
    return Header(xd, yd, l0, mx, my, order, options)


def _stripes(height: int, l0: int) -> int:
    return -(-height // l0)


# ---------------------------------------------------------------------------------------------
# Encoder


def _as_plane(plane) -> np.ndarray:
    img = np.asarray(plane)
    if img.ndim != 2:
        raise ValueError(f"bi-level plane must be 2-D, got shape {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"empty plane {img.shape}")
    if img.shape[0] > _U32 or img.shape[1] > _U32:
        raise ValueError(f"plane {img.shape} too large for T.82")
    if img.dtype != np.bool_:
        if not np.issubdtype(img.dtype, np.integer) and not np.issubdtype(img.dtype, np.floating):
            raise ValueError(f"plane dtype {img.dtype} is not bool or 0/1")
        if not np.isin(img, (0, 1)).all():
            raise ValueError("plane values must be 0 or 1")
    return img


def _padded(img: np.ndarray) -> np.ndarray:
    """The kernels' buffer layout: zero row 0, image rows 1..h, PAD zero columns each side."""
    h, w = img.shape
    buf = np.zeros((h + 1, w + 2 * K.PAD), np.uint8)
    buf[1:, K.PAD : K.PAD + w] = img
    return buf


def _marker(code: int, payload: bytes = b"") -> bytes:
    return bytes((ESC, code)) + payload


def _code_stripe(buf, y0, y1, lrltwo, tpbon, tx, st, mps, ltp):
    """Code lines y0..y1-1 from copies of the context states: (PSCD, st, mps, ltp) after it."""
    width = buf.shape[1] - 2 * K.PAD
    decisions = (y1 - y0) * (width + 1)
    # half a byte per decision is far more than any real image needs; the documented QM
    # bound (qm.capacity_for) is the fallback
    for capacity in (decisions // 2 + 4096, qm.capacity_for(decisions)):
        st2, mps2 = st.copy(), mps.copy()
        out = np.empty(capacity, np.uint8)
        n, ltp2 = K.encode_stripe(buf, y0, y1, width, lrltwo, tpbon, tx, st2, mps2, ltp, out)
        if n >= 0:
            return out[:n].tobytes(), st2, mps2, ltp2
    raise CoderOverflow("a JBIG stripe exceeded the QM coder's output bound")


def encode(
    plane,
    *,
    l0: int | None = None,
    mx: int = 8,
    lrltwo: bool = False,
    tpbon: bool = True,
    order: int = 0,
) -> bytes:
    """Code a 2-D bool (1 = black) plane as a complete single-layer BIE.

    Typical prediction is on by default, as in JBIG-KIT; on thin edge planes it is a wash
    (0.16% larger over 260 planes), so the codec's encoder switches it off for them.

    ``l0`` lines per stripe (None: the whole image), ``mx`` the largest AT offset (0: no AT),
    ``lrltwo`` the two-line template, ``tpbon`` typical prediction, ``order`` the BIH order byte
    (meaningless for one layer and plane; 0 keeps the BIE within the T.85 profile, 3 is what
    JBIG-KIT's pbmtojbg writes).
    """
    img = _as_plane(plane)
    h, w = img.shape
    if l0 is None:
        l0 = h
    l0 = int(l0)
    if not 1 <= l0 <= _U32:
        raise ValueError(f"l0 must be in 1..2**32-1, got {l0}")
    mx = int(mx)
    if not 0 <= mx <= 127:
        raise ValueError(f"mx must be in 0..127, got {mx}")
    if not 0 <= order <= 15 or order & 7 in (SMID, SMID | ILEAVE | SEQ):
        raise ValueError(f"invalid order byte {order}")
    options = (LRLTWO if lrltwo else 0) | (TPBON if tpbon else 0)
    tmin = 5 if lrltwo else 3

    buf = _padded(img)
    parts = [struct.pack(">BBBBIIIBBBB", 0, 0, 1, 0, w, h, l0, mx, 0, order, options)]
    st = np.zeros(K.NCX, np.uint8)
    mps = np.zeros(K.NCX, np.uint8)
    ltp = 0
    tx = 0
    for y0 in range(0, h, l0):
        y1 = min(y0 + l0, h)
        coded = _code_stripe(buf, y0, y1, lrltwo, tpbon, tx, st, mps, ltp)
        piece = coded[0]
        if mx >= tmin:
            scores = K.at_scores(buf, y0, y1, w, mx, lrltwo)
            scores[1:tmin] = -1
            best = tx
            for t in range(mx + 1):
                if scores[t] > scores[best]:
                    best = t
            if best != tx:
                moved = _code_stripe(buf, y0, y1, lrltwo, tpbon, best, st, mps, ltp)
                if len(moved[0]) + 8 < len(piece):
                    tx = best
                    coded = moved
                    piece = _marker(ATMOVE, struct.pack(">IBB", 0, tx, 0)) + moved[0]
        parts.append(piece)
        parts.append(_marker(SDNORM))
        _, st, mps, ltp = coded
    return b"".join(parts)


# ---------------------------------------------------------------------------------------------
# Decoder


@dataclass
class _Layout:
    """Where the stripes of a BIE are and what its floating marker segments say."""

    height: int
    stripes: np.ndarray  # int64 (n, 3): PSCD start, PSCD end, 1 if closed by SDRST
    atmoves: np.ndarray  # int64 (m, 4): stripe, line in stripe, tx, ty; sorted


def _u32(data: bytes, i: int) -> int:
    return int.from_bytes(data[i : i + 4], "big")


def _walk(data: bytes, hdr: Header, start: int) -> _Layout:
    """Find the stripes and apply the floating marker segments, checking every length."""
    arr = np.frombuffer(data, np.uint8)
    ff = arr == ESC
    # marker candidates: 0xFF not followed by the 0x00 stuffing byte (or last byte)
    cand = np.flatnonzero(ff & np.append(arr[1:] != STUFF, True))
    cand = cand[cand >= start]
    n = len(data)
    height = hdr.height
    vlength = hdr.vlength
    stripes: list[tuple[int, int, int]] = []
    atmoves: list[tuple[int, int, int, int]] = []
    p = start
    ci = 0
    while True:
        if len(stripes) >= _stripes(height, hdr.l0):
            # the image is complete, but with VLENGTH a NEWLEN may still follow the last
            # stripe (T.85 encoders put it there): read the marker segments right after it
            if not (vlength and p + 1 < n and data[p] == ESC and data[p + 1] in _FLOATING):
                break
        ci += int(np.searchsorted(cand[ci:], p))
        if ci >= len(cand):
            raise JBIGError(
                f"BIE ends inside stripe {len(stripes)} of {_stripes(height, hdr.l0)} "
                "(no SDNORM/SDRST)"
            )
        k = int(cand[ci])
        if k + 1 >= n:
            raise JBIGError("BIE ends with a lone 0xFF byte")
        code = data[k + 1]
        if code in (SDNORM, SDRST):
            stripes.append((p, k, 1 if code == SDRST else 0))
            p = k + 2
            continue
        if k != p:
            raise JBIGError(f"marker 0xFF {code:#04x} at byte {k} inside stripe data")
        if code == ATMOVE:
            if k + 8 > n:
                raise JBIGError("ATMOVE marker segment runs past the end")
            yat = _u32(data, k + 2)
            tx = data[k + 6] - 256 if data[k + 6] >= 128 else data[k + 6]
            ty = data[k + 7]
            if abs(tx) > hdr.mx or ty > hdr.my or (ty == 0 and tx < 0):
                raise JBIGError(f"ATMOVE to ({tx}, {ty}) outside MX={hdr.mx}, MY={hdr.my}")
            if yat >= hdr.l0:
                raise JBIGError(f"ATMOVE at line {yat} of a {hdr.l0}-line stripe")
            atmoves.append((len(stripes), yat, tx, ty))
            p = k + 8
        elif code == NEWLEN:
            if k + 6 > n:
                raise JBIGError("NEWLEN marker segment runs past the end")
            new = _u32(data, k + 2)
            if not vlength:
                raise JBIGError("NEWLEN marker segment without VLENGTH")
            if not 1 <= new <= height:
                raise JBIGError(f"NEWLEN to {new} lines (was {height})")
            height = new
            p = k + 6
        elif code == COMMENT:
            if k + 6 > n:
                raise JBIGError("COMMENT marker segment runs past the end")
            p = k + 6 + _u32(data, k + 2)
            if p > n:
                raise JBIGError("COMMENT marker segment runs past the end")
        elif code == ABORT:
            raise JBIGError("ABORT marker segment: the encoder abandoned this BIE")
        else:
            raise JBIGError(f"unknown or reserved marker 0xFF {code:#04x} at byte {k}")
    nst = _stripes(height, hdr.l0)
    for s, yat, _tx, _ty in atmoves:
        if s < nst and s * hdr.l0 + yat >= height:
            raise JBIGError(f"ATMOVE at line {yat} beyond the end of stripe {s}")
    at = sorted((m for m in atmoves if m[0] < nst), key=lambda m: (m[0], m[1]))
    return _Layout(
        height,
        np.array(stripes[:nst], np.int64).reshape(-1, 3),
        np.array(at, np.int64).reshape(-1, 4),
    )


def decode(bie: bytes, *, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Decode a single-layer BIE into a (height, width) bool array (True = black).

    Raises JBIGError for anything else, and when width x height exceeds ``max_pixels``
    (None: no limit).  Bytes after the last stripe the image needs are ignored.
    """
    data = bytes(bie)
    hdr = read_header(data)
    limit = max_pixels
    # with VLENGTH the declared height may be a placeholder: check the final one below
    if limit is not None and not hdr.vlength and hdr.width * hdr.height > limit:
        raise JBIGSizeError(f"image {hdr.width} x {hdr.height} exceeds the {limit}-pixel "
                            "limit")
    start = BIH_LEN + (DPTABLE_LEN if hdr.dp_table else 0)
    if len(data) < start:
        raise JBIGError("BIE ends inside its deterministic-prediction table")
    lay = _walk(data, hdr, start)
    h, w = lay.height, hdr.width
    if limit is not None and w * h > limit:
        raise JBIGSizeError(f"image {w} x {h} exceeds the {limit}-pixel limit")
    buf = np.zeros((h + 1, w + 2 * K.PAD), np.uint8)
    arr = np.frombuffer(data, np.uint8)
    K.decode_image(arr, lay.stripes, lay.atmoves, h, w, hdr.l0, hdr.lrltwo, hdr.tpbon, buf)
    return np.ascontiguousarray(buf[1:, K.PAD : K.PAD + w]).view(np.bool_)
