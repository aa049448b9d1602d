"""The .ipc file layout: signature, CRC-protected chunks, their order rules.

The construct definitions below are the single source of truth of the byte layout; the
functions around them add what construct cannot express compactly: the chunk order rules,
range checks, truncation handling and size limits checked before anything is allocated.
spec/FORMAT.md (sections 3 and 4) describes the same layout in prose.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO, NamedTuple

from construct import (
    Bytes,
    Checksum,
    ChecksumError,
    GreedyBytes,
    If,
    Int8ub,
    Int16ub,
    Int32ub,
    NullTerminated,
    Rebuild,
    Struct,
    len_,
    this,
)

# PNG-style: the high byte catches 7-bit channels, CR LF / LF catch newline translation,
# 0x1A stops DOS `type`.
SIGNATURE = b"\x89IPC\r\n\x1a\n"
FORMAT_VERSION = 4
#: Versions this reader decodes: version 1 is version 2 without the lattice field (lattice 0);
#: version 3 is version 2 plus VALS coding 1; version 4 is version 3 plus the colour and alpha
#: modes (CVAL and ALPH chunks).
SUPPORTED_VERSIONS = (1, 2, 3, 4)

# Largest chunk data length and largest width/height (both fit a signed 32-bit integer, as in PNG).
MAX_CHUNK_LENGTH = 2**31 - 1
MAX_DIMENSION = 2**31 - 1

MODES = {0: "L", 1: "LA", 2: "RGB", 3: "RGBA"}  # IHDR mode code -> Pillow mode name
MODE_CODES = {name: code for code, name in MODES.items()}
#: Modes each version allows (only grey before version 4).
VERSION_MODES = {1: ("L",), 2: ("L",), 3: ("L",), 4: tuple(MODES.values())}


def version_for(mode: str) -> int:
    """The version an encoder writes for a mode: the lowest that has it (grey files stay
    readable by version 3 decoders)."""
    return min(v for v, modes in VERSION_MODES.items() if mode in modes and v >= 3)


#: Modes with chroma (a CVAL chunk) and with alpha (an ALPH chunk).
COLOUR_MODES = ("RGB", "RGBA")
ALPHA_MODES = ("LA", "RGBA")
CODING_ADAPTIVE_BINARY = 0  # the only VALS coding of format versions 1 and 2
CODING_BOUNDED = 1  # version 3: decisions the range of levels decides are left out
#: VALS codings of each version
CODINGS = {1: frozenset({CODING_ADAPTIVE_BINARY}), 2: frozenset({CODING_ADAPTIVE_BINARY}),
           3: frozenset({CODING_ADAPTIVE_BINARY, CODING_BOUNDED}),
           4: frozenset({CODING_ADAPTIVE_BINARY, CODING_BOUNDED})}
#: ALPH codings: 0 = bi-level T.82 plane, 1 = graded (predicted, deflated)
ALPHA_CODINGS = frozenset({0, 1})

IHDR_LENGTHS = {1: 14, 2: 16, 3: 16, 4: 16}  # IHDR data length by version
MAX_LATTICE = 65535
VALS_HEAD_LENGTH = 5
CVAL_HEAD_LENGTH = 8
ALPH_HEAD_LENGTH = 1
MAX_KEYWORD_LENGTH = 79

METADATA_CHUNKS = ("iCCP", "eXIf", "xXMP", "tEXt")
DATA_CHUNKS = ("EDGE", "SEED", "VALS", "CVAL", "ALPH")
#: Shortest data of the chunks with a fixed head
HEAD_LENGTHS = {"VALS": VALS_HEAD_LENGTH, "CVAL": CVAL_HEAD_LENGTH,
                "ALPH": ALPH_HEAD_LENGTH}

# --- construct definitions -------------------------------------------------------------------

ChunkHead = Struct(
    "length" / Int32ub,
    "type" / Bytes(4),
)

Chunk = Struct(
    "length" / Rebuild(Int32ub, len_(this.data)),
    "type" / Bytes(4),
    "data" / Bytes(this.length),
    "crc" / Checksum(Int32ub, zlib.crc32, lambda ctx: ctx.type + ctx.data),
)

IhdrData = Struct(
    "version" / Int8ub,
    "mode" / Int8ub,
    "width" / Int32ub,
    "height" / Int32ub,
    "levels" / Int16ub,
    "spacing" / Int8ub,
    "flags" / Int8ub,
    "lattice" / If(this.version >= 2, Int16ub),
)

ValsData = Struct(
    "count" / Int32ub,
    "coding" / Int8ub,
    "payload" / GreedyBytes,
)

CvalData = Struct(
    "levels" / Int16ub,
    "stride" / Int8ub,
    "coding" / Int8ub,
    "count" / Int32ub,
    "payload" / GreedyBytes,
)

AlphData = Struct(
    "coding" / Int8ub,
    "payload" / GreedyBytes,
)

TextData = Struct(
    "keyword" / NullTerminated(GreedyBytes),
    "text" / GreedyBytes,
)

XmpData = Struct(
    "packet" / GreedyBytes,  # an XMP packet (XML), UTF-8, passed on uninterpreted
)

# --- errors and data model -------------------------------------------------------------------


class FormatError(ValueError):
    """The bytes are not a valid IPC file; the message says what is wrong."""


class TruncatedError(FormatError):
    """The data ends before the IEND chunk."""


def _check_version(version: int) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise FormatError(
            f"unsupported format version {version} (this reader knows "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))})"
        )


@dataclass
class Header:
    """The IHDR fields, validated on construction."""

    width: int
    height: int
    levels: int
    spacing: int
    mode: str = "L"
    version: int | None = None  # None: version_for(mode)
    lattice: int = 0

    def __post_init__(self) -> None:
        if self.version is None:
            if self.mode not in MODE_CODES:
                raise FormatError(f"unsupported mode {self.mode!r}")
            self.version = version_for(self.mode)
        _check_version(self.version)
        if self.version < 2 and self.lattice != 0:
            raise FormatError(f"format version {self.version} has no seed lattice")
        if self.mode not in VERSION_MODES[self.version]:
            raise FormatError(f"unsupported mode {self.mode!r} in format version "
                              f"{self.version} (only {', '.join(VERSION_MODES[self.version])})")
        _check_ranges("IHDR", (
            ("width", self.width, 1, MAX_DIMENSION),
            ("height", self.height, 1, MAX_DIMENSION),
            ("levels", self.levels, 2, 256),
            ("spacing", self.spacing, 1, 255),
            ("lattice", self.lattice, 0, MAX_LATTICE),
        ))


def _check_ranges(chunk: str, fields: tuple[tuple[str, object, int, int], ...]) -> None:
    """FormatError unless every (name, value, low, high) is an int in low..high."""
    for name, value, low, high in fields:
        if not isinstance(value, int) or not low <= value <= high:
            raise FormatError(f"{chunk} {name} {value!r} out of range {low}..{high}")


@dataclass
class Chroma:
    """The CVAL fields: the Cb and Cr values of a colour image, still coded."""

    levels: int
    stride: int
    coding: int
    count: int  # values per channel
    payload: bytes

    def __post_init__(self) -> None:
        _check_ranges("CVAL", (("levels", self.levels, 2, 256),
                               ("stride", self.stride, 1, 255),
                               ("count", self.count, 0, 0xFFFFFFFF)))


@dataclass
class Alpha:
    """The ALPH fields: the alpha plane, still coded."""

    coding: int
    payload: bytes

    def __post_init__(self) -> None:
        if self.coding not in ALPHA_CODINGS:
            raise FormatError(f"unknown ALPH coding {self.coding}")


@dataclass
class IpcFile:
    """Everything an IPC file holds, chunk payloads still coded."""

    header: Header
    edge: bytes
    seed: bytes | None
    values_count: int
    values_coding: int
    values_payload: bytes
    icc_profile: bytes | None = None
    exif: bytes | None = None
    text: dict[str, str] = field(default_factory=dict)
    truncated: bool = False
    chroma: Chroma | None = None  # RGB and RGBA only
    alpha: Alpha | None = None  # LA and RGBA only
    xmp: bytes | None = None


class Head(NamedTuple):
    """What read_head returns: the header, the metadata and where the data chunks start."""

    header: Header
    icc_profile: bytes | None
    exif: bytes | None
    text: dict[str, str]
    data_offset: int
    xmp: bytes | None = None


@dataclass(frozen=True)
class ChunkInfo:
    """One chunk as found in a file: type, offset of its length field, data length."""

    type: str
    offset: int
    length: int
    complete: bool = True


# --- chunk bodies ----------------------------------------------------------------------------


def _decode_ihdr(body: bytes) -> Header:
    version = body[0]
    _check_version(version)
    if len(body) != IHDR_LENGTHS[version]:
        raise FormatError(f"IHDR of version {version} has length {len(body)}, must be "
                          f"{IHDR_LENGTHS[version]}")
    f = IhdrData.parse(body)
    if f.mode not in MODES or MODES[f.mode] not in VERSION_MODES[version]:
        allowed = ", ".join(f"{MODE_CODES[m]} = {m!r}" for m in VERSION_MODES[version])
        raise FormatError(f"unsupported IHDR mode code {f.mode} in format version {version} "
                          f"(only {allowed})")
    if f.flags != 0:
        raise FormatError(f"IHDR flags must be 0, found {f.flags:#04x}")
    return Header(
        width=f.width, height=f.height, levels=f.levels, spacing=f.spacing, mode=MODES[f.mode],
        version=version, lattice=f.lattice or 0,
    )


def _check_keyword(keyword: bytes) -> None:
    if not 1 <= len(keyword) <= MAX_KEYWORD_LENGTH:
        raise FormatError(f"tEXt keyword must be 1..{MAX_KEYWORD_LENGTH} bytes, has {len(keyword)}")
    if any(not (0x20 <= b <= 0x7E or 0xA1 <= b) for b in keyword):
        raise FormatError(f"tEXt keyword {keyword!r} has a byte outside printable Latin-1")


def _decode_text(body: bytes) -> tuple[str, str]:
    if b"\x00" not in body:
        raise FormatError("tEXt chunk has no NUL after its keyword")
    f = TextData.parse(body)
    _check_keyword(f.keyword)
    try:
        text = f.text.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"tEXt {f.keyword!r} text is not UTF-8: {e.reason}") from None
    return f.keyword.decode("latin-1"), text


def _encode_text(keyword: str, text: str) -> bytes:
    try:
        raw = keyword.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"tEXt keyword {keyword!r} is not Latin-1") from None
    _check_keyword(raw)
    return TextData.build({"keyword": raw, "text": text.encode("utf-8")})


class _Meta:
    """Collects IHDR and the metadata chunks; shared by parse and read_head."""

    def __init__(self) -> None:
        self.header: Header | None = None
        self.icc_profile: bytes | None = None
        self.exif: bytes | None = None
        self.xmp: bytes | None = None
        self.text: dict[str, str] = {}

    def take(self, ctype: str, body: bytes, offset: int) -> None:
        if ctype == "IHDR":
            self.header = _decode_ihdr(body)
        elif ctype == "iCCP":
            self.icc_profile = body
        elif ctype == "eXIf":
            self.exif = body
        elif ctype == "xXMP":
            self.xmp = XmpData.parse(body).packet
        elif ctype == "tEXt":
            keyword, text = _decode_text(body)
            if keyword in self.text:
                raise FormatError(f"tEXt keyword {keyword!r} repeated at offset {offset}")
            self.text[keyword] = text


# --- order rules -----------------------------------------------------------------------------


class _Order:
    """Checks each chunk head against the order rules as the chunks arrive."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def admit(self, raw_type: bytes, length: int, offset: int) -> str:
        """Check one chunk head; return its type as str (raises FormatError)."""
        if not (raw_type.isalpha() and raw_type.isascii()):
            raise FormatError(f"chunk type {raw_type!r} at offset {offset} is not 4 ASCII letters")
        ctype = raw_type.decode("ascii")
        where = f"{ctype} chunk at offset {offset}"
        if length > MAX_CHUNK_LENGTH:
            raise FormatError(f"{where} declares length {length} > {MAX_CHUNK_LENGTH}")
        seen = self.seen
        if not seen and ctype != "IHDR":
            raise FormatError(f"first chunk must be IHDR, found {where}")
        known = ctype in ("IHDR", "IEND", *METADATA_CHUNKS, *DATA_CHUNKS)
        if not known:
            if ctype[0].isupper():
                raise FormatError(f"unknown critical {where}")
            return ctype  # unknown ancillary chunks may stand anywhere after IHDR
        if ctype in seen and ctype != "tEXt":
            raise FormatError(f"duplicate {where}")
        if ctype in METADATA_CHUNKS and seen.intersection(DATA_CHUNKS):
            raise FormatError(f"{where} comes after a data chunk; metadata must precede EDGE")
        if ctype == "IHDR" and length not in IHDR_LENGTHS.values():
            raise FormatError(f"{where} has length {length}, must be "
                              f"{' or '.join(map(str, sorted(set(IHDR_LENGTHS.values()))))}")
        if ctype in ("SEED", "VALS") and "EDGE" not in seen:
            raise FormatError(f"{where} comes before EDGE")
        if ctype == "SEED" and "VALS" in seen:
            raise FormatError(f"{where} comes after VALS")
        if ctype in ("CVAL", "ALPH") and "VALS" not in seen:
            raise FormatError(f"{where} comes before VALS")
        if ctype == "CVAL" and "ALPH" in seen:
            raise FormatError(f"{where} comes after ALPH")
        if ctype in HEAD_LENGTHS and length < HEAD_LENGTHS[ctype]:
            raise FormatError(f"{where} has length {length}, needs at least "
                              f"{HEAD_LENGTHS[ctype]}")
        if ctype == "IEND":
            if length != 0:
                raise FormatError(f"{where} has length {length}, must be 0")
            for needed in ("EDGE", "VALS"):
                if needed not in seen:
                    raise FormatError(f"missing {needed} chunk before IEND at offset {offset}")
        seen.add(ctype)
        return ctype


