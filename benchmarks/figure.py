"""Draw the pipeline figure of the README: original, edge plane, source points, decoded.

In colour by default (one edge plane and one set of source points for the three channels: the
source points are drawn in their pixels' colours); --grey draws the grey pipeline.

    python benchmarks/figure.py [IMAGE] [--bpp 0.2] [--grey] [--out docs/pipeline.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from PIL_ipc.format import jbig, reader, sources
from PIL_ipc import decode, encode

REPO = Path(__file__).resolve().parent.parent


def panels(pixels: np.ndarray, bpp: float) -> tuple[list[np.ndarray], list[str]]:
    data = encode.encode(pixels, encode.EncodeOptions(bpp=bpp))
    f = reader.parse(data)
    edges = jbig.decode(f.edge)
    points = sources.locate(edges, f.header.spacing, jbig.decode(f.seed) if f.seed else None,
                            f.header.lattice)
    decoded = decode.decode(data)
    psnr = 10 * np.log10(255.0 ** 2 / np.mean((decoded.astype(float) - pixels) ** 2))
    edge_img = np.where(edges, 0, 255).astype(np.uint8)
    flat = pixels.reshape(edges.size, -1)
    stored = np.full(flat.shape, 255, np.uint8)
    stored[points.positions] = flat[points.positions]
    stored.reshape(*edges.shape, -1)[points.band & ~points.known_mask()] = 225
    stored = stored.reshape(pixels.shape)
    values = f"{len(f.values_payload)} B"
    if f.chroma is not None:
        values = f"Y {len(f.values_payload)} B, CbCr {len(f.chroma.payload)} B"
    return ([pixels, edge_img, stored, decoded],
            ["original", f"edge plane ({len(f.edge)} B)",
             f"source points ({points.count}; {values})",
             f"decoded: {8 * len(data) / edges.size:.3f} bpp, {psnr:.1f} dB"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", default=str(REPO / "examples" / "kodim23.png"))
    ap.add_argument("--bpp", type=float, default=0.2)
    ap.add_argument("--grey", action="store_true", help="the grey pipeline")
    ap.add_argument("--out", default=str(REPO / "docs" / "pipeline.png"))
    args = ap.parse_args()
    mode = "L" if args.grey else "RGB"
    pixels = np.asarray(Image.open(args.image).convert(mode))
    images, titles = panels(pixels, args.bpp)
    h, w = pixels.shape[:2]
    scale = min(1.0, 384 / w)
    tw, th = int(w * scale), int(h * scale)
    sheet = Image.new(mode, (2 * tw + 30, 2 * th + 60), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (img, title) in enumerate(zip(images, titles, strict=True)):
        x, y = 10 + (i % 2) * (tw + 10), 20 + (i // 2) * (th + 25)
        panel = Image.fromarray(img).convert(mode)
        sheet.paste(panel.resize((tw, th), Image.Resampling.LANCZOS), (x, y))
        draw.text((x, y - 14), title, fill="black")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(args.out, *titles, sep="\n  ")


if __name__ == "__main__":
    main()
