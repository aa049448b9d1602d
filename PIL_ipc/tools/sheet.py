"""The comparison sheet of `ipc compare`: one PNG to judge the codecs by eye.

Tiles in three columns (the original, then IPC, JPEG, JPEG 2000, WebP, AVIF), each with its
label (bytes, bpp, PSNR, SSIM), the picture (fitted to the tile width) and the same
crop of every picture enlarged with nearest-neighbour pixels; the crop is outlined on the
original. Below them a PSNR-against-bpp plot drawn with matplotlib (an optional dependency).
"""

from __future__ import annotations

import math
from io import BytesIO

from PIL import Image, ImageDraw, ImageFont

from .compare import TITLES, Comparison, Entry, detailed_window

TILE = 384  # tile width in pixels
COLUMNS = 3
MARGIN = 12
LABEL_HEIGHT = 44
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
OUTLINE = (230, 40, 40)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _label(entry: Entry | None, comparison: Comparison) -> list[str]:
    w, h = comparison.image.size
    if entry is None:
        return ["original", f"{w} x {h} {comparison.image.mode}, "
                            f"budget {comparison.budget} bytes ({comparison.bpp:g} bpp)"]
    title = TITLES.get(entry.codec, entry.codec)
    if entry.data is None:
        return [title, entry.note]
    n = len(entry.data)
    ssim = "n/a" if math.isnan(entry.ssim) else f"{entry.ssim:.4f}"
    psnr = "inf" if math.isinf(entry.psnr) else f"{entry.psnr:.2f}"
    return [f"{title}: {n} bytes, {8 * n / (w * h):.3f} bpp",
            f"PSNR {psnr} dB, SSIM {ssim}"]


def _crop_geometry(comparison: Comparison, crop: tuple[int, int] | None
                   ) -> tuple[tuple[int, int, int, int], int]:
    w, h = comparison.image.size
    side = max(8, min(128, min(w, h) // 3))
    zoom = max(1, TILE // side)
    x, y = crop if crop is not None else detailed_window(comparison.image, side)
    x, y = min(max(0, x), max(0, w - side)), min(max(0, y), max(0, h - side))
    return (x, y, min(w, x + side), min(h, y + side)), zoom


def plot(comparison: Comparison, width: int) -> Image.Image:
    """PSNR against bpp of every codec, `width` pixels wide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dpi = 100
    fig, ax = plt.subplots(figsize=(width / dpi, 3.4), dpi=dpi)
    try:
        for codec, points in comparison.curve.items():
            if points:
                xs, ys = zip(*sorted(points), strict=True)
                ax.plot(xs, ys, marker="o", label=TITLES.get(codec, codec),
                        linewidth=2.5 if codec == "ipc" else 1.2)
        ax.axvline(comparison.bpp, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bits per pixel (whole file)")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
        fig.tight_layout()
        buffer = BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as im:
        return im.convert("RGB")


def draw(comparison: Comparison, crop: tuple[int, int] | None = None) -> Image.Image:
    """The whole sheet as an RGB image."""
    image = comparison.image
    w, h = image.size
    # Smaller pictures are enlarged by a whole factor (pixels stay square), larger ones reduced.
    scale = float(max(1, TILE // w)) if w <= TILE else TILE / w
    shown = (max(1, round(w * scale)), max(1, round(h * scale)))
    box, zoom = _crop_geometry(comparison, crop)
    crop_size = ((box[2] - box[0]) * zoom, (box[3] - box[1]) * zoom)
    tile_h = LABEL_HEIGHT + shown[1] + MARGIN // 2 + crop_size[1]
    tiles: list[tuple[Entry | None, Image.Image | None]] = [(None, image)]
    tiles += [(e, e.decoded) for e in comparison.entries.values()]
    rows = -(-len(tiles) // COLUMNS)
    graph = plot(comparison, COLUMNS * TILE + (COLUMNS - 1) * MARGIN)
    sheet_w = 2 * MARGIN + COLUMNS * TILE + (COLUMNS - 1) * MARGIN
    sheet_h = MARGIN + rows * (tile_h + MARGIN) + graph.size[1] + MARGIN
    sheet = Image.new("RGB", (sheet_w, sheet_h), BACKGROUND)
    pen = ImageDraw.Draw(sheet)
    font = _font(15)
    for i, (entry, picture) in enumerate(tiles):
        left = MARGIN + (i % COLUMNS) * (TILE + MARGIN)
        top = MARGIN + (i // COLUMNS) * (tile_h + MARGIN)
        for k, line in enumerate(_label(entry, comparison)):
            pen.text((left, top + k * 19), line, fill=INK, font=font)
        y = top + LABEL_HEIGHT
        if picture is None:
            pen.rectangle((left, y, left + shown[0] - 1, y + shown[1] - 1), outline=INK)
            continue
        rgb = picture.convert("RGB")
        method = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
        sheet.paste(rgb.resize(shown, method), (left, y))
        zoomed = rgb.crop(box).resize(crop_size, Image.Resampling.NEAREST)
        sheet.paste(zoomed, (left, y + shown[1] + MARGIN // 2))
        if entry is None:  # outline the crop on the original
            pen.rectangle((left + box[0] * scale, y + box[1] * scale,
                           left + box[2] * scale - 1, y + box[3] * scale - 1),
                          outline=OUTLINE, width=2)
    sheet.paste(graph, (MARGIN, sheet_h - MARGIN - graph.size[1]))
    return sheet
