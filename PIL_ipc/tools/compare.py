"""IPC against JPEG, JPEG 2000, WebP and AVIF at the same file size, on one image.

Every codec gets the same image (in the mode IPC stores it) and contributes its best file at
or under the byte budget: IPC through its own rate control, the peers through the search of
`PIL_ipc.tools.peers`. Each file is decoded and measured (PSNR, SSIM) in that mode; the same is done
at a few more budgets for a PSNR-against-bpp curve. `PIL_ipc.tools.sheet` draws the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .. import metrics
from . import peers, transcode

#: Codecs in the order they are shown; "ipc" is ours.
CODECS = ("ipc", "jpeg", "jpeg2000", "webp", "avif")
TITLES = {"ipc": "IPC", "jpeg": "JPEG", "jpeg2000": "JPEG 2000", "webp": "WebP", "avif": "AVIF"}
#: Budgets of the curve, as multiples of the compared one.
CURVE_FACTORS = (0.25, 0.5, 1.0, 2.0)


@dataclass
class Entry:
    """One codec's best file under one budget, or why it has none."""

    codec: str
    budget: int  # bytes
    data: bytes | None = None
    decoded: Image.Image | None = None
    psnr: float = math.nan
    ssim: float = math.nan
    note: str = ""  # why there is no file


@dataclass
class Comparison:
    """The image as compared, the entries at the budget, and the curve's points."""

    image: Image.Image
    bpp: float
    budget: int
    entries: dict[str, Entry]
    curve: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # (bpp, PSNR)


def budget_bytes(bpp: float, size: tuple[int, int]) -> int:
    """The byte budget of `bpp` bits per pixel, as the encoder counts it."""
    return int(math.floor(bpp * size[0] * size[1] / 8))


def _measure(entry: Entry, image: Image.Image) -> Entry:
    assert entry.data is not None
    entry.decoded = transcode.decode(entry.data, image.mode)
    reference, decoded = transcode.pixels(image), transcode.pixels(entry.decoded)
    entry.psnr = metrics.psnr(reference, decoded)
    entry.ssim = metrics.ssim(reference, decoded)
    return entry


def _ipc(image: Image.Image, budget: int, options: dict) -> Entry:
    entry = Entry("ipc", budget)
    try:
        entry.data = transcode.encode(image, {**options, "size": budget}).data
    except ValueError as e:
        entry.note = str(e).splitlines()[0]
        return entry
    return _measure(entry, image)


def _peer(codec: peers.PeerCodec, image: Image.Image, budget: int) -> Entry:
    entry = Entry(codec.name, budget)
    if not codec.available():
        entry.note = "not in this Pillow build"
        return entry
    try:
        setting = codec.best("image", image, budget)
    except (OSError, ValueError) as e:  # e.g. a mode the format cannot store
        entry.note = str(e).splitlines()[0]
        return entry
    if setting is None:
        smallest = len(codec.encode("image", image, codec.lowest(image.size)).data)
        entry.note = f"cannot get that small (smallest file {smallest} bytes)"
        return entry
    entry.data = codec.encode("image", image, setting).data
    return _measure(entry, image)


def curve_budgets(bpp: float, curve: Sequence[float] | None = None) -> list[float]:
    """The budgets (bpp) measured: `curve` (default: CURVE_FACTORS times `bpp`) and `bpp`."""
    return sorted({*(curve or [bpp * f for f in CURVE_FACTORS]), bpp})


def compare(im: Image.Image, bpp: float, *, curve: Sequence[float] | None = None,
            options: dict | None = None, codecs: Sequence[str] = CODECS,
            step: Callable[[str], None] | None = None) -> Comparison:
    """Every codec's best file at or under `bpp`, and PSNR at the `curve` budgets (default: the
    CURVE_FACTORS multiples of `bpp`). `options` go to the IPC encoder; `step` is called with a
    description after each encode search (for progress)."""
    image = transcode.to_storable(im)
    curve = curve_budgets(bpp, curve)
    options = dict(options or {})
    # colour: JPEG 4:2:0 and JPEG 2000 with its colour transform, as in the benchmarks
    peer_codecs = peers.peer_codecs(colour=image.mode in ("RGB", "RGBA"))
    comparison = Comparison(image, bpp, budget_bytes(bpp, image.size), {})
    for codec in codecs:
        points = []
        for b in curve:
            budget = budget_bytes(b, image.size)
            if codec == "ipc":
                entry = _ipc(image, budget, options)
            else:
                entry = _peer(peer_codecs[codec], image, budget)
            if b == bpp:
                comparison.entries[codec] = entry
            if entry.data is not None:
                points.append((8 * len(entry.data) / (image.size[0] * image.size[1]),
                               entry.psnr))
            if step is not None:
                step(f"{codec} at {b:g} bpp")
        comparison.curve[codec] = points
    return comparison


def detailed_window(image: Image.Image, side: int) -> tuple[int, int]:
    """Top-left corner of the side x side window with the most gradient energy (where the
    codecs differ most), on a coarse grid of positions."""
    grey = np.asarray(image.convert("L"), dtype=np.float64)
    h, w = grey.shape
    side_y, side_x = min(side, h), min(side, w)
    energy = np.zeros_like(grey)
    energy[:, 1:] += np.abs(np.diff(grey, axis=1))
    energy[1:, :] += np.abs(np.diff(grey, axis=0))
    table = np.zeros((h + 1, w + 1))
    np.cumsum(np.cumsum(energy, axis=0), axis=1, out=table[1:, 1:])
    stride = max(1, side // 4)
    best, corner = -1.0, (0, 0)
    for y in range(0, h - side_y + 1, stride):
        for x in range(0, w - side_x + 1, stride):
            total = (table[y + side_y, x + side_x] - table[y, x + side_x]
                     - table[y + side_y, x] + table[y, x])
            if total > best:
                best, corner = total, (x, y)
    return corner
