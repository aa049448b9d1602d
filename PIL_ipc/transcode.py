"""Any Pillow image to an .ipc file and back, with its metadata, and how good the file is.

Shared by `ipc encode`, `ipc batch` and `ipc compare`: the image keeps its mode when the plugin
can store it and is converted to the closest mode it can otherwise (the caller is told what
was done); EXIF (with its orientation), XMP and the ICC profile travel with it (the plugin
decides whether the profile fits the stored mode). Quality is measured in the stored mode.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from io import BytesIO

import numpy as np
from PIL import Image

from . import metrics

log = logging.getLogger(__name__)

#: Modes whose bands are all grey, with or without alpha.
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})


@functools.lru_cache(maxsize=None)
def plugin_stores(mode: str) -> bool:
    """Whether the IPC plugin saves images of `mode` (it raises OSError for a mode it cannot)."""
    if mode == "L":
        return True  # every format version stores grey
    try:
        Image.new(mode, (1, 1)).save(BytesIO(), format="IPC")
    except OSError:
        return False
    return True


def storable_mode(im: Image.Image) -> str:
    """The mode an image is stored in: its own if the plugin takes it, else the closest one."""
    if plugin_stores(im.mode):
        return im.mode
    alpha = "A" in im.getbands() or "transparency" in im.info
    if im.mode in _GREY_MODES:
        candidates = ["LA", "L"] if alpha else ["L"]
    else:
        candidates = ["RGBA", "RGB", "LA", "L"] if alpha else ["RGB", "L"]
    return next((m for m in candidates if plugin_stores(m)), "L")


def to_storable(im: Image.Image) -> Image.Image:
    """`im` in a mode the plugin stores, converted (and logged as a warning) only if it must."""
    mode = storable_mode(im)
    if mode == im.mode:
        return im
    log.warning("converting %s to %s: IPC does not store %s images", im.mode, mode, im.mode)
    converted = im.convert(mode)
    converted.info = dict(im.info)
    return converted


def metadata(im: Image.Image) -> dict:
    """Save keywords carrying the image's EXIF, XMP and ICC profile (those it has)."""
    keys = {"exif": im.info.get("exif"), "xmp": im.info.get("xmp"),
            "icc_profile": im.info.get("icc_profile")}
    return {k: v for k, v in keys.items() if v}


@dataclass
class Encoded:
    """An .ipc file made from an image, with the image as stored and how long it took."""

    data: bytes
    stored: Image.Image  # the image in the mode the file holds
    seconds: float


def encode(im: Image.Image, options: dict) -> Encoded:
    """Encode `im` (converted if it must be) to .ipc bytes with its metadata and `options`."""
    stored = to_storable(im)
    buffer = BytesIO()
    start = time.perf_counter()
    stored.save(buffer, format="IPC", **metadata(im), **options)
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
