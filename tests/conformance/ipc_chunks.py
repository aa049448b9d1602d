"""Chunk framing without any checks, for building broken files (the invalid corpus, the fuzzers).

A file is taken apart into [type, data] pairs and put back with fresh lengths and CRCs, so
that a change to a chunk's data reaches the decoders behind the CRC check; the framing itself
(lengths, CRCs, the signature) is damaged on purpose with ``chunk(..., length=, crc=)``.
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89IPC\r\n\x1a\n"


def split(data: bytes) -> list[list]:
    """[type, data] of every chunk up to IEND, as far as the framing holds."""
    chunks = []
    pos = len(SIGNATURE)
    while pos + 12 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if pos + 12 + length > len(data):
            break
        chunks.append([ctype, data[pos + 8 : pos + 8 + length]])
        pos += 12 + length
        if ctype == b"IEND":
            break
    return chunks


def chunk(ctype: bytes, body: bytes, length: int | None = None, crc: int | None = None) -> bytes:
    """One framed chunk; ``length`` and ``crc`` override the true ones."""
    if length is None:
        length = len(body)
    if crc is None:
        crc = zlib.crc32(ctype + body)
    return struct.pack(">I", length & 0xFFFFFFFF) + ctype + body + struct.pack(">I", crc)


def join(chunks: list[list]) -> bytes:
    """Signature and chunks, each with its true length and CRC."""
    return SIGNATURE + b"".join(chunk(t, b) for t, b in chunks)


def offsets(chunks: list[list]) -> list[int]:
    """Offset of each chunk's length field in join(chunks), and the end of the file last."""
    out = [len(SIGNATURE)]
    for _, body in chunks:
        out.append(out[-1] + 12 + len(body))
    return out
