"""An independent decoder, built from spec/FORMAT.md and peers, for the golden corpus.

It shares only the container parser with PIL_ipc; the IHDR fields are also read here byte by
byte (section 4.3) and checked against the parser.  The QM decoder is a plain-Python
transcription of the spec's appendix A, with the probability table read from the spec's text.  The bi-level planes are decoded by JBIG-KIT's ``jbgtopbm``, the
source points found by a plain-Python transcription of section 6 (seed lattice included), the
values decoded decision by decision as section 7 lists them, and the PDE of section 8 solved by
a sparse direct solver.  Format versions 1, 2, 3 and 4 are read (VALS codings 0 and 1; modes
L, LA, RGB, RGBA: chroma value lists of section 7.1 built from the luma predictors by hand, the
inverse YCbCr transform written out from the spec, alpha planes from jbgtopbm or zlib and a
plain-Python median predictor).

Predictors are lists [a, -1, -1] (1-D prediction from value a, or the mid level for a = -1) or
[a, b, c] (2-D prediction from the left, upper and upper-left lattice neighbours' values).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections import deque
from pathlib import Path

import numpy as np
from jbigkit import jbgtopbm
from reference_solver import reference_solve

from PIL_ipc.format import reader

SPEC = Path(__file__).resolve().parents[2] / "spec" / "FORMAT.md"

#: IHDR data length of each format version (section 4.3).
IHDR_LENGTHS = {1: 14, 2: 16, 3: 16, 4: 16, 5: 16}
#: IHDR mode codes (section 4.3): channels of colour, and whether there is alpha.
MODES = {0: ("L", False), 1: ("L", True), 2: ("RGB", False), 3: ("RGB", True)}


def jbigkit_decode(bie: bytes) -> np.ndarray:
    """Decode a BIE with JBIG-KIT's jbgtopbm; returns a bool array (True = 1 = black)."""
    return jbgtopbm(bie)


def read_ihdr(data: bytes) -> dict[str, int]:
    """Section 4.3 by hand: the IHDR fields of the first chunk (version 1 to 5)."""
    length, ctype = struct.unpack(">I4s", data[8:16])
    if ctype != b"IHDR":
        raise ValueError("first chunk is not IHDR")
    body = data[16:16 + length]
    version = body[0]
    if version not in IHDR_LENGTHS or length != IHDR_LENGTHS[version]:
        raise ValueError(f"IHDR of version {version} with {length} data bytes")
    _, mode, width, height, levels, spacing, flags = struct.unpack(">BBIIHBB", body[:14])
    lattice = struct.unpack(">H", body[14:16])[0] if version >= 2 else 0
    return dict(version=version, mode=mode, width=width, height=height, levels=levels,
                spacing=spacing, flags=flags, lattice=lattice)


