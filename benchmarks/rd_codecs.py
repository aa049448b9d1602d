"""Codec adapters for the rate-distortion benchmark.

The peer codecs (JPEG, JPEG 2000, WebP, AVIF) and their search for the best file under a byte
budget live in `PIL_ipc.tools.peers` (the command line's `ipc compare` uses them too). The IPC
adapter calls the codec's own rate control and decodes both through the decoder module and
through the Pillow plugin.
"""

from __future__ import annotations

import time
from io import BytesIO

import numpy as np
from PIL import Image

from PIL_ipc.tools.peers import Encode, PeerCodec, peer_codecs

__all__ = ["Encode", "IpcCodec", "PeerCodec", "peer_codecs", "pillow_decode"]


def pillow_decode(data: bytes, mode: str = "L") -> tuple[np.ndarray, float]:
    """Decode a file through Pillow; returns the pixels in ``mode`` and the open+load time."""
    start = time.perf_counter()
    with Image.open(BytesIO(data)) as im:
        im.load()
        seconds = time.perf_counter() - start
        pixels = im if im.mode == mode else im.convert(mode)
        return np.asarray(pixels, dtype=np.uint8).copy(), seconds


class IpcCodec:
    """PIL_ipc with its own rate control: one encode per budget."""

    name = "ipc"

    def __init__(self) -> None:
        import PIL_ipc  # registers the Pillow plugin
        from PIL_ipc import decode, encode

        self.encoder = encode
        self.decoder = decode
        self.plugin_path = PIL_ipc.__file__

    def encode(self, pixels: np.ndarray, bpp: float) -> Encode:
        """Best .ipc file not over `bpp` bits per pixel, timed."""
        start = time.perf_counter()
        data = self.encoder.encode(pixels, self.encoder.EncodeOptions(bpp=bpp))
        return Encode(bytes(data), time.perf_counter() - start)

    def decode(self, data: bytes) -> tuple[np.ndarray, float]:
        """Decode with the decoder module directly; returns pixels and seconds."""
        start = time.perf_counter()
        pixels = self.decoder.decode(data)
        seconds = time.perf_counter() - start
        return np.asarray(pixels, dtype=np.uint8), seconds
