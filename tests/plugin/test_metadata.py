"""Metadata through Pillow: ICC profiles that match the stored mode, EXIF with its
orientation, XMP in its own chunk, the encoder's settings as numbers; no warning a user did
not ask for; nothing left behind by a failed save."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

import PIL_ipc  # noqa: F401  (registers the plugin)
from PIL_ipc.format import container, reader
from PIL_ipc.encode import tonal

XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
       '"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
       'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="1"/></rdf:RDF>'
       '</x:xmpmeta>')


#: (made once: a profile's header holds the time it was made)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _as_grey_profile(profile: bytes) -> bytes:
    # header bytes 16..19: the data colour space; only the check under test reads them
    return profile[:16] + b"GRAY" + profile[20:]


def _picture(mode: str = "RGB", size: tuple[int, int] = (40, 24)) -> Image.Image:
    im = Image.new(mode, size, "white" if mode != "L" else 255)
    im.paste((20, 90, 200) if mode == "RGB" else 20, (0, 0, 10, size[1]))
    return im


def _round_trip(im: Image.Image, **options) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "IPC", threshold=24, **options)
    buf.seek(0)
    return Image.open(buf)


def test_icc_profile_of_another_colour_space_is_not_copied():
    rgb = _picture()
    rgb.info["icc_profile"] = SRGB
    grey = rgb.convert("L")  # Pillow keeps the RGB profile in info
    assert grey.info["icc_profile"][16:20] == b"RGB "
    with _round_trip(grey) as back:
        assert "icc_profile" not in back.info
    with _round_trip(grey, icc_profile=SRGB) as back:
        assert "icc_profile" not in back.info


def test_icc_profile_of_the_stored_colour_space_is_kept():
    grey_profile = _as_grey_profile(SRGB)
    with _round_trip(_picture("L"), icc_profile=grey_profile) as back:
        assert back.info["icc_profile"] == grey_profile
    rgb = _picture()
    rgb.info["icc_profile"] = SRGB
    with _round_trip(rgb) as back:
        assert back.mode == "RGB" and back.info["icc_profile"] == SRGB
    # an RGB image saved from a grey one with its grey profile: the profile does not fit
    with _round_trip(_picture("L").convert("RGB"), icc_profile=grey_profile) as back:
        assert "icc_profile" not in back.info


@pytest.mark.parametrize("as_object", [False, True])
def test_exif_orientation_survives_and_exif_transpose_works(as_object):
    # a JPEG written sideways, as a camera held upright writes it: orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    jpeg = io.BytesIO()
    _picture().save(jpeg, "JPEG", exif=exif, quality=95)
    jpeg.seek(0)
    with Image.open(jpeg) as photo:
        grey = photo.convert("L")
        given = photo.getexif() if as_object else photo.info["exif"]
        with _round_trip(grey, exif=given) as back:
            assert back.getexif()[0x0112] == 6
            back.load()
            upright = ImageOps.exif_transpose(back)
            assert upright.size == (24, 40)
            assert upright.tobytes() == back.transpose(Image.Transpose.ROTATE_270).tobytes()
            assert upright.getexif().get(0x0112) is None


@pytest.mark.parametrize("xmp", [XMP, XMP.encode("utf-8")])
def test_xmp_goes_into_its_own_chunk_and_comes_back_in_info(xmp):
    buf = io.BytesIO()
    _picture("L").save(buf, "IPC", threshold=24, xmp=xmp)
    data = buf.getvalue()
    types = [c.type for c in reader.chunk_table(data)]
    assert types.count("xXMP") == 1 and types.index("xXMP") < types.index("EDGE")
    raw = XMP.encode("utf-8")
    assert raw in data
    with Image.open(io.BytesIO(data)) as back:
        assert back.info["xmp"] == raw
        back.load()
    # no xmp= given: no chunk, no key
    with _round_trip(_picture("L")) as back:
        assert "xmp" not in back.info


def test_xmp_chunk_is_skipped_by_a_reader_that_does_not_know_it():
    buf = io.BytesIO()
    _picture("L").save(buf, "IPC", threshold=24, xmp=XMP)
    data = buf.getvalue()
    # rename the chunk to an ancillary type nobody knows (and fix its CRC): same pixels
    start = data.index(b"xXMP")
    length = int.from_bytes(data[start - 4:start], "big")
    body = data[start + 4:start + 4 + length]
    import zlib
    renamed = (data[:start] + b"xUNK" + body
               + zlib.crc32(b"xUNK" + body).to_bytes(4, "big") + data[start + 8 + length:])
    with Image.open(io.BytesIO(data)) as a, Image.open(io.BytesIO(renamed)) as b:
        assert a.tobytes() == b.tobytes() and "xmp" not in b.info


def test_bad_xmp_type_is_a_valueerror(tmp_path):
    with pytest.raises(ValueError):
        _picture("L").save(tmp_path / "x.ipc", threshold=24, xmp=12345)


def test_settings_come_back_as_numbers():
    with _round_trip(_picture("L")) as back:
        info = back.info
        assert info["threshold"] == 24.0 and isinstance(info["threshold"], float)
        assert isinstance(info["contrast"], float) and isinstance(info["hysteresis"], float)
        assert info["iterations"] == 30 and isinstance(info["iterations"], int)
        assert info["thin"] is True
        assert isinstance(info["min_length"], int) and isinstance(info["tonal"], int)
        assert isinstance(info["levels"], int) and isinstance(info["spacing"], int)
        assert isinstance(info["Software"], str)


def test_tonal_fit_raises_no_solver_warning():
    # one known pixel and an unreachable tolerance: every solve hits the iteration cap
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, (64, 64))
    known = np.zeros((64, 64), bool)
    known[32, 32] = True
    fitter = tonal.Fitter(image, known, np.zeros_like(known), np.flatnonzero(known), tol=1e-13)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values, _ = fitter.fit(2)
    assert values.shape == (1,)


def test_failed_save_to_a_new_path_leaves_nothing(tmp_path):
    target = tmp_path / "new.ipc"
    with pytest.raises(ValueError):
        _picture("L").save(target, quality=500)
    assert not target.exists()
    with pytest.raises(ValueError):
        _picture("L").save(target, size=5)  # BudgetTooSmall, raised while encoding
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_xmp_chunk_is_metadata_before_the_data():
    buf = io.BytesIO()
    _picture("L").save(buf, "IPC", threshold=24, xmp=XMP)
    data = buf.getvalue()
    head = reader.read_head(io.BytesIO(data))
    assert head.xmp == XMP.encode("utf-8")
    assert reader.parse(data).xmp == head.xmp
    # moved after EDGE it breaks the order rule of the metadata chunks (spec section 4.2)
    table = {c.type: c for c in reader.chunk_table(data)}
    x, e = table["xXMP"], table["EDGE"]
    xmp_chunk = data[x.offset:x.offset + 12 + x.length]
    edge_chunk = data[e.offset:e.offset + 12 + e.length]
    moved = data.replace(xmp_chunk, b"").replace(edge_chunk, edge_chunk + xmp_chunk)
    with pytest.raises(container.FormatError, match="xXMP .*after a data chunk"):
        reader.parse(moved)
