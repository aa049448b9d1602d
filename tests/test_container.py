"""Tests of the container layout: bytes written by hand (struct + zlib, not construct)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from PIL_ipc import container
from PIL_ipc.container import FormatError, Header, IpcFile, TruncatedError

SIG = bytes([0x89, 0x49, 0x50, 0x43, 0x0D, 0x0A, 0x1A, 0x0A])


def chunk(ctype: bytes, data: bytes, length: int | None = None) -> bytes:
    """One chunk built independently of container.py."""
    n = len(data) if length is None else length
    return struct.pack(">I", n) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def ihdr(version=1, mode=0, width=5, height=3, levels=16, spacing=4, flags=0) -> bytes:
    fields = struct.pack(">BBIIHBB", version, mode, width, height, levels, spacing, flags)
    return chunk(b"IHDR", fields)


IHDR = ihdr()
EDGE = chunk(b"EDGE", b"EDGEDATA")
SEED = chunk(b"SEED", b"SD")
VALS = chunk(b"VALS", b"\x00\x00\x00\x07\x00\x01\x02\x03")
IEND = chunk(b"IEND", b"")
ICCP = chunk(b"iCCP", b"ICC!")
EXIF = chunk(b"eXIf", b"MM\x00*\x00\x00\x00\x08")
TEXT = chunk(b"tEXt", b"k\x00v")


def file_of(*chunks: bytes) -> bytes:
    return SIG + b"".join(chunks)


# The full sample, with hand-computed offsets of each chunk's length field:
# IHDR 8, iCCP 34, eXIf 50, tEXt 70, EDGE 85, SEED 105, VALS 119, IEND 139, end 151.
FULL = file_of(IHDR, ICCP, EXIF, TEXT, EDGE, SEED, VALS, IEND)
MINIMAL = file_of(IHDR, EDGE, VALS, IEND)


def sample() -> IpcFile:
    return IpcFile(
        header=Header(width=5, height=3, levels=16, spacing=4),
        edge=b"EDGEDATA",
        seed=b"SD",
        values_count=7,
        values_coding=0,
        values_payload=b"\x01\x02\x03",
        icc_profile=b"ICC!",
        exif=b"MM\x00*\x00\x00\x00\x08",
        text={"k": "v"},
    )


# --- layout ------------------------------------------------------------------------------------


def test_signature_and_version():
    assert container.SIGNATURE == SIG
    assert container.FORMAT_VERSION == 1
    assert issubclass(TruncatedError, FormatError) and issubclass(FormatError, ValueError)


def test_ihdr_bytes_by_hand():
    expected = b"".join(
        [
            b"\x00\x00\x00\x0e",  # length 14
            b"IHDR",
            b"\x01",  # version
            b"\x00",  # mode L
            b"\x00\x00\x00\x05",  # width
            b"\x00\x00\x00\x03",  # height
            b"\x00\x10",  # levels 16
            b"\x04",  # spacing
            b"\x00",  # flags
        ]
    )
    assert IHDR[:-4] == expected
    assert container.build(sample())[8:34] == IHDR


def test_build_matches_hand_built_file():
    assert len(FULL) == 151
    assert container.build(sample()) == FULL


def test_build_minimal():
    f = IpcFile(
        header=Header(width=5, height=3, levels=16, spacing=4),
        edge=b"EDGEDATA",
        seed=None,
        values_count=7,
        values_coding=0,
        values_payload=b"\x01\x02\x03",
    )
    assert container.build(f) == MINIMAL


def test_parse_hand_built_file():
    assert container.parse(FULL) == sample()


def test_parse_minimal_defaults():
    f = container.parse(MINIMAL)
    assert f.seed is None and f.icc_profile is None and f.exif is None and f.text == {}
    assert f.truncated is False
    assert f.header == Header(width=5, height=3, levels=16, spacing=4, mode="L", version=1)


def test_round_trip_text_unicode_and_latin1_keyword():
    f = sample()
    f.text = {"threshold": "0.25", "Café": "naïve ✓", "empty": ""}
    f.seed = b""
    f.values_payload = bytes(range(256)) * 3
    assert container.parse(container.build(f)) == f


def test_trailing_bytes_ignored():
    assert container.parse(FULL + b"garbage after IEND") == sample()


def test_unknown_ancillary_chunks_skipped_anywhere():
    junk = chunk(b"zzZz", b"whatever")
    data = file_of(IHDR, junk, ICCP, EXIF, TEXT, junk, EDGE, junk, SEED, VALS, junk, IEND)
    assert container.parse(data) == sample()


def test_chunk_table():
    table = container.chunk_table(FULL)
    got = [(c.type, c.offset, c.length) for c in table]
    assert got == [
        ("IHDR", 8, 14),
        ("iCCP", 34, 4),
        ("eXIf", 50, 8),
        ("tEXt", 70, 3),
        ("EDGE", 85, 8),
        ("SEED", 105, 2),
        ("VALS", 119, 8),
        ("IEND", 139, 0),
    ]


def test_verify():
    container.verify(FULL)
    with pytest.raises(FormatError, match="CRC"):
        container.verify(FULL[:95] + b"X" + FULL[96:])


# --- header fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"version": 0}, "version 0"),
        ({"version": 2}, "version 2"),
        ({"mode": 1}, "mode code 1"),
        ({"flags": 1}, "flags"),
        ({"width": 0}, "width"),
        ({"height": 0}, "height"),
        ({"width": 2**31}, "width"),
        ({"height": 2**32 - 1}, "height"),
        ({"levels": 1}, "levels"),
        ({"levels": 257}, "levels"),
        ({"spacing": 0}, "spacing"),
    ],
)
def test_bad_header_fields(fields, message):
    data = file_of(ihdr(**fields), EDGE, VALS, IEND)
    with pytest.raises(FormatError, match=message):
        container.parse(data)
    with pytest.raises(FormatError, match=message):
        container.read_head(io.BytesIO(data))


def test_header_edges_of_ranges_accepted():
    for fields in (
        {"levels": 2, "spacing": 1, "width": 1, "height": 1},
        {"levels": 256, "spacing": 255, "width": 2**31 - 1, "height": 2**31 - 1},
    ):
        data = file_of(ihdr(**fields), EDGE, VALS, IEND)
        h = container.parse(data).header
        assert (h.levels, h.spacing, h.width, h.height) == (
            fields["levels"],
            fields["spacing"],
            fields["width"],
            fields["height"],
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": 0},
        {"levels": 300},
        {"spacing": 256},
        {"mode": "RGB"},
        {"version": 2},
    ],
)
def test_header_constructor_validates(kwargs):
    base = {"width": 5, "height": 3, "levels": 16, "spacing": 4}
    with pytest.raises(FormatError):
        Header(**{**base, **kwargs})


# --- build refuses what parse would reject --------------------------------------------------------


def test_build_rejects_bad_input():
    f = sample()
    f.header.levels = 1  # mutated after construction
    with pytest.raises(ValueError, match="levels"):
        container.build(f)
    f = sample()
    f.values_coding = 1
    with pytest.raises(ValueError, match="coding"):
        container.build(f)
    f = sample()
    f.values_count = 2**32
    with pytest.raises(ValueError, match="values_count"):
        container.build(f)
    for keyword in ("", "x" * 80, "tab\there", "nul\x00", "Ω"):
        f = sample()
        f.text = {keyword: "v"}
        with pytest.raises(ValueError):
            container.build(f)


# --- signature ---------------------------------------------------------------------------------


def test_bad_signature():
    with pytest.raises(FormatError, match="not an IPC file"):
        container.parse(b"\x89PNG\r\n\x1a\n" + FULL[8:])
    with pytest.raises(TruncatedError, match="empty"):
        container.parse(b"")
    # CR LF -> LF translation
    with pytest.raises(FormatError, match="damaged"):
        container.parse(FULL.replace(b"\r\n", b"\n", 1))
    for n in range(1, 8):
        with pytest.raises(TruncatedError, match="signature"):
            container.parse(FULL[:n], lenient=True)
    with pytest.raises(FormatError, match="not an IPC file"):
        container.read_head(io.BytesIO(b"GIF89a.............."))


# --- order and framing rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "chunks, message",
    [
        ((EDGE, IHDR, VALS, IEND), "first chunk must be IHDR"),
        ((ICCP, IHDR, EDGE, VALS, IEND), "first chunk must be IHDR"),
        ((chunk(b"zzzz", b""), IHDR, EDGE, VALS, IEND), "first chunk must be IHDR"),
        ((IHDR, IHDR, EDGE, VALS, IEND), "duplicate IHDR"),
        ((IHDR, ICCP, ICCP, EDGE, VALS, IEND), "duplicate iCCP"),
        ((IHDR, EXIF, EXIF, EDGE, VALS, IEND), "duplicate eXIf"),
        ((IHDR, EDGE, ICCP, VALS, IEND), "iCCP chunk at offset 54 comes after a data chunk"),
        ((IHDR, EDGE, EXIF, VALS, IEND), "eXIf .* after a data chunk"),
        ((IHDR, EDGE, VALS, TEXT, IEND), "tEXt .* after a data chunk"),
        ((IHDR, SEED, EDGE, VALS, IEND), "SEED .* before EDGE"),
        ((IHDR, VALS, EDGE, IEND), "VALS .* before EDGE"),
        ((IHDR, EDGE, VALS, SEED, IEND), "SEED .* after VALS"),
        ((IHDR, EDGE, EDGE, VALS, IEND), "duplicate EDGE"),
        ((IHDR, EDGE, SEED, SEED, VALS, IEND), "duplicate SEED"),
        ((IHDR, EDGE, VALS, VALS, IEND), "duplicate VALS"),
        ((IHDR, VALS, IEND), "VALS .* before EDGE"),
        ((IHDR, IEND), "missing EDGE"),
        ((IHDR, EDGE, IEND), "missing VALS"),
        ((IHDR, EDGE, SEED, IEND), "missing VALS"),
        ((IHDR, chunk(b"QUUX", b""), EDGE, VALS, IEND), "unknown critical QUUX"),
        ((IHDR, EDGE, VALS, chunk(b"Iccp", b""), IEND), "unknown critical Iccp"),
        ((IHDR, chunk(b"ab1d", b""), EDGE, VALS, IEND), "not 4 ASCII letters"),
        ((IHDR, chunk(b"ab\xe9d", b""), EDGE, VALS, IEND), "not 4 ASCII letters"),
        ((chunk(b"IHDR", IHDR[8:-4] + b"\x00"), EDGE, VALS, IEND), "IHDR .* must be 14"),
        ((chunk(b"IHDR", IHDR[8:-5]), EDGE, VALS, IEND), "IHDR .* must be 14"),
        ((IHDR, EDGE, VALS, chunk(b"IEND", b"x")), "IEND .* must be 0"),
        ((IHDR, EDGE, chunk(b"VALS", b"\x00\x00\x00\x00"), IEND), "VALS .* at least 5"),
        ((IHDR, EDGE, chunk(b"VALS", b"\x00\x00\x00\x00\x01"), IEND), "unknown VALS coding 1"),
        ((IHDR, chunk(b"tEXt", b"novalue"), EDGE, VALS, IEND), "no NUL"),
        ((IHDR, chunk(b"tEXt", b"\x00v"), EDGE, VALS, IEND), "keyword must be 1..79"),
        ((IHDR, chunk(b"tEXt", b"k" * 80 + b"\x00v"), EDGE, VALS, IEND), "keyword must be 1..79"),
        ((IHDR, chunk(b"tEXt", b"a\nb\x00v"), EDGE, VALS, IEND), "printable Latin-1"),
        ((IHDR, chunk(b"tEXt", b"k\x00\xff\xfe"), EDGE, VALS, IEND), "not UTF-8"),
        ((IHDR, TEXT, TEXT, EDGE, VALS, IEND), "keyword 'k' repeated"),
        ((IHDR, EDGE, VALS), "before IEND"),
    ],
)
def test_structure_errors(chunks, message):
    data = file_of(*chunks)
    with pytest.raises(FormatError, match=message):
        container.parse(data)
    with pytest.raises(FormatError, match=message):
        container.verify(data)


def test_longest_keyword_accepted():
    data = file_of(IHDR, chunk(b"tEXt", b"k" * 79 + b"\x00\xc3\xa9"), EDGE, VALS, IEND)
    assert container.parse(data).text == {"k" * 79: "é"}


def test_crc_errors_in_every_chunk_even_lenient():
    offsets = [8, 34, 50, 70, 85, 105, 119, 139, 151]
    for start, end in zip(offsets[:-1], offsets[1:], strict=True):
        for pos in (start + 4, end - 1):  # a type byte (changed case keeps it a letter), the CRC
            bad = bytearray(FULL)
            bad[pos] ^= 0x20 if pos == start + 4 else 0x01
            for lenient in (False, True):
                with pytest.raises(FormatError, match="CRC mismatch|unknown critical|first chunk"):
                    container.parse(bytes(bad), lenient=lenient)
        if end - start > 12:  # a data byte
            bad = bytearray(FULL)
            bad[start + 8] ^= 0x40
            for lenient in (False, True):
                with pytest.raises(FormatError, match=f"CRC mismatch in .* at offset {start}"):
                    container.parse(bytes(bad), lenient=lenient)


def test_crc_error_message_values():
    bad = bytearray(MINIMAL)
    bad[-1] ^= 0xFF
    stored = int.from_bytes(bad[-4:], "big")
    with pytest.raises(FormatError, match=f"IEND chunk at offset 74: stored {stored:#010x}"):
        container.parse(bytes(bad))


# --- truncation --------------------------------------------------------------------------------


def expected_lenient(n: int) -> IpcFile:
    """What a lenient parse of FULL[:n] must give, from the hand-computed offsets."""
    data = FULL
    vals_ok = n >= 127 + 5
    return IpcFile(
        header=Header(width=5, height=3, levels=16, spacing=4),
        edge=data[93 : min(n, 101)] if n >= 93 else b"",
        seed=data[113 : min(n, 115)] if n >= 113 else None,
        values_count=7 if vals_ok else 0,
        values_coding=0,
        values_payload=data[132 : min(n, 135)] if vals_ok else b"",
        icc_profile=b"ICC!" if n >= 46 else None,
        exif=b"MM\x00*\x00\x00\x00\x08" if n >= 66 else None,
        text={"k": "v"} if n >= 81 else {},
        truncated=True,
    )


def test_truncation_at_every_byte():
    for n in range(len(FULL)):
        cut = FULL[:n]
        with pytest.raises(TruncatedError):
            container.parse(cut)
        with pytest.raises(TruncatedError):
            container.verify(cut)
        if n < 30:  # signature, IHDR head and IHDR data needed even when lenient
            with pytest.raises(TruncatedError):
                container.parse(cut, lenient=True)
        else:
            assert container.parse(cut, lenient=True) == expected_lenient(n), n


def test_truncation_read_head_at_every_byte():
    for n in range(93):  # up to the end of the EDGE head
        with pytest.raises(TruncatedError):
            container.read_head(io.BytesIO(FULL[:n]))
    assert container.read_head(io.BytesIO(FULL[:93])).data_offset == 85


def test_lenient_complete_file_not_truncated():
    assert container.parse(FULL, lenient=True).truncated is False


# --- absurd lengths ----------------------------------------------------------------------------


def test_huge_declared_length_fails_fast():
    body = file_of(IHDR, struct.pack(">I", 2**31 - 1) + b"EDGE" + b"x" * 20)
    assert len(body) < 100
    with pytest.raises(TruncatedError, match="declares 2147483647"):
        container.parse(body)
    f = container.parse(body, lenient=True)
    assert f.edge == b"x" * 20 and f.truncated
    for length in (2**31, 2**32 - 1):
        bad = file_of(IHDR, struct.pack(">I", length) + b"EDGE" + b"x" * 20)
        for lenient in (False, True):
            with pytest.raises(FormatError, match=f"length {length} >") as info:
                container.parse(bad, lenient=lenient)
            assert not isinstance(info.value, TruncatedError)


class CountingReader(io.BytesIO):
    """A file object that records the largest read request and the furthest byte read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest = 0

    def read(self, n: int | None = -1) -> bytes:
        assert n is not None and n >= 0, "read_head must not read to EOF"
        self.largest = max(self.largest, n)
        return super().read(n)


