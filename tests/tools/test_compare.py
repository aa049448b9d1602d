"""`ipc compare`: every codec's best file under one budget, measured, on one sheet."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from PIL_ipc.tools import compare, sheet


def picture() -> Image.Image:
    y, x = np.mgrid[0:40, 0:56]
    a = 40 + 2 * x + y
    a[10:28, 12:40] = 200
    a[(x - 44) ** 2 + (y - 30) ** 2 < 40] = 90
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def result() -> compare.Comparison:
    return compare.compare(picture(), 0.8, options={"effort": 0}, curve=[0.5, 1.6])


def test_every_file_fits_and_is_measured_independently(result):
    im = picture()
    budget = 56 * 40 * 0.8 // 8
    assert result.budget == budget
    assert list(result.entries) == list(compare.CODECS)
    measured = 0
    for entry in result.entries.values():
        if entry.data is None:
            assert entry.note
            continue
        measured += 1
        assert len(entry.data) <= budget
        with Image.open(__import__("io").BytesIO(entry.data)) as f:
            decoded = np.asarray(f.convert("L"))
        assert entry.psnr == pytest.approx(
            peak_signal_noise_ratio(np.asarray(im), decoded, data_range=255), abs=1e-6)
        assert entry.ssim == pytest.approx(
            structural_similarity(np.asarray(im), decoded, data_range=255), abs=1e-6)
    assert measured >= 3 and result.entries["ipc"].data is not None
    # the curve has the compared budget and the extra ones, with bpp at or under each
    assert set(result.curve) == set(compare.CODECS)
    ipc_bpps = [b for b, _ in result.curve["ipc"]]
    assert len(ipc_bpps) == 3 and all(b <= 1.6 for b in ipc_bpps)


def test_the_sheet_shows_the_original_and_the_decoded_pixels(result):
    page = sheet.draw(result, crop=(4, 2))
    zoom = sheet.TILE // 56
    top = sheet.MARGIN + sheet.LABEL_HEIGHT
    shown = page.crop((sheet.MARGIN, top, sheet.MARGIN + 56 * zoom, top + 40 * zoom))
    expected = picture().convert("RGB").resize((56 * zoom, 40 * zoom), Image.Resampling.NEAREST)
    # the original tile is the picture, except where the crop is outlined
    diff = np.abs(np.asarray(shown, int) - np.asarray(expected, int)).max(axis=2)
    assert (diff > 0).mean() < 0.1
    left = sheet.MARGIN + sheet.TILE + sheet.MARGIN  # the second tile: IPC's decoded file
    ipc = result.entries["ipc"].decoded.convert("RGB").resize(shown.size,
                                                               Image.Resampling.NEAREST)
    np.testing.assert_array_equal(
        np.asarray(page.crop((left, top, left + shown.size[0], top + shown.size[1]))),
        np.asarray(ipc))


def test_the_detailed_window_is_where_the_edges_are():
    a = np.full((60, 80), 100, np.uint8)
    a[40:52, 60:72] = 230
    x, y = compare.detailed_window(Image.fromarray(a), 16)
    assert x <= 60 and x + 16 >= 72 - 4 and y <= 40 and y + 16 >= 52 - 4


def test_ipc_compare_command(tmp_path):
    picture().save(tmp_path / "pic.png")
    run = subprocess.run([sys.executable, "-m", "PIL_ipc", "compare", "pic.png", "--bpp", "0.8",
                          "-o", "sheet.png", "--effort", "0", "--curve", "0.8"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    rows = {m[1]: m for m in re.finditer(r"^(\w[\w ]*?)\s+(\d+|-)\s+bytes", run.stdout, re.M)}
    assert {"IPC", "JPEG", "JPEG 2000", "WebP", "AVIF"} <= set(rows), run.stdout
    for m in rows.values():
        assert m[2] == "-" or int(m[2]) <= 224
    head = (tmp_path / "sheet.png").read_bytes()[:24]  # PNG signature and IHDR's width
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(head[16:20]) >= 3 * sheet.TILE
    bad = subprocess.run([sys.executable, "-m", "PIL_ipc", "compare", "pic.png", "--bpp", "0.8",
                          "-o", "sheet.unknown"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