# --- reading ---------------------------------------------------------------------------------


def _check_signature(prefix: bytes) -> None:
    if prefix == SIGNATURE:
        return
    if not prefix:
        raise TruncatedError("empty file: no IPC signature")
    if len(prefix) < len(SIGNATURE) and SIGNATURE.startswith(prefix):
        raise TruncatedError(f"file ends inside the signature ({len(prefix)} of 8 bytes)")
    if prefix[:4] == SIGNATURE[:4]:
        raise FormatError("damaged IPC signature (newline translation or 7-bit transfer?)")
    raise FormatError("not an IPC file (bad signature)")


def _crc_error(ctype: str, offset: int, body: bytes, stored: bytes) -> FormatError:
    computed = zlib.crc32(ctype.encode("ascii") + body)
    return FormatError(
        f"CRC mismatch in {ctype} chunk at offset {offset}: "
        f"stored {Int32ub.parse(stored):#010x}, computed {computed:#010x}"
    )


class _Walk:
    """Iterates (ChunkInfo, data) over a whole file in memory, with all framing checks.

    In lenient mode a file cut short ends the iteration: a chunk whose head is complete is
    yielded with the data bytes that are there and complete=False; `truncated` is then set.
    """

    def __init__(self, data: bytes, lenient: bool) -> None:
        self.data = data
        self.lenient = lenient
        self.truncated = False

    def _cut(self, message: str) -> None:
        if not self.lenient:
            raise TruncatedError(message)
        self.truncated = True

    def __iter__(self) -> Iterator[tuple[ChunkInfo, bytes]]:
        data = self.data
        size = len(data)
        _check_signature(bytes(data[: len(SIGNATURE)]))
        order = _Order()
        pos = len(SIGNATURE)
        while True:
            if size - pos < ChunkHead.sizeof():
                self._cut(f"file ends at byte {size} before IEND (chunk head at offset {pos})")
                return
            head = ChunkHead.parse(data[pos : pos + 8])
            ctype = order.admit(head.type, head.length, pos)
            end = pos + 12 + head.length
            if end > size:
                self._cut(
                    f"{ctype} chunk at offset {pos} declares {head.length} data bytes "
                    f"but the file ends at byte {size}"
                )
                info = ChunkInfo(ctype, pos, head.length, complete=False)
                yield info, bytes(data[pos + 8 : min(pos + 8 + head.length, size)])
                return
            try:
                body = Chunk.parse(data[pos:end]).data
            except ChecksumError:
                body = bytes(data[pos + 8 : end - 4])
                raise _crc_error(ctype, pos, body, bytes(data[end - 4 : end])) from None
            yield ChunkInfo(ctype, pos, head.length), body
            if ctype == "IEND":
                return
            pos = end


