"""Any Pillow image to an .ipc file and back, with its metadata, and how good the file is.

Shared by `ipc encode`, `ipc batch` and `ipc compare`: the image keeps its mode when the plugin
can store it and is converted to the closest mode it can otherwise (the caller is told what
was done); EXIF (with its orientation), XMP and the ICC profile travel with it (the plugin
decides whether the profile fits the stored mode). Quality is measured in the stored mode.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO

import numpy as np
from PIL import Image

from .. import IpcImagePlugin, metrics

log = logging.getLogger(__name__)

#: 16-bit grey modes, which the command line reduces to 8 bits (the plugin refuses them).
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


def to_storable(im: Image.Image) -> Image.Image:
    """`im` in the mode the plugin stores it in, converted (with a warning) only if it must.

    The plugin decides (`IpcImagePlugin.saved_mode`); 16-bit grey, which it refuses, is
    scaled to 8 bits here. OSError names the reason for a mode that cannot be stored."""
    if im.mode in _SIXTEEN_BIT:
        log.warning("converting %s to L: IPC stores 8 bits per sample (value / 257)", im.mode)
        grey = np.asarray(im, dtype=np.uint32)
        reduced = Image.fromarray(((grey * 255 + 32767) // 65535).astype(np.uint8), "L")
        reduced.info = dict(im.info)
        return reduced
    mode = IpcImagePlugin.saved_mode(im)
    if mode == im.mode:
        return im
    log.warning("converting %s to %s: IPC does not store %s images", im.mode, mode, im.mode)
    converted = im.convert(mode)
    converted.info = dict(im.info)
    return converted


#: The TIFF tags the EXIF standard records in a JPEG's IFD0 (its table 4 without the ones that
#: describe how the samples are stored) and the EXIF and GPS IFDs: what a TIFF's own tags give
#: the EXIF of the .ipc file made from it.
_EXIF_FROM_TIFF = (270, 271, 272, 274, 282, 283, 296, 301, 305, 306, 315, 318, 319, 33432)
_EXIF_IFDS = (0x8769, 0x8825)


def _tiff_exif(im: Image.Image) -> bytes | None:
    """The EXIF of a TIFF image, whose metadata are tags of its own IFD (Pillow gives no
    ``info["exif"]``): its orientation, description, camera, dates and so on."""
    if not hasattr(im, "tag_v2"):
        return None
    tags = im.getexif()
    exif = Image.Exif()
    for tag in _EXIF_FROM_TIFF:
        if tag in tags:
            exif[tag] = tags[tag]
    for tag in _EXIF_IFDS:
        if tag in tags and tags.get_ifd(tag):
            exif[tag] = tags.get_ifd(tag)
    return exif.tobytes() if len(exif) else None


def metadata(im: Image.Image) -> dict:
    """Save keywords carrying the image's EXIF, XMP and ICC profile (those it has)."""
    keys = {"exif": im.info.get("exif") or _tiff_exif(im), "xmp": im.info.get("xmp"),
            "icc_profile": im.info.get("icc_profile")}
    return {k: v for k, v in keys.items() if v}


@dataclass
class Encoded:
    """An .ipc file made from an image, with the image as stored and how long it took."""

    data: bytes
    stored: Image.Image  # the image in the mode the file holds
    seconds: float


def encode(im: Image.Image, options: dict,
           progress: Callable[[str, float, float], None] | None = None) -> Encoded:
    """Encode `im` (converted if it must be) to .ipc bytes with its metadata and `options`;
    `progress(stage, done, total)` is told how far the encode has come (PIL_ipc.encode.report)."""
    stored = to_storable(im)
    buffer = BytesIO()
    start = time.perf_counter()
    stored.save(buffer, format="IPC", progress=progress, **metadata(im), **options)
    return Encoded(buffer.getvalue(), stored, time.perf_counter() - start)


def pixels(im: Image.Image) -> np.ndarray:
    """The pixels of an image as uint8, (H, W) or (H, W, bands)."""
    return np.asarray(im, dtype=np.uint8)


def decode(data: bytes, mode: str | None = None) -> Image.Image:
    """Open and load an image file held in memory, converted to `mode` if given."""
    with Image.open(BytesIO(data)) as im:
        im.load()
        return im.convert(mode) if mode is not None and im.mode != mode else im.copy()


@dataclass
class Quality:
    """PSNR (dB) and SSIM of a decoded file against the image it was made from."""

    psnr: float
    ssim: float


def quality(original: Image.Image, data: bytes) -> Quality:
    """Decode `data` and measure it against `original` in the original's mode."""
    reference = pixels(original)
    decoded = pixels(decode(data, original.mode))
    return Quality(metrics.psnr(reference, decoded), metrics.ssim(reference, decoded))