def band_of(edges: np.ndarray) -> np.ndarray:
    """Section 6.1: non-edge pixels with an edge among their 8 neighbours."""
    h, w = edges.shape
    p = np.pad(edges, 1)
    near = np.zeros((h, w), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            near |= p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
    return near & ~edges


def in_lattice(y: int, x: int, g: int) -> bool:
    """Section 5: is (y, x) a pixel of the seed lattice of step g?"""
    return g > 0 and y % g == g // 2 and x % g == g // 2


def locate(edges: np.ndarray, spacing: int, seed: np.ndarray | None = None, lattice: int = 0):
    """Sections 6.1-6.5: (band, positions, predictors) in plain Python."""
    h, w = edges.shape
    band = band_of(edges)
    seen = np.zeros((h, w), bool)
    positions: list[int] = []
    predictors: list[list[int]] = []
    for y0 in range(h):
        for x0 in range(w):
            if not band[y0, x0] or seen[y0, x0]:
                continue
            seen[y0, x0] = True
            queue = deque([(y0, x0, 0, len(positions) - 1)])
            while queue:
                y, x, d, pred = queue.popleft()
                nbrs = [(y + dy, x + dx) for dy, dx in ((-1, 0), (0, -1), (0, 1), (1, 0))
                        if 0 <= y + dy < h and 0 <= x + dx < w and band[y + dy, x + dx]]
                inherit = pred
                if d % spacing == 0 or len(nbrs) <= 1:
                    positions.append(y * w + x)
                    predictors.append([pred, -1, -1])
                    inherit = len(positions) - 1
                for yy, xx in nbrs:
                    if not seen[yy, xx]:
                        seen[yy, xx] = True
                        queue.append((yy, xx, d + 1, inherit))
    # Step 5: seed plane and seed lattice, in increasing flat index.
    index = {p: i for i, p in enumerate(positions)}
    g = lattice
    for y in range(h):
        for x in range(w):
            on_lattice = in_lattice(y, x, g)
            if not (on_lattice or (seed is not None and seed[y, x])):
                continue
            p = y * w + x
            if p in index:
                continue  # already stored on the band
            i = len(positions)
            left = y * w + (x - g) if on_lattice and x - g >= 0 else None
            up = (y - g) * w + x if on_lattice and y - g >= 0 else None
            if left is not None and up is not None:
                predictors.append([index[left], index[up], index[(y - g) * w + (x - g)]])
            elif left is not None:
                predictors.append([index[left], -1, -1])
            elif up is not None:
                predictors.append([index[up], -1, -1])
            else:
                predictors.append([i - 1, -1, -1])
            positions.append(p)
            index[p] = i
    return band, positions, predictors


def spec_qm_table() -> list[tuple[int, int, int, int]]:
    """Appendix A's probability table as written in the spec: (Qe, NMPS, NLPS, SWITCH) rows."""
    text = SPEC.read_text()
    text = text[text.index("## Appendix A"):]
    rows = re.findall(r"^\| (\d+) \| 0x([0-9A-F]{4}) \| (\d+) \| (\d+) \| ([01]) \|$", text,
                      re.MULTILINE)
    assert [int(r[0]) for r in rows] == list(range(113)), "appendix A table incomplete"
    return [(int(qe, 16), int(nmps), int(nlps), int(sw)) for _, qe, nmps, nlps, sw in rows]


class QMDecoder:
    """Appendix A: INITDEC on construction, DECODE(cx) per decision, contexts at state 0."""

    TABLE = None

    def __init__(self, data: bytes, ncx: int) -> None:
        if QMDecoder.TABLE is None:
            QMDecoder.TABLE = spec_qm_table()
        self.data = bytes(data)
        self.end = len(self.data)
        self.pos = 0
        self.st = [0] * ncx
        self.mps = [0] * ncx
        c = self.byte_in() << 24
        c |= self.byte_in() << 16
        c |= self.byte_in() << 8
        self.c, self.a, self.ct = c, 0x10000, 8

    def byte_in(self) -> int:
        data, pos, end = self.data, self.pos, self.end
        if pos >= end:
            return 0
        if data[pos] != 0xFF:
            self.pos = pos + 1
            return data[pos]
        if pos + 1 < end and data[pos + 1] == 0x00:
            self.pos = pos + 2
            return 0xFF
        self.pos = end
        return 0

    def decode(self, cx: int) -> int:
        q = self.st[cx]
        qe, nmps, nlps, switch = self.TABLE[q]
        mps = self.mps[cx]
        self.a -= qe
        if (self.c >> 16) < self.a:
            if self.a >= 0x8000:
                return mps
            if self.a < qe:
                d = 1 - mps
                if switch:
                    self.mps[cx] = d
                self.st[cx] = nlps
            else:
                d = mps
                self.st[cx] = nmps
        else:
            self.c -= self.a << 16
            if self.a < qe:
                d = mps
                self.st[cx] = nmps
            else:
                d = 1 - mps
                if switch:
                    self.mps[cx] = d
                self.st[cx] = nlps
            self.a = qe
        while True:  # RENORMD
            if self.ct == 0:
                self.c |= self.byte_in() << 8
                self.ct = 8
            self.a <<= 1
            self.c <<= 1
            self.ct -= 1
            if self.a >= 0x8000:
                break
        assert self.c >> 32 == 0, "C must stay within 32 bits"
        return d


def activity_class(t: int) -> int:
    """Section 7: 0 if t = 0, 1 if t <= 2, 2 if t <= 6, else 3."""
    return 0 if t == 0 else 1 if t <= 2 else 2 if t <= 6 else 3


def med(a: int, b: int, c: int) -> int:
    """Section 7: the median edge detector of LOCO-I (A left, B upper, C upper-left)."""
    if c >= max(a, b):
        return min(a, b)
    if c <= min(a, b):
        return max(a, b)
    return a + b - c


def decode_values(payload: bytes, predictors: list[list[int]], levels: int,
                  coding: int, lenient: bool = False) -> list[int]:
    """Section 7, one QM decision at a time, in the order the table lists them; coding 1
    skips the decisions the range 0..levels-1 decides.  ``lenient`` (section 8): a value
    outside 0..levels-1 is clamped, and the next activity class is still that of its m."""
    if coding not in (0, 1):
        raise ValueError(f"unknown coding {coding}")
    top = levels - 1
    bit = QMDecoder(payload, 208).decode

    out: list[int] = []
    previous = 0  # class of the previous value's m (0 before the first value)
    for a, b, c in predictors:
        if b == -1:  # 1-D predictor a
            pred = (levels - 1) // 2 if a == -1 else out[a]
            cls, s = previous, 0
        else:  # 2-D predictor (a, b, c)
            ka, kb, kc = out[a], out[b], out[c]
            pred = med(ka, kb, kc)
            cls, s = activity_class(abs(ka - kc) + abs(kb - kc)), 104
        m = 0
        r = 0
        if bit(s + cls):
            if coding == 1 and pred == 0:
                negative = 0
            elif coding == 1 and pred == top:
                negative = 1
            else:
                negative = bit(s + 4 + cls)
            room = pred if negative else top - pred
            longest = room.bit_length() if coding == 1 else 8
            n = 1
            while n < longest and bit(s + 8 + 8 * cls + n):
                n += 1
            m = 1
            for j in range(n - 2, -1, -1):
                if coding == 1 and n == longest and (2 * m + 1) << j > room:
                    m = 2 * m  # a 1 would pass the room
                else:
                    m = 2 * m + bit(s + 40 + 8 * (n - 1) + j)
            r = -m if negative else m
        k = pred + r
        if not 0 <= k < levels:
            if not lenient:
                raise ValueError(f"value {len(out)} out of range")
            k = min(max(k, 0), top)
        out.append(k)
        previous = activity_class(m)
    return out


def chunks(data: bytes) -> dict[bytes, bytes]:
    """Section 4.1 by hand: the data of each chunk type (the last one of a type)."""
    out = {}
    pos = 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        out[ctype] = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IEND":
            break
    return out


def ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Section 7.1's inverse transform, then the rounding of section 8."""
    r = y + 1.402 * (cr - 128)
    g = y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)
    b = y + 1.772 * (cb - 128)
    return np.clip(np.floor(np.stack([r, g, b], axis=2) + 0.5), 0, 255).astype(np.uint8)


