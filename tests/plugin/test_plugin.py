"""Tests of the Pillow surface: open, load, save, info, verify, errors, limits."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile, UnidentifiedImageError
from reference_solver import block_means

import PIL_ipc
from PIL_ipc import IpcImagePlugin, decode, encode
from PIL_ipc.format import container, reader

SIZE = 64


def make_image(seed: int = 0) -> Image.Image:
    """A small grey image with smooth shading and sharp edges."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    a = 40 + 1.5 * x + 0.5 * y
    a[16:44, 20:50] = 200 - 30 * seed
    a[(x - 18) ** 2 + (y - 46) ** 2 < 100] = 20
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L")


@pytest.fixture(scope="module")
def original() -> Image.Image:
    return make_image()


@pytest.fixture(scope="module")
def encoded(original) -> bytes:
    out = io.BytesIO()
    original.save(out, format="IPC")
    return out.getvalue()


@pytest.fixture(scope="module")
def expected(encoded) -> np.ndarray:
    """The pixels the codec itself gives; the plugin must hand exactly these to Pillow."""
    return decode.decode(encoded)


@pytest.fixture
def path(tmp_path, encoded):
    p = tmp_path / "image.ipc"
    p.write_bytes(encoded)
    return p


def rebuilt(data: bytes, **changes) -> bytes:
    """The same file with some container fields replaced (CRCs recomputed)."""
    f = reader.parse(data)
    for name, value in changes.items():
        setattr(f, name, value)
    return container.build(f)


# --- registration ------------------------------------------------------------------------------


def test_registration(root):
    # the package and its distribution metadata (pyproject.toml) carry the same version
    pyproject = (root / "pyproject.toml").read_text()
    assert f'\nversion = "{PIL_ipc.__version__}"\n' in pyproject
    assert Image.registered_extensions()[".ipc"] == "IPC"
    assert Image.MIME["IPC"] == "image/x-ipc"
    assert "IPC" in Image.OPEN and "IPC" in Image.SAVE


def test_accept():
    # the check Pillow calls on a file's first bytes, as registered with it
    accept = Image.OPEN["IPC"][1]
    assert accept(b"\x89IPC\r\n\x1a\n" + b"\x00" * 8)
    assert not accept(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
    assert not accept(b"\x89IPC\n\x1a\n\x00")


def test_import_does_not_load_codec(root):
    code = (
        "import sys, PIL_ipc\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PIL_ipc', 'numba')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    # the plugin reads headers (container, reader) and the recorded settings (the option
    # table); no coder, solver, encoder pipeline or numba is loaded
    assert out.stdout.strip() == str(["PIL_ipc", "PIL_ipc.IpcImagePlugin", "PIL_ipc.encode",
                                      "PIL_ipc.encode.options", "PIL_ipc.errors",
                                      "PIL_ipc.format", "PIL_ipc.format.container",
                                      "PIL_ipc.format.reader"])


# --- open and load ---------------------------------------------------------------------------


def check_image(im: Image.Image, expected: np.ndarray) -> None:
    assert im.format == "IPC" and im.mode == "L" and im.size == (SIZE, SIZE)
    assert im.get_format_mimetype() == "image/x-ipc"
    im.load()
    np.testing.assert_array_equal(np.asarray(im), expected)


def test_open_path(path, expected):
    with Image.open(path) as im:
        check_image(im, expected)


def test_open_str_path_and_file_object(path, expected):
    with Image.open(str(path)) as im:
        check_image(im, expected)
    with open(path, "rb") as f:
        with Image.open(f) as im:
            check_image(im, expected)
        assert not f.closed  # Pillow leaves a caller's file open


def test_open_bytesio(encoded, expected):
    im = Image.open(io.BytesIO(encoded))
    check_image(im, expected)


def test_open_with_formats(encoded):
    with Image.open(io.BytesIO(encoded), formats=["IPC"]) as im:
        assert im.format == "IPC"
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(encoded), formats=["PNG"])


def test_with_closes_file(path):
    with Image.open(path) as im:
        fp = im.fp
        assert not fp.closed
    assert fp.closed
    with Image.open(path) as im:
        fp = im.fp
        im.load()
    assert fp.closed


def test_open_reads_head_only(encoded):
    """_open must not touch the data chunks (their payloads are decoded on load)."""

    class Limited(io.BytesIO):
        limit = reader.read_head(io.BytesIO(encoded)).data_offset + 8 + 16

        def read(self, n=-1):
            assert n is not None and n >= 0 and self.tell() + n <= self.limit, (self.tell(), n)
            return super().read(n)

    im = Image.open(Limited(encoded))
    assert im.size == (SIZE, SIZE)


def test_reconstruction_resembles_original(original, expected):
    """A loose sanity check that the plugin shows the right picture, not the codec's quality."""
    diff = np.abs(expected.astype(int) - np.asarray(original, dtype=int))
    assert diff.mean() < 20


def test_load_twice_copy_convert_thumbnail(encoded, expected):
    im = Image.open(io.BytesIO(encoded))
    im.load()
    im.load()
    np.testing.assert_array_equal(np.asarray(im.copy()), expected)
    rgb = im.convert("RGB")
    assert rgb.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(rgb)[..., 1], expected)
    thumb = Image.open(io.BytesIO(encoded))
    thumb.thumbnail((16, 16))
    assert thumb.size == (16, 16)
    np.testing.assert_array_equal(np.asarray(im.crop((3, 5, 20, 9))), expected[5:9, 3:20])