def parse(data: bytes, *, lenient: bool = False) -> IpcFile:
    """Parse a whole IPC file held in memory, checking structure and every CRC."""
    walk = _Walk(data, lenient)
    meta = _Meta()
    edge: bytes | None = None
    seed: bytes | None = None
    vals = None
    chroma: Chroma | None = None
    alpha: Alpha | None = None
    for info, body in walk:
        ctype = info.type
        if not info.complete and len(body) < info.length:
            # Only the data planes are worth keeping in part; a cut header is fatal.
            if ctype == "IHDR":
                raise TruncatedError(f"file ends inside IHDR at offset {info.offset}")
            if ctype in HEAD_LENGTHS and len(body) < HEAD_LENGTHS[ctype]:
                continue
            if ctype not in DATA_CHUNKS:
                continue
        if ctype == "EDGE":
            edge = body
        elif ctype == "SEED":
            seed = body
        elif ctype == "VALS":
            vals = ValsData.parse(body)
            if vals.coding not in CODINGS[meta.header.version]:
                raise FormatError(f"unknown VALS coding {vals.coding} at offset {info.offset} "
                                  f"(format version {meta.header.version})")
        elif ctype == "CVAL":
            if meta.header.mode not in COLOUR_MODES:
                raise FormatError(f"CVAL chunk at offset {info.offset} in a "
                                  f"{meta.header.mode} image (only RGB and RGBA have chroma)")
            c = CvalData.parse(body)
            if c.coding not in CODINGS[meta.header.version]:
                raise FormatError(f"unknown CVAL coding {c.coding} at offset {info.offset}")
            try:
                chroma = Chroma(c.levels, c.stride, c.coding, c.count, c.payload)
            except FormatError as exc:
                raise FormatError(f"{exc} at offset {info.offset}") from None
        elif ctype == "ALPH":
            if meta.header.mode not in ALPHA_MODES:
                raise FormatError(f"ALPH chunk at offset {info.offset} in a "
                                  f"{meta.header.mode} image (only LA and RGBA have alpha)")
            a = AlphData.parse(body)
            if a.coding not in ALPHA_CODINGS:
                raise FormatError(f"unknown ALPH coding {a.coding} at offset {info.offset}")
            alpha = Alpha(a.coding, a.payload)
        else:
            meta.take(ctype, body, info.offset)
    if meta.header is None:
        raise TruncatedError("file ends before the IHDR chunk is complete")
    if not walk.truncated:
        mode = meta.header.mode
        if mode in COLOUR_MODES and chroma is None:
            raise FormatError(f"missing CVAL chunk: a {mode} image needs its chroma values")
        if mode in ALPHA_MODES and alpha is None:
            raise FormatError(f"missing ALPH chunk: a {mode} image needs its alpha plane")
    return IpcFile(
        header=meta.header,
        edge=b"" if edge is None else edge,
        seed=seed,
        values_count=0 if vals is None else vals.count,
        values_coding=CODING_ADAPTIVE_BINARY if vals is None else vals.coding,
        values_payload=b"" if vals is None else vals.payload,
        icc_profile=meta.icc_profile,
        exif=meta.exif,
        text=meta.text,
        truncated=walk.truncated,
        chroma=chroma,
        alpha=alpha,
        xmp=meta.xmp,
    )


