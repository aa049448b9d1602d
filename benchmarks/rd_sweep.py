"""Ablation of IPC's rate control: what each searched layout field brings at a fixed budget.

Each row encodes the same image at the same budget with more of the layout left to the search
(the rest pinned to the fixed-threshold defaults), from the threshold alone up to the full
search, and reports PSNR, SSIM, encode time and the PSNR lead of the full search over the row.

    python benchmarks/rd_sweep.py [--images NAME_OR_PATH ...] [--bpp 0.2 0.1 0.05] [--tonal 6]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import rd  # noqa: E402  (image loading and metrics of the rate-distortion benchmark)

from PIL_ipc import decode, encode as ipc_encode  # noqa: E402

#: Fixed-threshold defaults of every layout field the search may free.
PINNED = {"spacing": 4, "levels": 64, "lattice": 0, "min_length": 10, "hysteresis": 0.5,
          "iterations": 30, "edge_seeds": math.inf}
#: Steps of the ablation: the fields each step leaves to the search (cumulative).
STEPS = (
    ("threshold only", ()),
    ("+ spacing, levels", ("spacing", "levels")),
    ("+ seed lattice", ("lattice",)),
    ("+ min_length, hysteresis", ("min_length", "hysteresis")),
    ("+ denoising steps", ("iterations",)),
    ("+ edge seeds (full search)", ("edge_seeds",)),
)


def encode(pixels: np.ndarray, bpp: float, free: set[str], tonal: int
           ) -> tuple[bytes | None, float]:
    """File at the budget with the fields outside ``free`` pinned, and encode seconds."""
    pinned = {k: v for k, v in PINNED.items() if k not in free}
    start = time.perf_counter()
    try:
        data = ipc_encode.encode(pixels, ipc_encode.EncodeOptions(bpp=bpp, tonal=tonal, **pinned))
    except ValueError:
        return None, time.perf_counter() - start
    return data, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", nargs="+", default=["peppers", "splash", "svalbard", "comic",
                                                     "mixed"])
    p.add_argument("--bpp", nargs="+", type=float, default=[0.1])
    p.add_argument("--tonal", type=int, default=6)
    rd.add_corpus_argument(p)
    args = p.parse_args(argv)
    corpus = rd.corpus_root(args.corpus)
    ipc_encode.encode(np.tile(np.arange(64, dtype=np.uint8), (64, 1)), ipc_encode.EncodeOptions(bpp=1.0))
    for spec in args.images:
        name, pixels = rd.resolve_image(spec, corpus)
        for bpp in args.bpp:
            budget = math.floor(bpp * pixels.size / 8)
            print(f"\n{name} {pixels.shape[1]}x{pixels.shape[0]} at {bpp:g} bpp "
                  f"(budget {budget} B)")
            print(f"  {'searched':<28}{'bytes':>7}{'PSNR':>8}{'SSIM':>8}{'enc s':>8}"
                  f"{'full lead dB':>14}")
            rows = []
            free: set[str] = set()
            for label, fields in STEPS:
                free |= set(fields)
                data, seconds = encode(pixels, bpp, free, args.tonal)
                if data is None:
                    rows.append((label, None, None, None, seconds))
                    continue
                out = decode.decode(data)
                rows.append((label, len(data), rd.psnr(pixels, out), rd.ssim(pixels, out),
                             seconds))
            full = rows[-1][2]
            for label, size, q, s, seconds in rows:
                lead = "-" if q is None or full is None else f"{full - q:+.2f}"
                print(f"  {label:<28}{rd.fmt(size, 'd'):>7}{rd.fmt(q, '.2f'):>8}"
                      f"{rd.fmt(s, '.4f'):>8}{seconds:>8.1f}{lead:>14}")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
