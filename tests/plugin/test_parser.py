"""Pillow's incremental parser (`ImageFile.Parser`, as web frameworks and URL readers use it)
gives an .ipc image as it gives a PNG or a JPEG, whatever pieces the bytes arrive in."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

import PIL_ipc  # noqa: F401  (registers the plugin)
from PIL_ipc.format import reader


def _picture(mode: str) -> Image.Image:
    y, x = np.mgrid[0:24, 0:36]
    grey = np.clip(30 + 5 * x + 2 * y, 0, 255).astype(np.uint8)
    grey[6:16, 8:28] = 220
    rgb = Image.fromarray(np.stack([grey, 255 - grey, grey // 2], axis=-1), "RGB")
    im = rgb.convert(mode) if mode != "RGBA" else rgb.copy()
    if mode == "RGBA":
        im.putalpha(Image.fromarray(np.where(x < 18, 255, 90).astype(np.uint8), "L"))
    return im


@pytest.fixture(scope="module", params=["L", "RGBA"])
def ipc_file(request) -> bytes:
    buffer = io.BytesIO()
    _picture(request.param).save(buffer, "IPC", threshold=24, xmp=b"<x:xmpmeta/>")
    return buffer.getvalue()


def _parse(data: bytes, piece: int) -> Image.Image:
    parser = ImageFile.Parser()
    for start in range(0, len(data), piece):
        parser.feed(data[start : start + piece])
    return parser.close()


@pytest.mark.parametrize("piece", [1, 13, 1000, None])
def test_parser_gives_the_image(ipc_file, piece):
    with Image.open(io.BytesIO(ipc_file)) as expected:
        expected.load()
        im = _parse(ipc_file, piece or len(ipc_file))
        assert im.format == "IPC" and im.mode == expected.mode and im.size == expected.size
        assert np.array_equal(np.asarray(im), np.asarray(expected))
        assert im.info["xmp"] == b"<x:xmpmeta/>"


def test_parser_as_a_context_manager_and_bytes_after_the_end(ipc_file):
    with ImageFile.Parser() as parser:
        parser.feed(ipc_file[:100])
        parser.feed(ipc_file[100:] + b"not part of the file")
    assert parser.image is not None and parser.image.size == (36, 24)
    assert np.array_equal(np.asarray(parser.image), np.asarray(Image.open(io.BytesIO(ipc_file))))


def test_parser_with_a_file_cut_short_says_it_is_incomplete(ipc_file):
    parser = ImageFile.Parser()
    parser.feed(ipc_file[:-6])  # IEND's CRC missing
    with pytest.raises(OSError, match="incomplete"):
        parser.close()


def test_parser_with_a_damaged_chunk_head_raises_oserror(ipc_file):
    cut = reader.chunk_table(ipc_file)[-2]  # the last data chunk, before IEND
    damaged = bytearray(ipc_file)
    damaged[cut.offset + 4 : cut.offset + 8] = b"B@D!"
    parser = ImageFile.Parser()
    with pytest.raises(OSError, match="4 ASCII letters"):
        parser.feed(bytes(damaged))
        parser.close()