def verify(data: bytes) -> None:
    """Check signature, chunk structure, order and every CRC without decoding the planes."""
    parse(data)


def chunk_table(data: bytes) -> list[ChunkInfo]:
    """List the chunks of a complete, valid file (raises FormatError otherwise)."""
    return [info for info, _ in _Walk(data, lenient=False)]


_READ_PIECE = 1 << 20


def _read_upto(fp: BinaryIO, n: int) -> bytes:
    """Read n bytes or up to EOF, in pieces, so a lying length cannot force a huge buffer."""
    pieces = []
    while n > 0:
        piece = fp.read(min(n, _READ_PIECE))
        if not piece:
            break
        pieces.append(piece)
        n -= len(piece)
    return b"".join(pieces)


def read_head(fp: BinaryIO) -> Head:
    """Read signature, IHDR and metadata chunks from fp, stopping at the first data chunk.

    Offsets are counted from the position of fp on entry. The data chunks' payloads are
    never read; fp is left just after the first data chunk's 8-byte head.
    """
    _check_signature(_read_upto(fp, len(SIGNATURE)))
    order = _Order()
    meta = _Meta()
    pos = len(SIGNATURE)
    while True:
        raw = _read_upto(fp, ChunkHead.sizeof())
        if len(raw) < ChunkHead.sizeof():
            raise TruncatedError(f"file ends at byte {pos + len(raw)} before the first data chunk")
        head = ChunkHead.parse(raw)
        ctype = order.admit(head.type, head.length, pos)
        if ctype in DATA_CHUNKS:
            assert meta.header is not None  # _Order puts IHDR first
            return Head(meta.header, meta.icc_profile, meta.exif, meta.text, pos, meta.xmp)
        rest = _read_upto(fp, head.length + 4)
        if len(rest) < head.length + 4:
            raise TruncatedError(
                f"{ctype} chunk at offset {pos} declares {head.length} data bytes "
                f"but the file ends at byte {pos + 8 + len(rest)}"
            )
        body, stored = rest[:-4], rest[-4:]
        if zlib.crc32(head.type + body) != Int32ub.parse(stored):
            raise _crc_error(ctype, pos, body, stored)
        meta.take(ctype, body, pos)
        pos += 12 + head.length