def decode_alpha(body: bytes, shape: tuple[int, int]) -> np.ndarray:
    """Section 7.2: ALPH coding 0 through jbgtopbm, coding 1 by zlib and the median predictor."""
    coding, payload = body[0], body[1:]
    if coding == 0:
        plane = jbigkit_decode(payload)
        assert plane.shape == shape
        return np.where(plane, 255, 0).astype(np.uint8)
    assert coding == 1
    res = zlib.decompress(payload)
    assert len(res) == shape[0] * shape[1]
    h, w = shape
    a = [[0] * w for _ in range(h)]
    for y in range(h):
        for x in range(w):
            left = a[y][x - 1] if x > 0 else 0
            up = a[y - 1][x] if y > 0 else 0
            corner = a[y - 1][x - 1] if x > 0 and y > 0 else 0
            a[y][x] = (res[y * w + x] + med(left, up, corner)) % 256
    return np.array(a, dtype=np.uint8)


def chroma_lists(body: bytes, predictors: list[list[int]]) -> tuple[list[float], list[float]]:
    """Section 7.1: the Cb and Cr value of every source point, from the CVAL data."""
    levels, stride, coding, count = struct.unpack(">HBBI", body[:8])
    n = len(predictors)
    m = -(-n // stride)
    assert count == m
    rows = []
    for j in range(m):
        rows.append([a // stride if a >= 0 else a for a in predictors[j * stride]])
    rows += [[a + m if a >= 0 else a for a in row] for row in rows]
    ks = decode_values(body[8:], rows, levels, coding)
    v = [k * 255.0 / (levels - 1) for k in ks]
    return [v[i // stride] for i in range(n)], [v[m + i // stride] for i in range(n)]


def side_choices(body: bytes, edges: np.ndarray, known: np.ndarray, band: np.ndarray
                 ) -> dict[tuple[int, int], tuple[int, list[tuple[int, int]]]]:
    """Section 8.1: {eligible pixel (y, x): (0 MEAN, 1 HIGH or 2 LOW, its candidates)}."""
    h, w = edges.shape

    def inside(y: int, x: int) -> bool:
        return 0 <= y < h and 0 <= x < w

    def band_row(y: int, x: int) -> bool:
        return band[y, x] and not known[y, x] and any(
            inside(y + dy, x + dx) and band[y + dy, x + dx]
            for dy, dx in ((-1, 0), (0, -1), (0, 1), (1, 0)))

    eligible = {}
    for y in range(h):
        for x in range(w):
            if edges[y, x] and not known[y, x]:
                cands = [(y + dy, x + dx) for dy, dx in ((-1, 0), (0, -1), (0, 1), (1, 0))
                         if inside(y + dy, x + dx)
                         and (known[y + dy, x + dx] or band_row(y + dy, x + dx))]
                if cands:
                    eligible[(y, x)] = cands
    count = struct.unpack(">I", body[:4])[0]
    assert count == len(eligible), "SIDE count"
    bit = QMDecoder(body[4:], 16).decode
    out: dict[tuple[int, int], tuple[int, list[tuple[int, int]]]] = {}
    for (y, x), cands in eligible.items():  # (raster order: dicts keep insertion order)
        before = [out[q][0] for q in ((y, x - 1), (y - 1, x - 1), (y - 1, x), (y - 1, x + 1))
                  if q in out]
        c = 4 * (1 in before) + 2 * (2 in before) + (0 in before)
        choice = 0
        if bit(c):
            choice = 2 if bit(8 + c) else 1
        out[(y, x)] = (choice, cands)
    return out


def reference_decode(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Decode a file; returns (uint8 image: H x W, or H x W x bands for LA, RGB, RGBA; bool
    mask of stored pixels)."""
    f = reader.parse(data)
    h = read_ihdr(data)
    assert (h["version"], h["width"], h["height"], h["levels"], h["spacing"], h["lattice"]) == (
        f.header.version, f.header.width, f.header.height, f.header.levels, f.header.spacing,
        f.header.lattice)
    colour, has_alpha = MODES[h["mode"]]
    assert h["version"] >= 4 or h["mode"] == 0
    shape = (h["height"], h["width"])
    edges = jbigkit_decode(f.edge)
    seed = jbigkit_decode(f.seed) if f.seed else None
    assert edges.shape == shape and (seed is None or seed.shape == shape)
    band, positions, predictors = locate(edges, h["spacing"], seed, h["lattice"])
    assert len(positions) == f.values_count
    ks = decode_values(f.values_payload, predictors, h["levels"], f.values_coding)
    known = np.zeros(h["width"] * h["height"], bool)
    values = np.zeros(h["width"] * h["height"])
    known[positions] = True
    values[positions] = np.array(ks, dtype=np.float64) * 255.0 / (h["levels"] - 1)
    u = reference_solve(known.reshape(shape), values.reshape(shape), band)
    body = chunks(data)
    if b"SIDE" in body:
        # the band rows' values do not depend on the rest: take them from this solution, the
        # sides' values from them, and solve again with those pixels as data
        assert h["version"] >= 5 and colour != "RGB"
        taken = known.reshape(shape).copy()
        given = values.reshape(shape).copy()
        for (y, x), (choice, cands) in side_choices(body[b"SIDE"], edges, taken,
                                                     band).items():
            if choice:
                pick = max if choice == 1 else min
                taken[y, x] = True
                given[y, x] = pick(u[q] for q in cands)
        u = reference_solve(taken, given, band)
    if colour == "RGB":
        solved = [u]
        for vs in chroma_lists(body[b"CVAL"], predictors):
            values = np.zeros(h["width"] * h["height"])
            values[positions] = vs
            solved.append(reference_solve(known.reshape(shape), values.reshape(shape), band))
        image = ycbcr_to_rgb(*solved)
    else:
        image = np.clip(np.floor(u + 0.5), 0, 255).astype(np.uint8)
    if has_alpha:
        a = decode_alpha(body[b"ALPH"], shape)
        image = np.dstack([image, a])
    return image, known.reshape(shape)
