"""Speed of the rate control: encode time to a bit budget at each search effort, against
OpenJPEG's own rate control (JPEG 2000 at the same budget, one encode) measured in the same run.

    python benchmarks/ratecontrol_speed.py [--images peppers splash ...] [--bpp 0.8 ... 0.05]
                                           [--efforts 0 1 2] [--corpus DIR]

For every image, budget and effort: wall time of ``encode.encode(pixels, EncodeOptions(bpp=...,
effort=...))`` (the whole encoder: denoising, the layout search and the final tonal fit, on
every CPU), the file's bytes and PSNR, and the time as a multiple of the JPEG 2000 encode
(Pillow/OpenJPEG, irreversible, ``quality_mode="rates"`` at the budget's compression ratio:
one encode, its rate control inside). JIT compilation is done by a warm-up encode first and kept
out of the timings. Default images: every 512 x 512 test image (paper, cartoon and synthetic
sets), at the rates rd.py reports and the default effort; a last line gives the slowest
encode of each effort against the 2 s target.

With --colour the images are RGB (default: all 24 Kodak images, 768 x 512, at 0.2, 0.1 and
0.05 bpp), JPEG 2000 uses its colour transform, each row also times the grey encode of the
same picture (its luma, at the same budget) in the same run, and the last lines give, per
budget, the median and the slowest encode, and compare the slowest 768 x 512 encode with the
3 s target of colour.  ``--repeat N`` times every encode N times and takes the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import rd  # noqa: E402

from PIL_ipc import decode, encode  # noqa: E402
from PIL_ipc.encode import search  # noqa: E402

TARGET_S = 2.0  # the rate control target at 512 x 512
COLOUR_TARGET_S = 3.0  # the colour rate control target at 768 x 512
COLOUR_BPP = [0.2, 0.1, 0.05]


def jpeg2000(pixels: np.ndarray, bpp: float) -> tuple[float, int, float]:
    """(seconds, bytes, PSNR) of one OpenJPEG encode at ``bpp``."""
    image = Image.fromarray(pixels, rd.MODE)
    bands = len(rd.MODE)
    out = BytesIO()
    start = time.perf_counter()
    image.save(out, format="JPEG2000", irreversible=True, quality_mode="rates",
               quality_layers=[8.0 * bands / bpp], no_jp2=False, mct=1 if bands == 3 else 0)
    seconds = time.perf_counter() - start
    data = out.getvalue()
    with Image.open(BytesIO(data)) as im:
        back = np.asarray(im.convert(rd.MODE))
    return seconds, len(data), rd.psnr(pixels, back)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", nargs="+")
    ap.add_argument("--colour", action="store_true", help="RGB images, against grey encodes")
    ap.add_argument("--bpp", nargs="+", type=float,
                    help="budgets (default: 0.8 0.4 0.2 0.1 0.05; in colour 0.2 0.1 0.05)")
    ap.add_argument("--efforts", nargs="+", type=int, default=[search.DEFAULT_EFFORT])
    ap.add_argument("--repeat", type=int, default=1, help="median of this many encodes")
    rd.add_corpus_argument(ap)
    args = ap.parse_args()
    root = rd.corpus_root(args.corpus)
    if args.colour:
        rd.MODE = "RGB"
    args.bpp = args.bpp or (COLOUR_BPP if args.colour else [0.8, 0.4, 0.2, 0.1, 0.05])
    images = args.images or (rd.set_members("kodak", root) if args.colour else
                             ["splash", "airplane", "peppers", "comic", "shapes", "gradients",
                              "blobs", "mixed"])
    target, target_shape = ((COLOUR_TARGET_S, (512, 768)) if args.colour
                            else (TARGET_S, (512, 512)))

    ramp = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    if args.colour:
        ramp = np.dstack([ramp, ramp.T, 255 - ramp])
    start = time.perf_counter()
    for effort in args.efforts:
        encode.encode(ramp, encode.EncodeOptions(bpp=1.0, effort=effort))
    print(f"warm-up (JIT, 64 x 64 at every effort): {time.perf_counter() - start:.1f} s; "
          f"{os.cpu_count()} CPUs; target < {target:g} s at {target_shape[1]} x "
          f"{target_shape[0]}")
    head = (f"{'image':10} {'size':>9} {'bpp':>5} {'effort':>6} {'ipc s':>7} {'ipc B':>6} "
            f"{'ipc dB':>7} {'j2k s':>6} {'j2k B':>6} {'j2k dB':>7} {'x j2k':>6}"
            + (f" {'grey s':>7} {'x grey':>6}" if args.colour else ""))
    print(head)
    print("-" * len(head))
    slowest: dict[int, tuple[float, str]] = {}
    times: dict[tuple[int, float], list[float]] = {}
    for name in images:
        _, pixels = rd.resolve_image(name, root)
        h, w = pixels.shape[:2]
        for bpp in args.bpp:
            j_s, j_bytes, j_db = jpeg2000(pixels, bpp)
            for effort in args.efforts:
                options = encode.EncodeOptions(bpp=bpp, effort=effort)
                samples = []
                try:
                    for _ in range(max(args.repeat, 1)):
                        t0 = time.perf_counter()
                        data = encode.encode(pixels, options)
                        samples.append(time.perf_counter() - t0)
                except search.BudgetTooSmall as e:
                    print(f"{name:10} {w:>4}x{h:<4} {bpp:5.2f} {effort:6d}  {e}")
                    continue
                seconds = statistics.median(samples)
                times.setdefault((effort, bpp), []).append(seconds)
                db = rd.psnr(pixels, decode.decode(data))
                grey = ""
                if args.colour:
                    luma = np.asarray(Image.fromarray(pixels).convert("L"))
                    t0 = time.perf_counter()
                    encode.encode(luma, options)
                    grey_s = time.perf_counter() - t0
                    grey = f" {grey_s:7.2f} {seconds / grey_s:6.2f}"
                print(f"{name:10} {w:>4}x{h:<4} {bpp:5.2f} {effort:6d} {seconds:7.2f} "
                      f"{len(data):6d} {db:7.2f} {j_s:6.3f} {j_bytes:6d} {j_db:7.2f} "
                      f"{seconds / j_s:6.0f}{grey}", flush=True)
                if (h, w) == target_shape and seconds > slowest.get(effort, (0.0, ""))[0]:
                    slowest[effort] = (seconds, f"{name} at {bpp:g} bpp")
    for (effort, bpp), ts in sorted(times.items()):
        print(f"effort {effort} at {bpp:g} bpp: {len(ts)} images, median {statistics.median(ts):.2f} s, "
              f"slowest {max(ts):.2f} s")
    for effort, (seconds, case) in sorted(slowest.items()):
        verdict = "under" if seconds < target else "OVER"
        print(f"effort {effort}: slowest {target_shape[1]} x {target_shape[0]} encode "
              f"{seconds:.2f} s ({case}), {verdict} the {target:g} s target")


if __name__ == "__main__":
    main()