def test_read_head_huge_metadata_length_bounded_reads():
    data = file_of(IHDR, struct.pack(">I", 2**31 - 1) + b"iCCP" + b"x" * 40)
    fp = CountingReader(data)
    with pytest.raises(TruncatedError, match="iCCP .* declares 2147483647"):
        container.read_head(fp)
    assert fp.largest <= 1 << 20


# --- read_head ---------------------------------------------------------------------------------


def test_read_head():
    fp = CountingReader(FULL)
    head = container.read_head(fp)
    header, icc, exif, text, offset = head  # tuple form
    assert header == Header(width=5, height=3, levels=16, spacing=4)
    assert (icc, exif, text, offset) == (b"ICC!", b"MM\x00*\x00\x00\x00\x08", {"k": "v"}, 85)
    assert head.data_offset == 85
    assert fp.tell() <= 93  # nothing of the EDGE data was read


def test_read_head_minimal_and_skips_unknown_ancillary():
    data = file_of(IHDR, chunk(b"xxXx", b"123"), EDGE, VALS, IEND)
    head = container.read_head(io.BytesIO(data))
    assert (head.icc_profile, head.exif, head.text, head.data_offset) == (None, None, {}, 49)


def test_read_head_errors():
    with pytest.raises(FormatError, match="CRC mismatch in iCCP"):
        container.read_head(io.BytesIO(FULL[:43] + b"?" + FULL[44:]))
    with pytest.raises(FormatError, match="CRC mismatch in IHDR"):
        container.read_head(io.BytesIO(FULL[:20] + b"?" + FULL[21:]))
    with pytest.raises(FormatError, match="missing EDGE"):
        container.read_head(io.BytesIO(file_of(IHDR, IEND)))
    with pytest.raises(FormatError, match="VALS .* before EDGE"):
        container.read_head(io.BytesIO(file_of(IHDR, VALS, EDGE, IEND)))
    with pytest.raises(FormatError, match="unknown critical"):
        container.read_head(io.BytesIO(file_of(IHDR, chunk(b"ABCD", b""), EDGE, VALS, IEND)))


def test_read_head_offsets_relative_to_start_position():
    fp = io.BytesIO(b"prefix" + FULL)
    fp.seek(6)
    assert container.read_head(fp).data_offset == 85
