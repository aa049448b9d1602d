"""Speed and size of the T.82 bi-level coder (PIL_ipc.format.jbig) against JBIG-KIT.

    python benchmarks/jbig_speed.py [--corpus DIR] [--repeat N] [--no-defaults]

Part 1 - speed: on the T.82 test image (1960 x 1951, jbigkit-testdata) and on 512 x 512 edge
planes of SIPI peppers (Sobel magnitude above its 90th percentile, plain and thinned), our
encode and decode times (best of N, after JIT warm-up, in-process) against the whole-process
wall time of ``pbmtojbg -q`` and ``jbgtopbm`` (best of N), and the BIE sizes.  Decoders are
timed on the same BIE (pbmtojbg's) and on our default BIE.  Targets: our decode within 2x of
jbgtopbm; our default BIE no larger than pbmtojbg -q's on edge planes.

Part 2 - defaults: total BIE size of encoder settings over edge planes of corpus photos (SIPI,
classic, Kodak, cartoon; Sobel magnitude above the 80th to 99.5th percentile, plain and
thinned), against ``pbmtojbg -q`` and ``pbmtojbg85``.  This is the measurement behind the
defaults of ``PIL_ipc.format.jbig.encode``.

The corpus is found as every benchmark finds it (benchmarks/corpus.py: ``--corpus``, else
``IPC_CORPUS``, else ``../shared/corpus-src`` beside the repository).  Needs jbigkit-bin and
jbigkit-testdata; scikit-image for the thinned planes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO / "tests" / "conformance"), str(REPO)]

import jbigkit as jk  # noqa: E402
from corpus import add_corpus_argument, corpus_root, find_image, image_files  # noqa: E402

from PIL_ipc.format import jbig  # noqa: E402

try:
    from skimage.morphology import thin
except ImportError:  # thinned planes are skipped
    thin = None


def edge_plane(path: Path, percentile: float, thinned: bool) -> np.ndarray:
    """Sobel magnitude of the grey image above its given percentile, optionally thinned."""
    grey = np.asarray(Image.open(path).convert("L"), np.float64)
    mag = np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))
    plane = mag > np.percentile(mag, percentile)
    return thin(plane) if thinned else plane


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def speed(planes: dict[str, np.ndarray], repeat: int) -> bool:
    jbig.decode(jbig.encode(np.eye(40, dtype=bool), mx=8))  # JIT warm-up (or cache load)
    head = (
        f"{'image':<22}{'size':>11} | {'BIE ours':>9}{'pbmtojbg':>9}{'ratio':>7} | "
        f"{'enc ms':>7}{'pbmtojbg':>9}{'ratio':>7} | {'dec ms':>7}{'jbgtopbm':>9}{'ratio':>7}"
        f" | {'dec ours BIE':>12}{'jbgtopbm':>9}{'ratio':>7}"
    )
    print(head)
    print("-" * len(head))
    ok = True
    for name, plane in planes.items():
        pbm = jk.pbm_encode(plane)
        ours = jbig.encode(plane)
        t_enc = best_of(lambda p=plane: jbig.encode(p), repeat)
        k_enc, kit = jk.timed(["pbmtojbg", "-q"], pbm, repeat)
        t_dec = best_of(lambda b=kit: jbig.decode(b), repeat)
        k_dec, _ = jk.timed(["jbgtopbm"], kit, repeat)
        t_dec2 = best_of(lambda b=ours: jbig.decode(b), repeat)
        k_dec2, _ = jk.timed(["jbgtopbm"], ours, repeat)
        assert (jbig.decode(ours) == plane).all() and (jbig.decode(kit) == plane).all()
        h, w = plane.shape
        print(
            f"{name:<22}{f'{w}x{h}':>11} | {len(ours):>9}{len(kit):>9}"
            f"{len(ours) / len(kit):>7.3f} | {t_enc * 1e3:>7.1f}{k_enc * 1e3:>9.1f}"
            f"{t_enc / k_enc:>7.2f} | {t_dec * 1e3:>7.1f}{k_dec * 1e3:>9.1f}{t_dec / k_dec:>7.2f}"
            f" | {t_dec2 * 1e3:>12.1f}{k_dec2 * 1e3:>9.1f}{t_dec2 / k_dec2:>7.2f}"
        )
        ok &= t_dec <= 2 * k_dec and t_dec2 <= 2 * k_dec2
        if name.startswith("edge"):
            ok &= len(ours) <= len(kit)
    print(
        "targets (decode within 2x of jbgtopbm, edge-plane BIE <= pbmtojbg -q):",
        "met" if ok else "NOT MET",
    )
    return ok


VARIANTS = {
    "default": {},
    "l0=128": {"l0": 128},
    "l0=32": {"l0": 32},
    "lrltwo": {"lrltwo": True},
    "no tpbon": {"tpbon": False},
    "mx=0": {"mx": 0},
    "mx=127": {"mx": 127},
}


def defaults(corpus: Path) -> None:
    files = [p for p in image_files(corpus) if p.suffix.lower() in (".png", ".tiff", ".tif",
                                                                   ".pgm")][::2]
    percentiles = (80, 90, 95, 98, 99.5)
    thinning = (False, True) if thin is not None else (False,)
    totals = {k: 0 for k in [*VARIANTS, "pbmtojbg -q", "pbmtojbg85"]}
    tp_wins = 0
    count = 0
    t0 = time.perf_counter()
    for path in files:
        grey = None
        for pct in percentiles:
            for th in thinning:
                if grey is None:
                    grey = np.asarray(Image.open(path).convert("L"), np.float64)
                    mag = np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))
                plane = mag > np.percentile(mag, pct)
                if th:
                    plane = thin(plane)
                sizes = {k: len(jbig.encode(plane, **kw)) for k, kw in VARIANTS.items()}
                sizes["pbmtojbg -q"] = len(jk.pbmtojbg(plane, "-q"))
                sizes["pbmtojbg85"] = len(jk.pbmtojbg(plane, tool="pbmtojbg85"))
                for k, v in sizes.items():
                    totals[k] += v
                tp_wins += sizes["no tpbon"] < sizes["default"]
                count += 1
    print(
        f"\n{count} edge planes ({len(files)} images x percentiles {percentiles}"
        f"{' x plain/thinned' if len(thinning) == 2 else ''}), {time.perf_counter() - t0:.0f} s"
    )
    print(f"{'setting':<14}{'total bytes':>12}{'vs default':>11}{'vs pbmtojbg -q':>15}")
    for k, v in totals.items():
        print(f"{k:<14}{v:>12}{v / totals['default']:>11.4f}{v / totals['pbmtojbg -q']:>15.4f}")
    print(f"tpbon=False (the codec's choice) smaller than the default on {tp_wins} of {count} "
          "planes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_argument(ap)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-defaults", action="store_true", help="skip part 2")
    args = ap.parse_args()
    corpus = corpus_root(args.corpus)
    missing = jk.missing_tools()
    if missing:
        sys.exit(f"JBIG-KIT tools missing: {missing} (Debian package jbigkit-bin)")
    peppers = find_image("peppers", corpus)
    planes = {"test-t82": jk.test_t82_image(), "edge peppers p90": edge_plane(peppers, 90, False)}
    if thin is not None:
        planes["edge peppers p90 thin"] = edge_plane(peppers, 90, True)
    speed(planes, args.repeat)
    if not args.no_defaults:
        defaults(corpus)


if __name__ == "__main__":
    main()