class Collector:
    """Collects a file that arrives in pieces and tells when it is whole: each chunk head is
    checked (signature, order rules, lengths) as it arrives; the data and CRCs are left to
    `parse`. Bytes after the IEND chunk are not the file's."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._pos = len(SIGNATURE)  # where the next chunk head starts
        self._order = _Order()
        self._after_iend = False  # _pos is the end of IEND
        self.length: int | None = None  # the file's, once it is whole

    def feed(self, piece: bytes) -> bool:
        """Add the next bytes; whether the file is whole (raises FormatError)."""
        if self.length is not None:
            return True
        self.data += piece
        data = self.data
        if len(data) >= len(SIGNATURE) and self._pos == len(SIGNATURE) and not self._order.seen:
            _check_signature(bytes(data[: len(SIGNATURE)]))
        while len(data) >= len(SIGNATURE):
            if self._after_iend:
                if len(data) >= self._pos:
                    self.length = self._pos
                    del data[self._pos :]
                break
            if len(data) - self._pos < ChunkHead.sizeof():
                break
            head = ChunkHead.parse(data[self._pos : self._pos + ChunkHead.sizeof()])
            self._after_iend = self._order.admit(head.type, head.length, self._pos) == "IEND"
            self._pos += 12 + head.length
        return self.length is not None


# --- writing ---------------------------------------------------------------------------------


def _chunk(ctype: str, body: bytes) -> bytes:
    if len(body) > MAX_CHUNK_LENGTH:
        raise ValueError(f"{ctype} data of {len(body)} bytes exceeds {MAX_CHUNK_LENGTH}")
    return Chunk.build({"type": ctype.encode("ascii"), "data": bytes(body)})


def build(f: IpcFile) -> bytes:
    """Serialise an IpcFile: signature, then chunks in canonical order (metadata first)."""
    h = f.header
    replace(h)  # re-validates: the dataclass may have been changed after construction
    if f.values_coding not in CODINGS[h.version]:
        raise ValueError(f"unknown VALS coding {f.values_coding} in format version {h.version}")
    if not 0 <= f.values_count <= 0xFFFFFFFF:
        raise ValueError(f"values_count {f.values_count} out of range 0..2**32-1")
    if (f.chroma is not None) != (h.mode in COLOUR_MODES):
        raise ValueError(f"a {h.mode} image {'needs' if h.mode in COLOUR_MODES else 'has no'} "
                         f"chroma values")
    if (f.alpha is not None) != (h.mode in ALPHA_MODES):
        raise ValueError(f"a {h.mode} image {'needs' if h.mode in ALPHA_MODES else 'has no'} "
                         f"alpha plane")
    if f.chroma is not None:
        replace(f.chroma)  # re-validates
        if f.chroma.coding not in CODINGS[h.version]:
            raise ValueError(f"unknown CVAL coding {f.chroma.coding}")
    ihdr = IhdrData.build(
        {
            "version": h.version,
            "mode": MODE_CODES[h.mode],
            "width": h.width,
            "height": h.height,
            "levels": h.levels,
            "spacing": h.spacing,
            "flags": 0,
            "lattice": h.lattice if h.version >= 2 else None,
        }
    )
    parts = [SIGNATURE, _chunk("IHDR", ihdr)]
    if f.icc_profile is not None:
        parts.append(_chunk("iCCP", f.icc_profile))
    if f.exif is not None:
        parts.append(_chunk("eXIf", f.exif))
    if f.xmp is not None:
        parts.append(_chunk("xXMP", XmpData.build({"packet": f.xmp})))
    for keyword, text in f.text.items():
        parts.append(_chunk("tEXt", _encode_text(keyword, text)))
    parts.append(_chunk("EDGE", f.edge))
    if f.seed is not None:
        parts.append(_chunk("SEED", f.seed))
    vals = ValsData.build(
        {"count": f.values_count, "coding": f.values_coding, "payload": f.values_payload}
    )
    parts.append(_chunk("VALS", vals))
    if f.chroma is not None:
        c = f.chroma
        parts.append(_chunk("CVAL", CvalData.build(
            {"levels": c.levels, "stride": c.stride, "coding": c.coding, "count": c.count,
             "payload": c.payload})))
    if f.alpha is not None:
        replace(f.alpha)
        parts.append(_chunk("ALPH", AlphData.build(
            {"coding": f.alpha.coding, "payload": f.alpha.payload})))
    parts.append(_chunk("IEND", b""))
    return b"".join(parts)
