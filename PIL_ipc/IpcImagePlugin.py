"""Pillow plugin for IPC (.ipc) images: glue between Pillow and PIL_ipc's encoder/decoder.

Opening reads only the head (signature, IHDR, metadata chunks); the pixels are decoded on
load(). The codec modules are imported lazily so that registering the plugin stays cheap.
"""

from __future__ import annotations

import logging
from typing import IO

from PIL import Image, ImageFile

from .encode.options import RECORDED
from .format import container, reader

EXIF_PREFIX = b"Exif\x00\x00"
_NOT_FROM_TEXT = frozenset({"version", "levels", "spacing", "lattice", "icc_profile", "exif",
                            "xmp", "transparency"})
#: ICC colour space signatures (profile header bytes 16..19) of the modes a file stores.
_ICC_SPACES = {"L": b"GRAY", "LA": b"GRAY", "RGB": b"RGB ", "RGBA": b"RGB "}

_log = logging.getLogger("PIL_ipc")


def _info_value(key: str, text: str) -> object:
    """A tEXt value for ``info``: the settings the encoder records (the option table's
    recorded options) as the numbers they are."""
    option = RECORDED.get(key)
    if option is None:
        return text
    try:
        return option.parse_text(text)
    except ValueError:  # not written by this encoder: leave it as it is
        return text


def _icc_for(profile: bytes | None, mode: str) -> bytes | None:
    """``profile`` if its colour space is that of ``mode`` (the mode stored), else None."""
    if not profile:
        return None
    space = bytes(profile[16:20])
    if space != _ICC_SPACES.get(mode):
        _log.debug("ICC profile for colour space %r not stored with a %s image", space, mode)
        return None
    return bytes(profile)


def _accept(prefix: bytes) -> bool:
    return prefix.startswith(container.SIGNATURE)