def test_info_lattice_of_a_corpus_file(corpus):
    data = (corpus / "tiny.ipc").read_bytes()
    # the IHDR data starts at offset 16; the lattice is its u16 at data offset 14
    assert Image.open(io.BytesIO(data)).info["lattice"] == int.from_bytes(data[30:32], "big") == 4


def test_info(encoded):
    parsed = reader.parse(encoded)
    im = Image.open(io.BytesIO(encoded))
    assert im.info["version"] == container.version_for("L") == parsed.header.version
    assert im.info["levels"] == parsed.header.levels
    assert im.info["spacing"] == parsed.header.spacing
    assert im.info["lattice"] == parsed.header.lattice
    for key, value in parsed.text.items():
        assert im.info[key] == value
    assert "icc_profile" not in im.info and "exif" not in im.info


def test_info_of_a_version_1_file(corpus):
    data = (corpus / "v1-tiny.ipc").read_bytes()
    im = Image.open(io.BytesIO(data))
    assert (im.format, im.size, im.info["version"]) == ("IPC", (12, 8), 1)
    np.testing.assert_array_equal(np.asarray(im), decode.decode(data))


def test_save_options_reach_the_header(original):
    out = io.BytesIO()
    original.save(out, format="IPC", levels=17, spacing=3, unrelated_option=True)
    im = Image.open(io.BytesIO(out.getvalue()))
    assert (im.info["levels"], im.info["spacing"]) == (17, 3)


def test_independent_instances(original, encoded, expected):
    other = io.BytesIO()
    make_image(seed=3).save(other, format="IPC")
    a = Image.open(io.BytesIO(encoded))
    b = Image.open(io.BytesIO(other.getvalue()))
    b.load()
    a.load()
    np.testing.assert_array_equal(np.asarray(a), expected)
    np.testing.assert_array_equal(np.asarray(b), decode.decode(other.getvalue()))
    assert not np.array_equal(np.asarray(a), np.asarray(b))


# --- save ------------------------------------------------------------------------------------


def test_save_to_path_and_file_object(tmp_path, original, encoded):
    p = tmp_path / "out.ipc"
    original.save(p)  # format from the extension
    assert p.read_bytes() == encoded
    with open(tmp_path / "other.bin", "wb") as f:
        original.save(f, format="IPC")
    assert (tmp_path / "other.bin").read_bytes() == encoded


@pytest.mark.parametrize("mode", ["I", "F", "I;16", "LAB"])
def test_save_modes_without_a_faithful_rule_refused(mode):
    im = Image.new(mode, (8, 8))
    with pytest.raises(OSError, match=f"cannot write mode {re.escape(mode)} as IPC: .*first"):
        im.save(io.BytesIO(), format="IPC")


