"""Cost of a colour decode against a grey decode of the same geometry.

A colour file shares its edge plane, source points and inpainting operator among its three
channels; the decoder sets the operator up once, solves luma, then the two chroma channels at
once in two threads (decode.CHANNEL_THREADS).  For each image this encodes the RGB picture,
makes the grey file of the same geometry (the same file with its chroma chunk dropped and the
mode set to L: the same planes, source points and luma values), and times decode.decode of
both (median of --repeat runs, alternating): wall-clock time, whose ratio is the target (RGB
at most 1.6x grey), and CPU time of the process (both threads), the work a colour decode adds
whatever the number of cores.  On a shared machine the wall-clock ratio is only meaningful
when a core is free for the second thread.

    python benchmarks/colour_decode.py [--images kodim23 peppers ...] [--repeat 5]
        [--threshold 24] [--lattice 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from PIL_ipc.format import container, reader  # noqa: E402
from PIL_ipc import decode, encode

from corpus import add_corpus_argument, corpus_root, load_image  # noqa: E402  (benchmarks/)

IMAGES = ("kodim23", "kodim05", "peppers", "splash", "frymire")
TARGET = 1.6


def grey_twin(data: bytes) -> bytes:
    """The file of the same geometry in mode L: luma values only, version 3."""
    f = reader.parse(data)
    f.header = replace(f.header, mode="L", version=3)
    f.chroma = None
    return container.build(f)


def timed(data: bytes) -> tuple[float, float]:
    """(wall-clock, process CPU) seconds of one decode."""
    start, cpu = time.perf_counter(), time.process_time()
    decode.decode(data)
    return time.perf_counter() - start, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", nargs="+", default=list(IMAGES))
    add_corpus_argument(p)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threshold", type=float, default=24.0)
    p.add_argument("--lattice", type=int, default=8)
    p.add_argument("--threads", type=int, default=decode.CHANNEL_THREADS,
                   help="threads for the chroma channels (1: one after another)")
    args = p.parse_args(argv)
    root = corpus_root(args.corpus)
    decode.CHANNEL_THREADS = max(1, args.threads)
    print(f"{'image':<10}{'size':>10}{'points':>8}{'grey ms':>9}{'RGB ms':>9}{'ratio':>7}"
          f"{'grey CPU':>10}{'RGB CPU':>9}{'CPU ratio':>10}")
    ratios, cpu_ratios = [], []
    for name in args.images:
        rgb = load_image(name, root, "RGB")
        data = encode.encode(rgb, encode.EncodeOptions(threshold=args.threshold,
                                                         lattice=args.lattice))
        grey = grey_twin(data)
        timed(grey), timed(data)  # compiled and cached
        g, c = [], []
        for _ in range(args.repeat):
            g.append(timed(grey))
            c.append(timed(data))
        gm, cm = (statistics.median(t[0] for t in x) for x in (g, c))
        gc, cc = (statistics.median(t[1] for t in x) for x in (g, c))
        ratios.append(cm / gm)
        cpu_ratios.append(cc / gc)
        points = reader.parse(data).values_count
        print(f"{name:<10}{f'{rgb.shape[1]}x{rgb.shape[0]}':>10}{points:>8}{1000 * gm:>9.1f}"
              f"{1000 * cm:>9.1f}{cm / gm:>7.2f}{1000 * gc:>10.1f}{1000 * cc:>9.1f}"
              f"{cc / gc:>10.2f}")
    worst = max(ratios)
    print(f"largest ratio {worst:.2f} (target <= {TARGET}): "
          f"{'holds' if worst <= TARGET else 'missed'}; largest CPU-time ratio "
          f"{max(cpu_ratios):.2f} (chroma threads: {decode.CHANNEL_THREADS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
