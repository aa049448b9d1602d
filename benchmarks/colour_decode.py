"""Cost of a colour decode against a grey decode of the same geometry.

A colour file shares its edge plane, source points and inpainting operator among its three
channels; the decoder sets the operator up once and solves it three times.  For each image this
encodes the RGB picture, makes the grey file of the same geometry (the same file with its
chroma chunk dropped and the mode set to L: the same planes, source points and luma values), and
times decoder.decode of both (median of --repeat runs, alternating).  Target: RGB at most 1.6x
grey.

    python benchmarks/colour_decode.py [--images kodim23 peppers ...] [--repeat 5]
        [--threshold 24] [--lattice 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from PIL_ipc import container, decoder, encoder  # noqa: E402

CORPUS = HERE.parent.parent / "shared" / "corpus-src"
IMAGES = {"kodim23": "kodak/kodim23.png", "kodim05": "kodak/kodim05.png",
          "peppers": "sipi/peppers.tiff", "splash": "sipi/splash.tiff",
          "frymire": "cartoon/frymire.png"}
TARGET = 1.6


def grey_twin(data: bytes) -> bytes:
    """The file of the same geometry in mode L: luma values only, version 3."""
    f = container.parse(data)
    f.header = replace(f.header, mode="L", version=3)
    f.chroma = None
    return container.build(f)


def timed(data: bytes) -> float:
    start = time.perf_counter()
    decoder.decode(data)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", nargs="+", default=list(IMAGES))
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threshold", type=float, default=24.0)
    p.add_argument("--lattice", type=int, default=8)
    args = p.parse_args(argv)
    print(f"{'image':<10}{'size':>10}{'points':>8}{'grey ms':>9}{'RGB ms':>9}{'ratio':>7}")
    ratios = []
    for name in args.images:
        rgb = np.asarray(Image.open(args.corpus / IMAGES.get(name, name)).convert("RGB"))
        data = encoder.encode(rgb, encoder.EncodeOptions(threshold=args.threshold,
                                                         lattice=args.lattice))
        grey = grey_twin(data)
        timed(grey), timed(data)  # compiled and cached
        g, c = [], []
        for _ in range(args.repeat):
            g.append(timed(grey))
            c.append(timed(data))
        gm, cm = statistics.median(g), statistics.median(c)
        ratios.append(cm / gm)
        points = container.parse(data).values_count
        print(f"{name:<10}{f'{rgb.shape[1]}x{rgb.shape[0]}':>10}{points:>8}{1000 * gm:>9.1f}"
              f"{1000 * cm:>9.1f}{cm / gm:>7.2f}")
    worst = max(ratios)
    print(f"largest ratio {worst:.2f} (target <= {TARGET}): "
          f"{'holds' if worst <= TARGET else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