def colour_test_image(mode: str, size=(24, 16)) -> Image.Image:
    """A smooth two-colour image with a step, in ``mode`` (via RGB or RGBA)."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([np.where(x < w // 2, 200, 40) + 0 * y, 60 + 4 * y,
                    np.where(x < w // 2, 30, 220) + 0 * y], axis=2).astype(np.uint8)
    im = Image.fromarray(rgb)
    if mode == "1":
        return im.convert("L").convert("1", dither=Image.Dither.NONE)
    return im if mode == "RGB" else im.convert(mode)


def save_and_open(im: Image.Image, **options) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, format="IPC", threshold=16, levels=64, chroma_levels=64, lattice=3, **options)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out


@pytest.mark.parametrize("mode, saved, peer", [
    ("1", "L", "L"), ("CMYK", "RGB", "RGB"), ("YCbCr", "RGB", "RGB"), ("HSV", "RGB", "RGB"),
    ("PA", "RGBA", "RGBA")])
def test_save_converted_modes(mode, saved, peer):
    """Modes converted before saving give back the documented mode, close to Pillow's own
    conversion of the image (alpha exactly)."""
    im = colour_test_image(mode)
    out = save_and_open(im)
    assert out.mode == saved
    expected = np.asarray(im.convert(peer), dtype=float)
    got = np.asarray(out, dtype=float)
    assert got.shape == expected.shape
    # (a 0/255 image from mode 1 has the largest steps: within 20 grey levels RMS)
    assert np.sqrt(np.mean((got - expected) ** 2)) < 20
    if saved.endswith("A"):
        assert np.array_equal(got[..., -1], expected[..., -1])


@pytest.mark.parametrize("transparency, saved", [(None, "RGB"), (0, "RGBA")])
def test_save_palette_mode_by_its_transparency(transparency, saved):
    im = colour_test_image("RGB").quantize(8)
    if transparency is not None:
        im.info["transparency"] = transparency
    out = save_and_open(im)
    assert out.mode == saved
    if transparency is not None:
        expected = np.asarray(im.convert("RGBA"))[..., 3]
        assert np.array_equal(np.asarray(out)[..., 3], expected)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_saved_modes_come_back(mode):
    im = colour_test_image(mode)
    if mode.endswith("A"):
        a = np.asarray(im).copy()
        a[..., -1] = np.arange(a.shape[1], dtype=np.uint8)[None, :] * 10
        im = Image.fromarray(a, mode)
    out = save_and_open(im, exact=True)
    assert out.mode == mode and out.size == im.size
    got, expected = np.asarray(out, dtype=float), np.asarray(im, dtype=float)
    assert np.sqrt(np.mean((got - expected) ** 2)) < 16
    if mode.endswith("A"):
        assert np.array_equal(got[..., -1], expected[..., -1])  # alpha is lossless


@pytest.mark.parametrize(
    "options",
    [{"levels": 1}, {"levels": 257}, {"spacing": 0}, {"contrast": -1.0}, {"bpp": 1.0, "size": 99},
     {"bpp": 1.0, "effort": 5}],
)
def test_save_bad_options(original, options):
    with pytest.raises(ValueError):
        original.save(io.BytesIO(), format="IPC", **options)


@pytest.mark.parametrize(
    "options",
    [{"levels": "16"}, {"levels": 16.5}, {"bpp": float("nan")}, {"size": 0}, {"lattice": -1},
     {"effort": "max"}, {"threshold": -1}, {"iterations": 10**9}, {"thin": "yes"},
     {"icc_profile": 123}, {"exif": 123}, {"exif": "text"}],
)
def test_save_bad_options_raise_before_any_work(original, options, monkeypatch, tmp_path):
    def never(*args, **kwargs):
        raise AssertionError("the encoder ran")

    monkeypatch.setattr(encode, "encode", never)
    with pytest.raises(ValueError):
        original.save(io.BytesIO(), format="IPC", **options)
    with pytest.raises(ValueError):
        original.save(tmp_path / "bad.ipc", **options)
    assert not (tmp_path / "bad.ipc").exists()


def test_failing_save_leaves_no_file(original, monkeypatch, tmp_path):
    """An error during encoding leaves nothing behind: the plugin writes the file in one piece
    after encoding, and Pillow removes a file its save created when the plugin raises."""
    def fails(*args, **kwargs):
        raise MemoryError("out of memory while encoding")

    monkeypatch.setattr(encode, "encode", fails)
    target = tmp_path / "out.ipc"
    with pytest.raises(MemoryError):
        original.save(target)
    assert not target.exists()
    out = io.BytesIO()
    with pytest.raises(MemoryError):
        original.save(out, format="IPC")
    assert out.getvalue() == b""


@pytest.mark.parametrize("effort", [0, 2])
def test_save_to_a_size_at_any_effort(original, effort):
    out = io.BytesIO()
    original.save(out, format="IPC", size=400, effort=effort)
    assert len(out.getvalue()) <= 400
    out.seek(0)
    with Image.open(out) as im:
        im.load()
        assert im.size == original.size
        assert np.array_equal(np.asarray(im), decode.decode(out.getvalue()))


def test_icc_and_exif_round_trip(original):
    icc = bytes(range(16)) + b"GRAY" + bytes(range(20, 256)) + bytes(range(256))  # a grey space
    exif = Image.Exif()
    exif[0x010E] = "grey test image"
    out = io.BytesIO()
    original.save(out, format="IPC", icc_profile=icc, exif=exif)
    raw = reader.parse(out.getvalue())
    assert raw.icc_profile == icc
    assert raw.exif[:4] in (b"II*\x00", b"MM\x00*")  # stored without the APP1 prefix
    im = Image.open(io.BytesIO(out.getvalue()))
    assert im.info["icc_profile"] == icc
    assert im.info["exif"] == b"Exif\x00\x00" + raw.exif
    assert im.getexif()[0x010E] == "grey test image"


def test_exif_bytes_with_and_without_prefix(original):
    tiff = Image.Exif()
    tiff[0x0131] = "PIL_ipc"
    body = tiff.tobytes()[6:]
    for given in (b"Exif\x00\x00" + body, body):
        out = io.BytesIO()
        original.save(out, format="IPC", exif=given)
        assert reader.parse(out.getvalue()).exif == body


def test_icc_profile_from_image_info(original):
    im = original.copy()
    profile = b"sixteen bytes..." + b"GRAY" + b", the rest of a profile"
    im.info["icc_profile"] = profile
    out = io.BytesIO()
    im.save(out, format="IPC")
    assert Image.open(io.BytesIO(out.getvalue())).info["icc_profile"] == profile
    out = io.BytesIO()
    im.save(out, format="IPC", icc_profile=None)  # explicitly dropped
    assert "icc_profile" not in Image.open(io.BytesIO(out.getvalue())).info


# --- verify ----------------------------------------------------------------------------------


def test_verify_good(encoded):
    im = Image.open(io.BytesIO(encoded))
    im.verify()
    assert im.fp is None


def test_verify_bad_crc_in_data_chunk(encoded):
    bad = bytearray(encoded)
    bad[-20] ^= 0x10  # inside VALS, after the head
    im = Image.open(io.BytesIO(bytes(bad)))  # the head is intact
    with pytest.raises(SyntaxError, match="CRC mismatch"):
        im.verify()


def test_verify_does_not_decode(encoded, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("verify must not decode")

    monkeypatch.setattr(decode, "decode", boom)
    Image.open(io.BytesIO(encoded)).verify()


# --- errors ----------------------------------------------------------------------------------


def test_bad_head_is_unidentified(encoded):
    bad = bytearray(encoded)
    bad[20] ^= 0x01  # inside IHDR data: CRC mismatch
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(bytes(bad)))
    with pytest.raises(SyntaxError, match="CRC mismatch in IHDR"):
        IpcImagePlugin.IpcImageFile(io.BytesIO(bytes(bad)))
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(encoded[:30]))
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(rebuilt(encoded)[:8] + b"\x00\x00\x00\x0eABCD" + b"\x00" * 30))


def test_bad_data_raises_oserror_on_load(encoded):
    bad = rebuilt(encoded, edge=b"\x00\x00 this is not a plane \xff" * 3)
    im = Image.open(io.BytesIO(bad))
    with pytest.raises(OSError) as info:
        im.load()
    assert str(info.value)  # the codec's message is passed on


def test_crc_error_in_data_raises_oserror_on_load(encoded):
    bad = bytearray(encoded)
    bad[-20] ^= 0x10
    im = Image.open(io.BytesIO(bytes(bad)))
    with pytest.raises(OSError, match="CRC mismatch"):
        im.load()


@pytest.fixture
def truncated_ok(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)


def truncations(encoded: bytes) -> list[bytes]:
    offset = reader.read_head(io.BytesIO(encoded)).data_offset
    table = reader.chunk_table(encoded)
    vals = next(c for c in table if c.type == "VALS")
    cuts = {offset + 20, (offset + vals.offset) // 2, vals.offset + 10, len(encoded) - 5}
    return [encoded[:n] for n in sorted(cuts)]


def test_truncated_raises_oserror(encoded):
    for cut in truncations(encoded):
        im = Image.open(io.BytesIO(cut))
        assert im.size == (SIZE, SIZE)
        with pytest.raises(OSError):
            im.load()


def test_truncated_loads_with_load_truncated_images(encoded, truncated_ok):
    for cut in truncations(encoded):
        im = Image.open(io.BytesIO(cut))
        im.load()
        assert im.size == (SIZE, SIZE) and im.mode == "L"
        assert np.asarray(im).shape == (SIZE, SIZE)
    # nothing is missing when only IEND's CRC is cut, so the picture is the full one
    im = Image.open(io.BytesIO(encoded[:-2]))
    im.load()
    np.testing.assert_array_equal(np.asarray(im), decode.decode(encoded))


# --- decompression bomb ------------------------------------------------------------------------


def huge(encoded: bytes, width: int, height: int) -> bytes:
    f = reader.parse(encoded)
    f.header = container.Header(
        width=width, height=height, levels=f.header.levels, spacing=f.header.spacing
    )
    return container.build(f)


def test_bomb_error_from_header_alone(encoded):
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(huge(encoded, 100_000, 100_000)))
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(huge(encoded, 2**31 - 1, 2**31 - 1)))


@pytest.fixture
def decode_calls(monkeypatch) -> dict:
    """Records the keyword arguments the plugin passes to decode.decode."""
    seen: dict = {}
    real = decode.decode

    def spy(data, **kwargs):
        seen.update(kwargs)
        return real(data, **kwargs)

    monkeypatch.setattr(decode, "decode", spy)
    return seen


def test_bomb_warning_and_limit_passed_to_decoder(encoded, monkeypatch, decode_calls):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", SIZE * SIZE - 100)
    with pytest.warns(Image.DecompressionBombWarning):
        im = Image.open(io.BytesIO(encoded))
    im.load()
    assert decode_calls == {"lenient": False, "max_pixels": 2 * (SIZE * SIZE - 100),
                            "reduce": 0}

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", SIZE * SIZE // 2 - 1)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(encoded))


def test_no_limit_passes_none(encoded, monkeypatch, decode_calls):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Image.open(io.BytesIO(encoded)).load()
    assert decode_calls["max_pixels"] is None


def test_lenient_passed_to_decoder(encoded, truncated_ok, decode_calls):
    Image.open(io.BytesIO(encoded)).load()
    assert decode_calls["lenient"] is True


def test_text_cannot_override_header_or_metadata(encoded):
    f = reader.parse(encoded)
    f.text = {"levels": "999", "exif": "text", "transparency": "3", "note": "kept"}
    im = Image.open(io.BytesIO(container.build(f)))
    assert im.info["levels"] == f.header.levels
    assert "exif" not in im.info and "transparency" not in im.info
    assert im.info["note"] == "kept"


# ---------------------------------------------------------------- reduced decoding


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_draft_decodes_at_a_reduced_size_close_to_the_full_decode(factor):
    """draft picks 1/2, 1/4 or 1/8 like JPEG's draft; the reduced decode is near the full
    decode averaged over the same blocks (odd sizes: the border blocks are partial)."""
    y, x = np.mgrid[0:75, 0:83]
    img = np.where((x - 40) ** 2 + (y - 30) ** 2 < 500, 190, 60 + x).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="IPC", threshold=20, min_length=0)
    full = np.asarray(Image.open(io.BytesIO(out.getvalue())), dtype=float)
    im = Image.open(io.BytesIO(out.getvalue()))
    mode, box = im.draft("L", (83 // factor, 75 // factor))
    size = (-(-83 // factor), -(-75 // factor))
    assert mode == "L" and box == (0, 0, 83 / factor, 75 / factor) and im.size == size
    got = np.asarray(im, dtype=float)
    assert got.shape == size[::-1]
    diff = np.abs(got - block_means(full, factor))
    assert diff.mean() < 2.0 and diff.max() < 40
    assert im.draft("L", (1, 1)) is None  # a second draft changes nothing


def test_reduce_returns_a_reduced_decode_and_leaves_the_image(encoded):
    im = Image.open(io.BytesIO(encoded))
    small = im.reduce(2)
    assert small.size == (SIZE // 2, SIZE // 2) and small.mode == "L"
    assert im.size == (SIZE, SIZE)
    full = np.asarray(im, dtype=float)
    assert np.abs(np.asarray(small, dtype=float) - block_means(full, 2)).mean() < 2.0
    # other factors and boxes: Pillow's own reduction of the full decode
    im = Image.open(io.BytesIO(encoded))
    assert np.array_equal(np.asarray(im.reduce(3)), np.asarray(Image.fromarray(
        full.astype(np.uint8)).reduce(3)))


def test_thumbnail_uses_the_reduced_decode(encoded):
    im = Image.open(io.BytesIO(encoded))
    im.thumbnail((16, 16))
    assert im.size == (16, 16)
    with pytest.raises(ValueError, match="reduce"):
        decode.decode(encoded, reduce=4)


def test_save_memory_grows_with_the_pixels_only(corpus):
    """Saving is bounded in memory by a fixed number of bytes per pixel (measured: 263 at a
    fixed threshold, about 870 under rate control), not by anything that grows faster: the
    traced peak per pixel of a 4 times larger image stays within 10 % of the smaller one's."""
    import tracemalloc

    base = np.asarray(Image.open(corpus / "v1-house-t16.png"))
    per_pixel = []
    for n in (64, 128):
        im = Image.fromarray(np.ascontiguousarray(base[:n, :n]))
        im.save(io.BytesIO(), format="IPC", threshold=24)  # compiled before measuring
        tracemalloc.start()
        im.save(io.BytesIO(), format="IPC", threshold=24)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        per_pixel.append(peak / (n * n))
    assert per_pixel[1] <= 320
    assert per_pixel[1] <= 1.1 * per_pixel[0]


# --- a failed save ---------------------------------------------------------------------------


def _failing_encode(*args, **kwargs):
    raise ValueError("the encoder gave up")


def test_a_failed_save_to_a_new_file_leaves_no_file(tmp_path, monkeypatch):
    from PIL_ipc.encode import pipeline

    monkeypatch.setattr(pipeline, "encode", _failing_encode)
    target = tmp_path / "new.ipc"
    with pytest.raises(ValueError, match="gave up"):
        Image.new("L", (8, 8)).save(target)
    assert not target.exists()


def test_a_failed_save_writes_no_partial_file_over_an_existing_one(tmp_path, monkeypatch):
    # Pillow empties the named file before the plugin runs; the plugin writes nothing until
    # the whole file is encoded, so what is left is empty, never a truncated .ipc
    from PIL_ipc.encode import pipeline

    target = tmp_path / "old.ipc"
    Image.new("L", (8, 8), 90).save(target)
    assert target.stat().st_size > 0
    monkeypatch.setattr(pipeline, "encode", _failing_encode)
    with pytest.raises(ValueError, match="gave up"):
        Image.new("L", (8, 8)).save(target)
    assert target.read_bytes() == b""
