"""`ipc decode` keeps the EXIF (with its orientation), XMP and ICC profile of the .ipc file in
every output format that holds them, byte for byte where the format keeps them as one block;
`--auto-orient` turns the pixels instead, `--strip` writes none. `ipc encode` carries them the
other way, from a TIFF's own tags too."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image, ImageCms, features

import PIL_ipc  # noqa: F401  (registers the plugin)
from PIL_ipc.tools import cli, transcode

#: The orientation of a photo taken with the phone held upright: turn 90 degrees clockwise.
TURNED = 6
XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
       '"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
       'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF>'
       '</x:xmpmeta>').encode()
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
SIZE = (40, 24)


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = TURNED
    exif[0x010F] = "Phone maker"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"  # DateTimeOriginal
    return exif


EXIF = _exif().tobytes()  # with its b"Exif\0\0" prefix, as Pillow keeps it in info


def _body(exif: bytes) -> bytes:
    """EXIF without the APP1 prefix some formats keep and others do not."""
    return exif[6:] if exif.startswith(b"Exif\x00\x00") else exif


def _picture() -> Image.Image:
    y, x = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    rgb = np.stack([40 + 4 * x, 30 + 5 * y, 200 - 3 * x], axis=-1)
    rgb[4:12, 6:30] = (230, 40, 20)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def ipc(capsys, *args: str) -> tuple[int, str, str]:
    """Run the command line in this process: (exit status, stdout, stderr without the first
    run's note that it compiles)."""
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    err = "".join(line for line in err.splitlines(True) if "compiling" not in line)
    return status, out, err


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """An .ipc file holding EXIF (orientation 6), XMP and an sRGB profile."""
    folder = tmp_path_factory.mktemp("decode-output")
    path = folder / "photo.ipc"
    _picture().save(path, "IPC", threshold=24, exif=EXIF, xmp=XMP, icc_profile=SRGB)
    with Image.open(path) as im:
        assert im.info["exif"] == EXIF and im.info["xmp"] == XMP and im.info["icc_profile"] == SRGB
    return path


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tiff", "avif"])
def test_decode_keeps_exif_xmp_and_icc(photo, capsys, ext):
    if ext == "avif" and not features.check("avif"):
        pytest.skip("Pillow built without AVIF")
    out = photo.with_name(f"kept.{ext}")
    status, _, err = ipc(capsys, "decode", photo, out)
    assert status == 0 and err == ""
    with Image.open(out) as im:
        exif = im.getexif()  # before load(): Pillow's TIFF load turns the pixels by it
        assert exif[0x0112] == TURNED
        assert exif[0x010F] == "Phone maker"
        assert exif.get_ifd(0x8769) == {0x9003: "2024:05:06 07:08:09"}
        if ext in ("png", "jpg", "webp"):  # EXIF as one block: the very bytes
            assert _body(im.info["exif"]) == _body(EXIF)
        # TIFF holds EXIF as its own tags (orientation in IFD0, an EXIF IFD), not as a block;
        # AVIF holds the orientation as a transform of its own (irot/imir), the rest as a block
        assert im.info["icc_profile"] == SRGB
        assert im.info["xmp"] == XMP
        # the pixels as stored, for the viewer to turn (Pillow's TIFF reader turns them itself
        # and gives the turned size: the stored one is in the tags)
        stored = (exif[0x0100], exif[0x0101]) if ext == "tiff" else im.size
        assert stored == SIZE


@pytest.mark.parametrize("ext", ["bmp", "gif", "jp2"])
def test_a_format_that_holds_none_says_what_it_leaves_out(photo, capsys, ext):
    out = photo.with_name(f"bare.{ext}")
    status, _, err = ipc(capsys, "decode", photo, out)
    assert status == 0
    fmt = Image.registered_extensions()[f".{ext}"]
    assert err == f"ipc: {out}: not kept: EXIF, ICC profile, XMP ({fmt} holds none)\n"
    status, _, err = ipc(capsys, "decode", photo, out, "--quiet")
    assert status == 0 and err == ""


def test_auto_orient_turns_the_pixels_and_drops_the_tag(photo, capsys):
    plain, turned = photo.with_name("plain.png"), photo.with_name("upright.png")
    assert ipc(capsys, "decode", photo, plain)[0] == 0
    assert ipc(capsys, "decode", photo, turned, "--auto-orient")[0] == 0
    with Image.open(plain) as a, Image.open(turned) as b:
        assert b.size == SIZE[::-1]
        expected = a.transpose(Image.Transpose.ROTATE_270)  # orientation 6
        assert np.array_equal(np.asarray(b), np.asarray(expected))
        exif = b.getexif()
        assert 0x0112 not in exif  # nothing left for a viewer to apply a second time
        assert exif[0x010F] == "Phone maker" and exif.get_ifd(0x8769)
        assert b"tiff:Orientation" not in b.info["xmp"]  # nor in the XMP
        assert b.info["icc_profile"] == SRGB


@pytest.mark.parametrize("ext", ["png", "tiff", "jpg"])
def test_strip_writes_no_metadata(photo, capsys, ext):
    out = photo.with_name(f"stripped.{ext}")
    assert ipc(capsys, "decode", photo, out, "--strip") == (0, "", "")
    with Image.open(out) as im:
        assert not set(im.info) & {"exif", "xmp", "icc_profile"}
        assert 0x0112 not in im.getexif()


def test_jpeg_leaves_out_an_xmp_packet_over_one_segment(tmp_path, capsys):
    big = XMP + b" " * 70000  # XMP allows padding; a JPEG APP1 segment holds 65504 bytes
    path = tmp_path / "big-xmp.ipc"
    _picture().save(path, "IPC", threshold=24, exif=EXIF, xmp=big, icc_profile=SRGB)
    status, _, err = ipc(capsys, "decode", path, tmp_path / "big.jpg")
    assert status == 0
    assert err == (f"ipc: {tmp_path / 'big.jpg'}: not kept: XMP ({len(big)} bytes; JPEG holds "
                   "65504)\n")
    with Image.open(tmp_path / "big.jpg") as im:
        assert "xmp" not in im.info and im.info["icc_profile"] == SRGB
        assert im.getexif()[0x0112] == TURNED
    assert ipc(capsys, "decode", path, tmp_path / "big.png")[0] == 0
    with Image.open(tmp_path / "big.png") as im:
        im.load()
        assert im.info["xmp"] == big


def test_save_keywords_of_every_format_pillow_writes():
    """Every format Pillow writes is either one that holds all three pieces or one the
    command line reports as holding none: nothing is dropped silently or by accident."""
    from PIL_ipc.tools import metadata

    found = metadata.pieces({"exif": EXIF, "xmp": XMP, "icc_profile": SRGB})
    Image.init()
    for fmt in Image.SAVE:
        keywords, dropped = metadata.save_keywords(fmt, found)
        if fmt in metadata.HOLD_ALL:
            assert dropped == []
            continue
        assert keywords == {} and dropped == [f"EXIF, ICC profile, XMP ({fmt} holds none)"]
        try:  # Pillow's writer indeed keeps none of them
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # (formats on their way out)
                buffer = io.BytesIO()
                _picture().save(buffer, fmt, exif=EXIF, xmp=XMP, icc_profile=SRGB)
                buffer.seek(0)
                with Image.open(buffer) as im:
                    im.load()
                    kept = set(im.info) & {"exif", "xmp", "icc_profile"}
        except Exception:  # a format that cannot write this picture, or read it back
            continue
        assert not kept, (fmt, kept)


def test_encode_keeps_a_tiffs_exif_tags(tmp_path):
    """A TIFF's EXIF is tags of its own IFD (Pillow gives no info["exif"]): the .ipc file
    gets them, without the tags that describe how the TIFF stores its samples. Pillow turns a
    TIFF's pixels on load by its orientation, so the orientation is not carried over."""
    from PIL_ipc.tools import metadata

    tiff = tmp_path / "scan.tiff"
    keywords, _ = metadata.save_keywords("TIFF", metadata.pieces(
        {"exif": EXIF, "xmp": XMP, "icc_profile": SRGB}))
    _picture().save(tiff, **keywords)
    with Image.open(tiff) as im:
        im.load()
        keywords = transcode.metadata(im)
    exif = Image.Exif()
    exif.load(keywords["exif"])
    assert dict(exif) == {0x010F: "Phone maker", 0x8769: exif[0x8769]}
    assert exif.get_ifd(0x8769) == {0x9003: "2024:05:06 07:08:09"}
    assert keywords["icc_profile"] == SRGB
    # (Pillow took the orientation out of the XMP too when it turned the pixels)
    assert keywords["xmp"] == XMP.replace(b'tiff:Orientation="6"', b"")


def test_a_phone_photo_comes_back_upright_and_in_colour(tmp_path, capsys):
    """JPEG in, .ipc, JPEG out: the orientation, the profile and the XMP are all still there."""
    jpeg = tmp_path / "phone.jpg"
    _picture().save(jpeg, exif=EXIF, xmp=XMP, icc_profile=SRGB, quality=95)
    assert ipc(capsys, "encode", jpeg, tmp_path / "phone.ipc", "--threshold", "24")[0] == 0
    assert ipc(capsys, "decode", tmp_path / "phone.ipc", tmp_path / "back.jpg")[0] == 0
    with Image.open(tmp_path / "back.jpg") as im:
        assert _body(im.info["exif"]) == _body(EXIF)
        assert im.info["xmp"] == XMP and im.info["icc_profile"] == SRGB
