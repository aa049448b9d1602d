"""Reading .ipc files: the chunk walk with the order rules, CRC checks and truncation
handling of spec/FORMAT.md section 4, for a whole file (:func:`parse`, lenient or strict),
for its structure only (:func:`verify`, :func:`chunk_table`) and for the head a Pillow
``_open`` needs (:func:`read_head`: signature, IHDR and the metadata chunks, nothing else).
The byte layout itself is :mod:`.container`'s."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import BinaryIO

from construct import ChecksumError, Int32ub

from ..errors import FormatError, TruncatedError
from .container import (
    ALPHA_CODINGS,
    ALPHA_MODES,
    CODING_ADAPTIVE_BINARY,
    CODINGS,
    COLOUR_MODES,
    DATA_CHUNKS,
    HEAD_LENGTHS,
    IHDR_LENGTHS,
    MAX_CHUNK_LENGTH,
    METADATA_CHUNKS,
    SIDE_MODES,
    SIDE_VERSION,
    SIGNATURE,
    Alpha,
    AlphData,
    Chroma,
    Chunk,
    ChunkHead,
    ChunkInfo,
    CvalData,
    Head,
    Header,
    IpcFile,
    SideData,
    Sides,
    ValsData,
    XmpData,
    decode_ihdr,
    decode_text,
)


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
            self.header = decode_ihdr(body)
        elif ctype == "iCCP":
            self.icc_profile = body
        elif ctype == "eXIf":
            self.exif = body
        elif ctype == "xXMP":
            self.xmp = XmpData.parse(body).packet
        elif ctype == "tEXt":
            keyword, text = decode_text(body)
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
        if ctype in ("CVAL", "SIDE", "ALPH") and "VALS" not in seen:
            raise FormatError(f"{where} comes before VALS")
        if ctype in ("CVAL", "SIDE") and "ALPH" in seen:
            raise FormatError(f"{where} comes after ALPH")
        if ctype == "CVAL" and "SIDE" in seen:
            raise FormatError(f"{where} comes after SIDE")
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
    sides: Sides | None = None
    data_reached = False  # the head of a data chunk was read
    for info, body in walk:
        ctype = info.type
        data_reached |= ctype in DATA_CHUNKS
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
        elif ctype == "SIDE":
            h = meta.header
            if h.version < SIDE_VERSION or h.mode not in SIDE_MODES:
                raise FormatError(f"SIDE chunk at offset {info.offset} in a version "
                                  f"{h.version} {h.mode} file (only L and LA from version "
                                  f"{SIDE_VERSION})")
            d = SideData.parse(body)
            sides = Sides(d.count, d.payload)
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
    if walk.truncated and not data_reached:
        # even a lenient reader needs what opening reads (spec section 4.14)
        raise TruncatedError("file ends before the head of its first data chunk")
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
        sides=sides,
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
