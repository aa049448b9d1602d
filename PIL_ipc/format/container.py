"""The .ipc file layout: signature, CRC-protected chunks, the data model, and writing a file.

The construct definitions below are the single source of truth of the byte layout; the
functions around them add what construct cannot express compactly: range checks and the
chunk bodies' rules.  Reading a file (the order rules, truncation, size limits checked before
anything is allocated) is :mod:`.reader`'s.  spec/FORMAT.md (sections 3 and 4) describes the
same layout in prose.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from construct import (
    Bytes,
    Checksum,
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

from ..errors import FormatError

# PNG-style: the high byte catches 7-bit channels, CR LF / LF catch newline translation,
# 0x1A stops DOS `type`.
SIGNATURE = b"\x89IPC\r\n\x1a\n"
FORMAT_VERSION = 5
#: Versions this reader decodes: version 1 is version 2 without the lattice field (lattice 0);
#: version 3 is version 2 plus VALS coding 1; version 4 is version 3 plus the colour and alpha
#: modes (CVAL and ALPH chunks); version 5 is version 4 plus the SIDE chunk (grey modes).
SUPPORTED_VERSIONS = (1, 2, 3, 4, 5)

# Largest chunk data length and largest width/height (both fit a signed 32-bit integer, as in PNG).
MAX_CHUNK_LENGTH = 2**31 - 1
MAX_DIMENSION = 2**31 - 1

MODES = {0: "L", 1: "LA", 2: "RGB", 3: "RGBA"}  # IHDR mode code -> Pillow mode name
MODE_CODES = {name: code for code, name in MODES.items()}
#: Modes each version allows (only grey before version 4).
VERSION_MODES = {1: ("L",), 2: ("L",), 3: ("L",), 4: tuple(MODES.values()),
                 5: tuple(MODES.values())}


def version_for(mode: str) -> int:
    """The version an encoder writes for a mode: the lowest that has it (grey files stay
    readable by version 3 decoders); a file with a SIDE chunk is version SIDE_VERSION."""
    return min(v for v, modes in VERSION_MODES.items() if mode in modes and v >= 3)


#: Modes with chroma (a CVAL chunk) and with alpha (an ALPH chunk).
COLOUR_MODES = ("RGB", "RGBA")
ALPHA_MODES = ("LA", "RGBA")
#: The first version with the SIDE chunk, and the modes that may carry one.
SIDE_VERSION = 5
SIDE_MODES = ("L", "LA")
CODING_ADAPTIVE_BINARY = 0  # the only VALS coding of format versions 1 and 2
CODING_BOUNDED = 1  # version 3: decisions the range of levels decides are left out
#: VALS codings of each version
CODINGS = {1: frozenset({CODING_ADAPTIVE_BINARY}), 2: frozenset({CODING_ADAPTIVE_BINARY}),
           3: frozenset({CODING_ADAPTIVE_BINARY, CODING_BOUNDED}),
           4: frozenset({CODING_ADAPTIVE_BINARY, CODING_BOUNDED}),
           5: frozenset({CODING_ADAPTIVE_BINARY, CODING_BOUNDED})}
#: ALPH codings: 0 = bi-level T.82 plane, 1 = graded (predicted, deflated)
ALPHA_CODINGS = frozenset({0, 1})

IHDR_LENGTHS = {1: 14, 2: 16, 3: 16, 4: 16, 5: 16}  # IHDR data length by version
MAX_LATTICE = 65535
VALS_HEAD_LENGTH = 5
CVAL_HEAD_LENGTH = 8
ALPH_HEAD_LENGTH = 1
SIDE_HEAD_LENGTH = 4
MAX_KEYWORD_LENGTH = 79

METADATA_CHUNKS = ("iCCP", "eXIf", "xXMP", "tEXt")
DATA_CHUNKS = ("EDGE", "SEED", "VALS", "CVAL", "SIDE", "ALPH")
#: Shortest data of the chunks with a fixed head
HEAD_LENGTHS = {"VALS": VALS_HEAD_LENGTH, "CVAL": CVAL_HEAD_LENGTH,
                "ALPH": ALPH_HEAD_LENGTH, "SIDE": SIDE_HEAD_LENGTH}

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

SideData = Struct(
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
class Sides:
    """The SIDE fields: the edge pixels' side decisions, still coded."""

    count: int  # eligible edge pixels (spec section 8.1)
    payload: bytes

    def __post_init__(self) -> None:
        _check_ranges("SIDE", (("count", self.count, 0, 0xFFFFFFFF),))


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
    sides: Sides | None = None  # version 5 on, L and LA only


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


def decode_ihdr(body: bytes) -> Header:
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


def decode_text(body: bytes) -> tuple[str, str]:
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
    if f.sides is not None:
        replace(f.sides)  # re-validates
        if h.version < SIDE_VERSION or h.mode not in SIDE_MODES:
            raise ValueError(f"a SIDE chunk needs format version {SIDE_VERSION} or later and "
                             f"mode L or LA, not version {h.version} {h.mode}")
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
    if f.sides is not None:
        parts.append(_chunk("SIDE", SideData.build(
            {"count": f.sides.count, "payload": f.sides.payload})))
    if f.alpha is not None:
        replace(f.alpha)
        parts.append(_chunk("ALPH", AlphData.build(
            {"coding": f.alpha.coding, "payload": f.alpha.payload})))
    parts.append(_chunk("IEND", b""))
    return b"".join(parts)
