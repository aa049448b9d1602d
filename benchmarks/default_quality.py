"""The default save against a ``size=`` save of the same size: is the default a good file?

For every image (grey), ``EncodeOptions()`` (the default quality target) gives a file of S
bytes; ``EncodeOptions(size=S)`` is the rate control's best file within those bytes. The table
prints both PSNRs and their difference (default minus size=; the target is within 0.5 dB),
and the encode time of each, the default's as a ratio against the size= save (one budget
search) measured in the same run.

    python benchmarks/default_quality.py [--set paper|kodak|both] [--images NAME ...]
        [--quality Q | --psnr DB]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from corpus import add_corpus_argument, corpus_root, load_image  # noqa: E402

from PIL_ipc import decode, encode  # noqa: E402
from PIL_ipc.encode import pipeline  # noqa: E402

PAPER = ["splash", "house", "airplane", "peppers"]
KODAK = [f"kodim{i:02d}" for i in range(1, 25)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def timed_encode(pixels: np.ndarray, options: encode.EncodeOptions) -> tuple[bytes, float]:
    start = time.perf_counter()
    data = encode.encode(pixels, options)
    return data, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", choices=("paper", "kodak", "both"), default="both")
    p.add_argument("--images", nargs="*", help="corpus names (kodim07, house, ...)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--quality", type=float)
    target.add_argument("--psnr", type=float)
    add_corpus_argument(p)
    args = p.parse_args()
    root = corpus_root(args.corpus)
    images = {"paper": PAPER, "kodak": KODAK, "both": PAPER + KODAK}[args.set]
    if args.images:
        images = [i for i in PAPER + KODAK if i in args.images]
    default = encode.EncodeOptions(quality=args.quality, psnr=args.psnr)
    print(f"default save: target {default.target_psnr():.2f} dB "
          f"(quality {pipeline.DEFAULT_QUALITY if args.quality is None else args.quality}"
          f"{'' if args.psnr is None else ', psnr given'}); the machine may be shared")
    # one small encode first, so that no row pays for loading or compiling the kernels
    encode.encode(np.full((16, 16), 128, np.uint8), encode.EncodeOptions(size=200))
    print("| image | bytes | bpp | default PSNR | size= PSNR | difference | default encode | "
          "size= encode | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    diffs, ratios, times = [], [], []
    for name in images:
        pixels = load_image(name, root)
        data, t_default = timed_encode(pixels, default)
        same, t_size = timed_encode(pixels, encode.EncodeOptions(size=len(data)))
        q_default = psnr(decode.decode(data), pixels)
        q_size = psnr(decode.decode(same), pixels)
        diffs.append(q_default - q_size)
        ratios.append(t_default / t_size)
        times.append(t_default)
        print(f"| {name} | {len(data)} | {8 * len(data) / pixels.size:.3f} | {q_default:.2f} | "
              f"{q_size:.2f} | {q_default - q_size:+.2f} | {t_default:.1f} s | {t_size:.1f} s | "
              f"{t_default / t_size:.1f}x |", flush=True)
    print(f"\ndifference default - size=: min {min(diffs):+.2f} dB, median "
          f"{statistics.median(diffs):+.2f}, max {max(diffs):+.2f}; "
          f"{sum(d < -0.5 for d in diffs)} of {len(diffs)} more than 0.5 dB below")
    print(f"default encode: median {statistics.median(times):.1f} s, "
          f"{statistics.median(ratios):.1f}x a size= save (median ratio; max "
          f"{max(ratios):.1f}x)")


if __name__ == "__main__":
    main()
