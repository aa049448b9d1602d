"""The budget search on a reduced image against the full search: decoded PSNR and time.

    python benchmarks/large_search.py [--images peppers boat ...] [--size 512] [--bpp 0.2 0.1]
                                      [--reduce 4 16] [--effort 0 1] [--corpus DIR]

From PIL_ipc.encode.tiles.TILE_PIXELS pixels on (2 Mpixel) the encoder searches the layout of a
budgeted file on the image reduced to REDUCED_PIXELS (1 Mpixel) and fits that layout at full
size (PIL_ipc.encode.tiles.search_reduced).  This prints, for each image resized (Lanczos) to
``--size`` squared, each budget and each effort, the decoded PSNR and the time of the full
search (PIL_ipc.encode.search.search on the whole image, as smaller images are encoded) and of
the reduced search with the pixel count divided by each ``--reduce`` factor (4: half the
side; 16: a quarter, the ratio of a 4000 x 4000 image to its 1 Mpixel search), with the
difference in dB.  Times are wall seconds of one run each (the machine may be shared: compare
the columns of one run, not runs).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import rd  # noqa: E402  (the corpus and its image names, as the rate-distortion benchmark)

from PIL_ipc import decode, encode, metrics  # noqa: E402
from PIL_ipc.encode import pipeline, search, tiles  # noqa: E402


def psnr(data: bytes, pixels: np.ndarray) -> float:
    return metrics.psnr(pixels, decode.decode(data))


def full(pixels: np.ndarray, options: encode.EncodeOptions) -> bytes:
    planner, _ = pipeline.planner_for(pixels, options, "L", searched=True)
    budget = options.budget_bytes(pixels.shape[1], pixels.shape[0])
    return planner.file(search.search(planner, budget, options.tonal, effort=options.effort))


def reduced(pixels: np.ndarray, options: encode.EncodeOptions, factor: int) -> bytes:
    planner, _ = pipeline.planner_for(pixels, options, "L", searched=True)
    small, _ = pipeline.planner_for(pipeline.reduced(pixels, pixels.size // factor), options,
                                    "L", searched=True)
    budget = options.budget_bytes(pixels.shape[1], pixels.shape[0])
    return planner.file(tiles.search_reduced(planner, small, budget, options.tonal,
                                             effort=options.effort))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", nargs="+", default=["peppers", "boat", "airplane", "mandrill"])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--bpp", type=float, nargs="+", default=[0.2, 0.1])
    p.add_argument("--reduce", type=int, nargs="+", default=[4, 16])
    p.add_argument("--effort", type=int, nargs="+", default=[0, 1])
    rd.add_corpus_argument(p)
    args = p.parse_args(argv)
    # compile the kernels before timing
    warm = np.zeros((64, 64), np.uint8)
    warm[20:40, 10:50] = 200
    full(warm, encode.EncodeOptions(bpp=1.0, effort=0))
    header = ["image", "bpp", "effort", "full dB", "full s"]
    for f in args.reduce:
        header += [f"1/{f} dB", f"1/{f} - full", f"1/{f} s"]
    print(f"\n### Budget search on the image reduced vs the full search, {args.size} x "
          f"{args.size}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    diffs: dict[int, list[float]] = {f: [] for f in args.reduce}
    corpus = rd.corpus_root(args.corpus)
    for name in args.images:
        _, grey = rd.resolve_image(name, corpus)
        src = Image.fromarray(grey)
        pixels = np.asarray(src.resize((args.size, args.size), Image.Resampling.LANCZOS))
        for bpp in args.bpp:
            for effort in args.effort:
                options = encode.EncodeOptions(bpp=bpp, effort=effort)
                t = time.perf_counter()
                ref = psnr(full(pixels, options), pixels)
                row = [name, f"{bpp:g}", str(effort), f"{ref:.2f}",
                       f"{time.perf_counter() - t:.1f}"]
                for f in args.reduce:
                    t = time.perf_counter()
                    try:
                        q = psnr(reduced(pixels, options, f), pixels)
                    except search.BudgetTooSmall:
                        row += ["too small", "", ""]
                        continue
                    diffs[f].append(q - ref)
                    row += [f"{q:.2f}", f"{q - ref:+.2f}", f"{time.perf_counter() - t:.1f}"]
                print("| " + " | ".join(row) + " |", flush=True)
    for f, d in diffs.items():
        if d:
            print(f"\n1/{f}: mean {np.mean(d):+.2f} dB, worst {min(d):+.2f}, best {max(d):+.2f} "
                  f"over {len(d)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
