"""Tests of the container layout: bytes written by hand (struct + zlib, not construct)."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import replace

import pytest

from PIL_ipc.format import container, reader
from PIL_ipc.errors import FormatError, IpcError, TruncatedError
from PIL_ipc.format.container import Header, IpcFile

SIG = bytes([0x89, 0x49, 0x50, 0x43, 0x0D, 0x0A, 0x1A, 0x0A])


def chunk(ctype: bytes, data: bytes, length: int | None = None) -> bytes:
    """One chunk built independently of container.py."""
    n = len(data) if length is None else length
    return struct.pack(">I", n) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def ihdr(version=3, mode=0, width=5, height=3, levels=16, spacing=4, flags=0, lattice=6,
         length=None) -> bytes:
    """IHDR of version 3 or 2 (16 data bytes, with the lattice) or, for length 14, of
    version 1."""
    fields = struct.pack(">BBIIHBB", version, mode, width, height, levels, spacing, flags)
    if length is None:
        length = 14 if version == 1 else 16
    if length == 16:
        fields += struct.pack(">H", lattice)
    return chunk(b"IHDR", fields)


IHDR = ihdr()
IHDR_V1 = ihdr(version=1)
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
# IHDR 8, iCCP 36, eXIf 52, tEXt 72, EDGE 87, SEED 107, VALS 121, IEND 141, end 153.
FULL = file_of(IHDR, ICCP, EXIF, TEXT, EDGE, SEED, VALS, IEND)
MINIMAL = file_of(IHDR, EDGE, VALS, IEND)
# The same as version 1 (14-byte IHDR, no lattice): every offset after IHDR 2 bytes smaller.
FULL_V1 = file_of(IHDR_V1, ICCP, EXIF, TEXT, EDGE, SEED, VALS, IEND)


def sample(version=3) -> IpcFile:
    return IpcFile(
        header=Header(width=5, height=3, levels=16, spacing=4, version=version,
                      lattice=6 if version >= 2 else 0),
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
    assert container.FORMAT_VERSION == 5
    assert Header(width=1, height=1, levels=2, spacing=1) == Header(
        width=1, height=1, levels=2, spacing=1, mode="L", version=3, lattice=0)
    assert issubclass(TruncatedError, FormatError) and issubclass(FormatError, IpcError)
    assert issubclass(IpcError, ValueError)


def test_ihdr_bytes_by_hand():
    expected = b"".join(
        [
            b"\x00\x00\x00\x10",  # length 16
            b"IHDR",
            b"\x03",  # version
            b"\x00",  # mode L
            b"\x00\x00\x00\x05",  # width
            b"\x00\x00\x00\x03",  # height
            b"\x00\x10",  # levels 16
            b"\x04",  # spacing
            b"\x00",  # flags
            b"\x00\x06",  # lattice 6
        ]
    )
    assert IHDR[:-4] == expected
    assert container.build(sample())[8:36] == IHDR
    # the spec's example (section 4.3), byte for byte
    spec = bytes.fromhex("00 00 00 10 49 48 44 52 03 00 00 00 00 05 00 00 00 03 00 10 04 00"
                         " 00 06")
    assert IHDR[:-4] == spec


def test_version_1_ihdr_bytes_by_hand():
    expected = bytes.fromhex("00 00 00 0e 49 48 44 52 01 00 00 00 00 05 00 00 00 03 00 10"
                             " 04 00")
    assert IHDR_V1[:-4] == expected
    assert container.build(sample(version=1))[8:34] == IHDR_V1


def test_build_matches_hand_built_file():
    assert len(FULL) == 153
    assert container.build(sample()) == FULL
    assert len(FULL_V1) == 151
    assert container.build(sample(version=1)) == FULL_V1


def test_build_minimal():
    f = IpcFile(
        header=Header(width=5, height=3, levels=16, spacing=4, lattice=6),
        edge=b"EDGEDATA",
        seed=None,
        values_count=7,
        values_coding=0,
        values_payload=b"\x01\x02\x03",
    )
    assert container.build(f) == MINIMAL


def test_parse_hand_built_file():
    assert reader.parse(FULL) == sample()


def test_parse_version_1_file():
    """A version 1 file still parses: version 1, lattice 0."""
    f = reader.parse(FULL_V1)
    assert f == sample(version=1)
    assert (f.header.version, f.header.lattice) == (1, 0)
    assert reader.parse(file_of(IHDR_V1, EDGE, VALS, IEND)).header == Header(
        width=5, height=3, levels=16, spacing=4, version=1, lattice=0)
    head = reader.read_head(io.BytesIO(FULL_V1))
    assert (head.header.version, head.header.lattice, head.data_offset) == (1, 0, 85)
    assert [(c.type, c.offset, c.length) for c in reader.chunk_table(FULL_V1)][:2] == [
        ("IHDR", 8, 14), ("iCCP", 34, 4)]
    reader.verify(FULL_V1)


@pytest.mark.parametrize("lattice", [0, 1, 255, 256, 65535])
def test_lattice_field_round_trip(lattice):
    data = file_of(ihdr(lattice=lattice), EDGE, VALS, IEND)
    h = reader.parse(data).header
    assert (h.version, h.lattice) == (3, lattice)
    f = reader.parse(data)
    assert container.build(f) == data


@pytest.mark.parametrize(
    "version, length, message",
    [
        (1, 16, "IHDR of version 1 has length 16, must be 14"),
        (2, 14, "IHDR of version 2 has length 14, must be 16"),
        (3, 14, "IHDR of version 3 has length 14, must be 16"),
        (5, 14, "IHDR of version 5 has length 14, must be 16"),
        (6, 16, "unsupported format version 6"),
        (6, 14, "unsupported format version 6"),
        (0, 14, "unsupported format version 0"),
        (255, 16, "unsupported format version 255"),
    ],
)
def test_ihdr_length_and_version_must_agree(version, length, message):
    data = file_of(ihdr(version=version, length=length), EDGE, VALS, IEND)
    for lenient in (False, True):
        with pytest.raises(FormatError, match=message):
            reader.parse(data, lenient=lenient)
    with pytest.raises(FormatError, match=message):
        reader.read_head(io.BytesIO(data))
    with pytest.raises(FormatError, match=message):
        reader.verify(data)


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("coding", [0, 1, 2, 255])
def test_vals_codings_of_each_version(version, coding):
    """Coding 0 in every version; coding 1 (bounded) from version 3 on; nothing else."""
    vals = chunk(b"VALS", b"\x00\x00\x00\x07" + bytes([coding]) + b"\x01\x02")
    data = file_of(ihdr(version=version), EDGE, vals, IEND)
    allowed = coding == 0 or (coding == 1 and version >= 3)
    f = replace(sample(version), values_coding=coding)
    if allowed:
        assert reader.parse(data).values_coding == coding
        assert reader.parse(container.build(f)).values_coding == coding
    else:
        with pytest.raises(FormatError, match=f"unknown VALS coding {coding}"):
            reader.parse(data)
        with pytest.raises(ValueError, match=f"unknown VALS coding {coding}"):
            container.build(f)


def test_parse_minimal_defaults():
    f = reader.parse(MINIMAL)
    assert f.seed is None and f.icc_profile is None and f.exif is None and f.text == {}
    assert f.truncated is False
    assert f.header == Header(width=5, height=3, levels=16, spacing=4, mode="L", version=3,
                              lattice=6)


def test_round_trip_text_unicode_and_latin1_keyword():
    f = sample()
    f.text = {"threshold": "0.25", "Café": "naïve ✓", "empty": ""}
    f.seed = b""
    f.values_payload = bytes(range(256)) * 3
    assert reader.parse(container.build(f)) == f


def test_trailing_bytes_ignored():
    assert reader.parse(FULL + b"garbage after IEND") == sample()


def test_unknown_ancillary_chunks_skipped_anywhere():
    junk = chunk(b"zzZz", b"whatever")
    data = file_of(IHDR, junk, ICCP, EXIF, TEXT, junk, EDGE, junk, SEED, VALS, junk, IEND)
    assert reader.parse(data) == sample()


def test_chunk_table():
    table = reader.chunk_table(FULL)
    got = [(c.type, c.offset, c.length) for c in table]
    assert got == [
        ("IHDR", 8, 16),
        ("iCCP", 36, 4),
        ("eXIf", 52, 8),
        ("tEXt", 72, 3),
        ("EDGE", 87, 8),
        ("SEED", 107, 2),
        ("VALS", 121, 8),
        ("IEND", 141, 0),
    ]


def test_verify():
    reader.verify(FULL)
    with pytest.raises(FormatError, match="CRC"):
        reader.verify(FULL[:95] + b"X" + FULL[96:])


# --- header fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"version": 0}, "version 0"),
        ({"version": 6}, "version 6"),
        ({"version": 1, "mode": 1}, "mode code 1"),
        ({"version": 1, "flags": 1}, "flags"),
        ({"version": 1, "levels": 1}, "levels"),
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
        reader.parse(data)
    with pytest.raises(FormatError, match=message):
        reader.read_head(io.BytesIO(data))


def test_header_edges_of_ranges_accepted():
    for fields in (
        {"levels": 2, "spacing": 1, "width": 1, "height": 1, "lattice": 0},
        {"levels": 256, "spacing": 255, "width": 2**31 - 1, "height": 2**31 - 1,
         "lattice": 65535},
    ):
        for version in (1, 2, 3):
            data = file_of(ihdr(version=version, **fields), EDGE, VALS, IEND)
            h = reader.parse(data).header
            assert (h.levels, h.spacing, h.width, h.height) == (
                fields["levels"],
                fields["spacing"],
                fields["width"],
                fields["height"],
            )
            assert h.lattice == (fields["lattice"] if version >= 2 else 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": 0},
        {"levels": 300},
        {"spacing": 256},
        {"mode": "RGB", "version": 3},
        {"mode": "CMYK"},
        {"version": 6},
        {"version": 0},
        {"lattice": -1},
        {"lattice": 65536},
        {"version": 1, "lattice": 4},  # version 1 has no lattice
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
    f.values_coding = 2
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
        reader.parse(b"\x89PNG\r\n\x1a\n" + FULL[8:])
    with pytest.raises(TruncatedError, match="empty"):
        reader.parse(b"")
    # CR LF -> LF translation
    with pytest.raises(FormatError, match="damaged"):
        reader.parse(FULL.replace(b"\r\n", b"\n", 1))
    for n in range(1, 8):
        with pytest.raises(TruncatedError, match="signature"):
            reader.parse(FULL[:n], lenient=True)
    with pytest.raises(FormatError, match="not an IPC file"):
        reader.read_head(io.BytesIO(b"GIF89a.............."))


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
        ((IHDR, EDGE, ICCP, VALS, IEND), "iCCP chunk at offset 56 comes after a data chunk"),
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
        ((chunk(b"IHDR", IHDR[8:-4] + b"\x00"), EDGE, VALS, IEND), "IHDR .* must be 14 or 16"),
        ((chunk(b"IHDR", IHDR[8:-5]), EDGE, VALS, IEND), "IHDR .* must be 14 or 16"),
        ((chunk(b"IHDR", IHDR_V1[8:-5]), EDGE, VALS, IEND), "IHDR .* must be 14 or 16"),
        ((chunk(b"IHDR", b""), EDGE, VALS, IEND), "IHDR .* must be 14 or 16"),
        ((IHDR, EDGE, VALS, chunk(b"IEND", b"x")), "IEND .* must be 0"),
        ((IHDR, EDGE, chunk(b"VALS", b"\x00\x00\x00\x00"), IEND), "VALS .* at least 5"),
        ((IHDR, EDGE, chunk(b"VALS", b"\x00\x00\x00\x00\x02"), IEND), "unknown VALS coding 2"),
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
        reader.parse(data)
    with pytest.raises(FormatError, match=message):
        reader.verify(data)


def test_longest_keyword_accepted():
    data = file_of(IHDR, chunk(b"tEXt", b"k" * 79 + b"\x00\xc3\xa9"), EDGE, VALS, IEND)
    assert reader.parse(data).text == {"k" * 79: "é"}


def test_crc_errors_in_every_chunk_even_lenient():
    offsets = [8, 36, 52, 72, 87, 107, 121, 141, 153]
    for start, end in zip(offsets[:-1], offsets[1:], strict=True):
        for pos in (start + 4, end - 1):  # a type byte (changed case keeps it a letter), the CRC
            bad = bytearray(FULL)
            bad[pos] ^= 0x20 if pos == start + 4 else 0x01
            for lenient in (False, True):
                with pytest.raises(FormatError, match="CRC mismatch|unknown critical|first chunk"):
                    reader.parse(bytes(bad), lenient=lenient)
        if end - start > 12:  # a data byte
            bad = bytearray(FULL)
            bad[start + 8] ^= 0x40
            for lenient in (False, True):
                with pytest.raises(FormatError, match=f"CRC mismatch in .* at offset {start}"):
                    reader.parse(bytes(bad), lenient=lenient)


def test_crc_error_message_values():
    bad = bytearray(MINIMAL)
    bad[-1] ^= 0xFF
    stored = int.from_bytes(bad[-4:], "big")
    with pytest.raises(FormatError, match=f"IEND chunk at offset 76: stored {stored:#010x}"):
        reader.parse(bytes(bad))


# --- truncation --------------------------------------------------------------------------------


def expected_lenient(n: int) -> IpcFile:
    """What a lenient parse of FULL[:n] must give, from the hand-computed offsets."""
    data = FULL
    vals_ok = n >= 129 + 5
    return IpcFile(
        header=Header(width=5, height=3, levels=16, spacing=4, lattice=6),
        edge=data[95 : min(n, 103)] if n >= 95 else b"",
        seed=data[115 : min(n, 117)] if n >= 115 else None,
        values_count=7 if vals_ok else 0,
        values_coding=0,
        values_payload=data[134 : min(n, 137)] if vals_ok else b"",
        icc_profile=b"ICC!" if n >= 48 else None,
        exif=b"MM\x00*\x00\x00\x00\x08" if n >= 68 else None,
        text={"k": "v"} if n >= 83 else {},
        truncated=True,
    )


def test_truncation_at_every_byte():
    for n in range(len(FULL)):
        cut = FULL[:n]
        with pytest.raises(TruncatedError):
            reader.parse(cut)
        with pytest.raises(TruncatedError):
            reader.verify(cut)
        if n < 95:  # even when lenient: what opening reads, up to the first data chunk's head
            with pytest.raises(TruncatedError):
                reader.parse(cut, lenient=True)
        else:
            assert reader.parse(cut, lenient=True) == expected_lenient(n), n


def test_truncation_read_head_at_every_byte():
    for n in range(95):  # up to the end of the EDGE head
        with pytest.raises(TruncatedError):
            reader.read_head(io.BytesIO(FULL[:n]))
    assert reader.read_head(io.BytesIO(FULL[:95])).data_offset == 87


def test_version_1_truncation_at_every_byte():
    for n in range(len(FULL_V1)):
        with pytest.raises(TruncatedError):
            reader.parse(FULL_V1[:n])
        if n < 93:  # up to the EDGE head (offset 85 + 8) in version 1, as opening reads
            with pytest.raises(TruncatedError):
                reader.parse(FULL_V1[:n], lenient=True)
        else:
            f = reader.parse(FULL_V1[:n], lenient=True)
            assert f.truncated and f.header == sample(version=1).header


def test_lenient_complete_file_not_truncated():
    assert reader.parse(FULL, lenient=True).truncated is False


# --- absurd lengths ----------------------------------------------------------------------------


def test_huge_declared_length_fails_fast():
    body = file_of(IHDR, struct.pack(">I", 2**31 - 1) + b"EDGE" + b"x" * 20)
    assert len(body) < 100
    with pytest.raises(TruncatedError, match="declares 2147483647"):
        reader.parse(body)
    f = reader.parse(body, lenient=True)
    assert f.edge == b"x" * 20 and f.truncated
    for length in (2**31, 2**32 - 1):
        bad = file_of(IHDR, struct.pack(">I", length) + b"EDGE" + b"x" * 20)
        for lenient in (False, True):
            with pytest.raises(FormatError, match=f"length {length} >") as info:
                reader.parse(bad, lenient=lenient)
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
        reader.read_head(fp)
    assert fp.largest <= 1 << 20


# --- read_head ---------------------------------------------------------------------------------


def test_read_head():
    fp = CountingReader(FULL)
    head = reader.read_head(fp)
    header, icc, exif, text, offset, xmp = head  # tuple form
    assert header == Header(width=5, height=3, levels=16, spacing=4, lattice=6)
    assert (icc, exif, text, offset) == (b"ICC!", b"MM\x00*\x00\x00\x00\x08", {"k": "v"}, 87)
    assert xmp is None
    assert head.data_offset == 87
    assert fp.tell() <= 95  # nothing of the EDGE data was read


def test_read_head_minimal_and_skips_unknown_ancillary():
    data = file_of(IHDR, chunk(b"xxXx", b"123"), EDGE, VALS, IEND)
    head = reader.read_head(io.BytesIO(data))
    assert (head.icc_profile, head.exif, head.text, head.data_offset) == (None, None, {}, 51)


def test_read_head_errors():
    with pytest.raises(FormatError, match="CRC mismatch in iCCP"):
        reader.read_head(io.BytesIO(FULL[:45] + b"?" + FULL[46:]))
    with pytest.raises(FormatError, match="CRC mismatch in IHDR"):
        reader.read_head(io.BytesIO(FULL[:20] + b"?" + FULL[21:]))
    with pytest.raises(FormatError, match="missing EDGE"):
        reader.read_head(io.BytesIO(file_of(IHDR, IEND)))
    with pytest.raises(FormatError, match="VALS .* before EDGE"):
        reader.read_head(io.BytesIO(file_of(IHDR, VALS, EDGE, IEND)))
    with pytest.raises(FormatError, match="unknown critical"):
        reader.read_head(io.BytesIO(file_of(IHDR, chunk(b"ABCD", b""), EDGE, VALS, IEND)))


def test_read_head_offsets_relative_to_start_position():
    fp = io.BytesIO(b"prefix" + FULL)
    fp.seek(6)
    assert reader.read_head(fp).data_offset == 87