class IpcImageFile(ImageFile.ImageFile):
    format = "IPC"
    format_description = "IPC edge and inpainting codec"

    def _open(self) -> None:
        assert self.fp is not None
        try:
            head = reader.read_head(self.fp)
        except container.FormatError as e:
            raise SyntaxError(str(e)) from e
        header = head.header
        self._size = header.width, header.height
        self._mode = header.mode
        # Text never stands in for the header, the metadata chunks or keys Pillow interprets.
        self.info.update((k, _info_value(k, v)) for k, v in head.text.items()
                         if k not in _NOT_FROM_TEXT)
        self.info["version"] = header.version
        self.info["levels"] = header.levels
        self.info["spacing"] = header.spacing
        self.info["lattice"] = header.lattice
        if head.icc_profile is not None:
            self.info["icc_profile"] = head.icc_profile
        if head.exif is not None:
            # Pillow keeps EXIF with its APP1 prefix in info, as the PNG plugin does.
            self.info["exif"] = EXIF_PREFIX + head.exif
        if head.xmp is not None:
            self.info["xmp"] = head.xmp  # bytes, as Pillow's WebP and JPEG plugins give it
        # The decoder takes the whole file, so the tile starts at the signature.
        self.tile = [ImageFile._Tile("ipc", (0, 0, *self._size), 0, 0)]

    def draft(self, mode: str | None, size: tuple[int, int] | None
              ) -> tuple[str, tuple[int, int, float, float]] | None:
        """Decode at 1/2, 1/4 or 1/8 of the size, the largest not below ``size`` (as JPEG's
        draft does; ``mode`` is kept): the solver stops on a coarser grid."""
        if not size or len(self.tile) != 1 or self.tile[0].args:
            return None
        scale = min(self.size[0] // max(size[0], 1), self.size[1] // max(size[1], 1))
        reduce = next(k for k in (3, 2, 1, 0) if scale >= 1 << k)
        if reduce == 0:
            return None
        original = self.size
        s = 1 << reduce
        self._size = (-(-original[0] // s), -(-original[1] // s))
        self.tile = [ImageFile._Tile("ipc", (0, 0, *self._size), 0, reduce)]
        return self.mode, (0, 0, original[0] / s, original[1] / s)

    def reduce(self, factor: int | tuple[int, int],
               box: tuple[int, int, int, int] | None = None) -> Image.Image:
        """Image.reduce; a factor of 2, 4 or 8 on the whole, not yet loaded image is decoded
        at that size directly (this image stays as it is)."""
        if isinstance(factor, (list, tuple)):
            factor = factor[0] if factor[0] == factor[1] else 0
        full = box is None or tuple(box) == (0, 0, *self.size)
        if factor not in (2, 4, 8) or not full or self.tile != [
                ImageFile._Tile("ipc", (0, 0, *self.size), 0, 0)] or self.fp is None:
            return super().reduce(factor, box)
        self.fp.seek(0)
        im = Image.fromarray(_decode(self.fp.read(), factor.bit_length() - 1), self.mode)
        im.info = self.info.copy()
        return im

    def verify(self) -> None:
        """Check structure and every CRC of the file without decoding it."""
        if self.fp is None:
            msg = "verify must be called directly after open"
            raise RuntimeError(msg)
        self.fp.seek(0)
        try:
            reader.verify(self.fp.read())
        except container.FormatError as e:
            raise SyntaxError(f"broken IPC file: {e}") from e
        super().verify()


def _decode(data: bytes, reduce: int):
    from . import decode

    limit = Image.MAX_IMAGE_PIXELS
    try:
        return decode.decode(
            data,
            lenient=ImageFile.LOAD_TRUNCATED_IMAGES,
            # Pillow's own hard limit: twice MAX_IMAGE_PIXELS raises DecompressionBombError.
            max_pixels=None if limit is None else 2 * limit,
            reduce=reduce,
        )
    except ValueError as e:
        raise OSError(str(e)) from e


class IpcDecoder(ImageFile.PyDecoder):
    """Decodes the whole file at once. ``Image.load`` hands it the file (``pulls_fd``);
    ``ImageFile.Parser``, which feeds the bytes as they arrive, gets them collected here until
    the IEND chunk is in."""

    _pulls_fd = True

    def init(self, args: tuple) -> None:
        super().init(args)
        self._collector: reader.Collector | None = None

    def decode(self, buffer: bytes) -> tuple[int, int]:
        if self.fd is not None:
            data = self.fd.read()
        else:
            if self._collector is None:
                self._collector = reader.Collector()
            try:
                whole = self._collector.feed(buffer)
            except container.FormatError as e:
                raise OSError(str(e)) from e
            if not whole:
                return len(buffer), 0
            data = bytes(self._collector.data)
        # the tile's argument: the reduced-decoding level (see IpcImageFile.draft)
        pixels = _decode(data, self.args[0] if self.args else 0)
        if pixels.shape[:2] != (self.state.ysize, self.state.xsize):
            msg = f"decoded size {pixels.shape[1::-1]} differs from the header's"
            raise OSError(msg)
        self.set_as_raw(pixels.tobytes())
        return -1, 0


#: Modes saved as they are.
SAVED_MODES = ("L", "LA", "RGB", "RGBA")
#: Modes converted before saving, to the mode given (P: to RGBA when it has transparency).
CONVERTED_MODES = {"1": "L", "P": "RGB", "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB",
                   "HSV": "RGB"}
#: Modes refused, and why.
REFUSED_MODES = {
    "I;16": "it has 16 bits per sample and IPC stores 8: reduce it explicitly first, e.g. "
            "im.point(lambda v: v / 257).convert('L')",
    "I": "it has 32-bit integer samples and IPC stores 8: map them to 0..255 and convert to "
         "'L' explicitly first",
    "F": "it has floating-point samples and IPC stores 8: map them to 0..255 and convert to "
         "'L' explicitly first",
    "LAB": "Pillow's LAB -> RGB conversion is not colour-managed: convert it with "
           "PIL.ImageCms to 'RGB' first",
}


def saved_mode(im: Image.Image) -> str:
    """The mode ``im`` is saved in (SAVED_MODES, CONVERTED_MODES), or OSError (refused)."""
    if im.mode in SAVED_MODES:
        return im.mode
    if im.mode == "P":
        return "RGBA" if im.has_transparency_data else "RGB"
    if im.mode in CONVERTED_MODES:
        return CONVERTED_MODES[im.mode]
    reason = REFUSED_MODES.get(im.mode, "IPC stores L, LA, RGB and RGBA images")
    msg = f"cannot write mode {im.mode} as IPC: {reason}"
    raise OSError(msg)


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    info = im.encoderinfo
    mode = saved_mode(im)
    import numpy as np

    from . import encode

    # every option is checked before any work (ValueError), the metadata's types included
    options = encode.EncodeOptions.from_mapping(info)
    icc_profile = info.get("icc_profile", im.info.get("icc_profile")) or None
    exif = info.get("exif") or None
    if isinstance(exif, Image.Exif):
        exif = exif.tobytes()
    for name, value in (("icc_profile", icc_profile), ("exif", exif)):
        if value is not None and not isinstance(value, (bytes, bytearray)):
            msg = f"{name} must be bytes, got {type(value).__name__}"
            raise ValueError(msg)
    icc_profile = _icc_for(icc_profile, mode)  # compared with the mode stored
    if exif is not None and exif.startswith(EXIF_PREFIX):
        exif = exif[len(EXIF_PREFIX) :]
    xmp = info.get("xmp") or None
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    if xmp is not None and not isinstance(xmp, (bytes, bytearray)):
        msg = f"xmp must be bytes or str, got {type(xmp).__name__}"
        raise ValueError(msg)
    # progress(stage, done, total): how far the encode has come (encode.report); not an
    # option of the file
    progress = info.get("progress")
    if progress is not None and not callable(progress):
        msg = f"progress must be a callable (stage, done, total), got {type(progress).__name__}"
        raise ValueError(msg)
    if mode != im.mode:
        im = im.convert(mode)
    data = encode.encode(np.asarray(im), options, icc_profile=icc_profile, exif=exif or None,
                          xmp=None if xmp is None else bytes(xmp), progress=progress)
    fp.write(data)


Image.register_open(IpcImageFile.format, IpcImageFile, _accept)
Image.register_decoder("ipc", IpcDecoder)
Image.register_save(IpcImageFile.format, _save)
Image.register_extension(IpcImageFile.format, ".ipc")
Image.register_mime(IpcImageFile.format, "image/x-ipc")
