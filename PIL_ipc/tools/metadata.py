"""The EXIF, XMP and ICC profile of a decoded .ipc file, carried into the format it is written
in: every piece the format holds as Pillow writes it, each where that format keeps it.

| format    | EXIF                                  | ICC profile      | XMP                      |
|-----------|---------------------------------------|------------------|--------------------------|
| PNG       | eXIf chunk                            | iCCP chunk       | iTXt "XML:com.adobe.xmp" |
| JPEG, MPO | APP1 Exif (up to 65533 bytes)         | APP2 ICC_PROFILE | APP1 XMP (up to 65504 bytes) |
| WebP      | EXIF chunk                            | ICCP chunk       | XMP chunk                |
| AVIF      | Exif item (orientation as irot/imir)  | colr box         | XMP item                 |
| TIFF      | the file's own tags (orientation in IFD0), EXIF and GPS IFDs | tag 34675 | tag 700 |
| IPC       | eXIf chunk                            | iCCP chunk (if its colour space is the image's) | xXMP chunk |

Pillow writes no metadata in the other formats (GIF, BMP, JPEG 2000, PPM, TGA, QOI, ICO, ...),
so there is nothing to keep them in.
"""

from __future__ import annotations

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from ..IpcImagePlugin import EXIF_PREFIX

#: The pieces, as keys of ``Image.info`` and keywords of ``Image.save``, and their names.
PIECES = {"exif": "EXIF", "icc_profile": "ICC profile", "xmp": "XMP"}
#: Output formats that hold every piece (Pillow's format names).
HOLD_ALL = frozenset({"PNG", "JPEG", "MPO", "WEBP", "AVIF", "TIFF", "IPC"})
#: Largest EXIF and XMP a JPEG holds: one APP1 segment each (65533 data bytes, of which the
#: XMP namespace takes 29; Pillow writes no extended XMP).
JPEG_LIMITS = {"exif": 65533, "xmp": 65533 - 29}
#: Key of PNG's iTXt chunk that holds XMP (XMP specification part 3).
PNG_XMP_KEY = "XML:com.adobe.xmp"
#: TIFF tag of an XMP packet.
TIFF_XMP_TAG = 700


def pieces(info: dict) -> dict[str, bytes]:
    """The EXIF (with its ``Exif\\0\\0`` prefix), ICC profile and XMP in ``info``, those there."""
    found = {}
    for key in PIECES:
        value = info.get(key)
        if isinstance(value, str):
            value = value.encode("utf-8")
        if value:
            found[key] = bytes(value)
    if "exif" in found and not found["exif"].startswith(EXIF_PREFIX):
        found["exif"] = EXIF_PREFIX + found["exif"]
    return found


def save_keywords(fmt: str, found: dict[str, bytes]) -> tuple[dict, list[str]]:
    """The ``Image.save`` keywords that put ``found`` (see `pieces`) into a file of format
    ``fmt``, and what is left out, each with the reason."""
    if fmt not in HOLD_ALL:
        names = ", ".join(PIECES[k] for k in found)
        return {}, [f"{names} ({fmt} holds none)"] if found else []
    kept = dict(found)
    dropped = []
    if fmt in ("JPEG", "MPO"):
        for key, limit in JPEG_LIMITS.items():
            if key in kept and len(kept[key]) > limit:
                dropped.append(f"{PIECES[key]} ({len(kept.pop(key))} bytes; {fmt} holds "
                               f"{limit})")
    keywords: dict = dict(kept)
    if fmt == "PNG" and "xmp" in kept:
        text = PngInfo()
        text.add_itxt(PNG_XMP_KEY, keywords.pop("xmp"))
        keywords["pnginfo"] = text
    if fmt == "TIFF" and "xmp" in kept:
        # TIFF keeps EXIF as its own tags, and the XMP packet as one of them
        tags = Image.Exif()
        if "exif" in kept:
            tags.load(kept["exif"])
        tags[TIFF_XMP_TAG] = keywords.pop("xmp")
        keywords["exif"] = tags
    return keywords, dropped


def without(im: Image.Image) -> Image.Image:
    """``im`` with no metadata in ``info``, so that writers that read it from there (PNG's and
    TIFF's ICC profile) write only what they are given."""
    for key in PIECES:
        im.info.pop(key, None)
    return im
