"""Speed of the inpainting solver: "fast" (multigrid K-cycle CG) and "sor" against scipy's direct
sparse solve (SuperLU), on 512 x 512 problems built from real photos.

    python benchmarks/inpaint_speed.py [--images peppers airplane ...] [--repeat 5] [--no-sor]
                                       [--corpus DIR]

Masks, per image (grey, 512 x 512):
  edges:   thresholded Sobel magnitude (> 240); band = non-edge pixels 8-adjacent to an edge
           pixel; known = every 4th band pixel (raster order) plus every 16th pixel of every
           16th row ("grid") or nothing more ("no grid": large Laplace regions, the hard case);
  codec:   the stored pixels and edge band of a real .ipc file at 0.2 bpp (encoder defaults),
           skipped with a note if the encoder is unavailable.
Values are the photo's grey levels at the known pixels.

Rows: "fast" = new Inpainter + solve (set-up, error certificate, solve); "fast, reuse" = a
second solve with the same masks and other values (255 - grey: like a colour channel or a
tonal-optimisation step); "sor"; and
"direct" = tests/conformance/reference_solver.reference_solve (builds the sparse matrix, SuperLU). Times
are medians over --repeat runs after a warm-up (sor and direct: one run), wall clock and CPU
(process) time: on a shared machine CPU time is the steadier of the two. "x direct" is the
direct solve's wall time over the row's. "max err" is max |u - u_direct|; "bound" is the
solver's certified error bound (tol = 1e-3); "its" are the band + Laplace iterations (FCG
steps or SOR sweeps). The first lines give the first-call time: numba compilation into an
empty cache, then loading from the cache, each in a fresh process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT), str(ROOT / "tests" / "conformance")]

from corpus import add_corpus_argument, corpus_root, load_image  # noqa: E402
from reference_solver import reference_solve  # noqa: E402

from PIL_ipc.solver import inpaint  # noqa: E402

TOL = 1e-3

FIRST_CALL = """
import time, numpy as np
t = time.perf_counter()
from PIL_ipc.solver import inpaint
known = np.zeros((40, 40), bool); known[::7, ::5] = True
band = np.zeros((40, 40), bool); band[20, :] = True
inpaint.solve(known, np.where(known, 100.0, 0.0), band, method="fast")
inpaint.solve(known, np.where(known, 100.0, 0.0), band, method="sor")
print(time.perf_counter() - t)
"""


def first_call_times() -> tuple[float, float]:
    """Seconds for import + first solves: compiling into an empty cache, then from the cache."""
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        for _ in range(2):
            res = subprocess.run(
                [sys.executable, "-c", FIRST_CALL],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            out.append(float(res.stdout.strip()))
    return out[0], out[1]


def edge_masks(img: np.ndarray, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Band and known masks from thresholded Sobel edges (see the module docstring)."""
    g = np.hypot(ndimage.sobel(img, 0), ndimage.sobel(img, 1))
    edge = g > 240.0
    band = ndimage.binary_dilation(edge, structure=np.ones((3, 3), bool)) & ~edge
    known = np.zeros_like(band)
    known.ravel()[np.flatnonzero(band.ravel())[::4]] = True
    if grid:
        known[::grid, ::grid] = True
    return known, band


def codec_masks(img: np.ndarray) -> tuple[np.ndarray, np.ndarray] | str:
    """(known, band) of a real file at 0.2 bpp, or the reason it is unavailable."""
    try:
        from PIL_ipc.format import jbig, reader, sources
        from PIL_ipc import encode

        data = encode.encode(img.astype(np.uint8), encode.EncodeOptions(bpp=0.2))
        f = reader.parse(data)
        seed = jbig.decode(f.seed) if f.seed else None
        points = sources.locate(jbig.decode(f.edge), f.header.spacing, seed, f.header.lattice)
        return points.known_mask(), points.band
    except Exception as exc:  # the encoder's API is not this benchmark's concern
        return f"{type(exc).__name__}: {exc}"


def timed(fn, repeat: int):
    """(result of the last run, median wall s, median CPU s)."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        res = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return res, float(np.median(walls)), float(np.median(cpus))


def run_case(known, band, img, repeat: int, sor: bool) -> list[tuple]:
    """Rows (method, wall s, cpu s, max err, bound, iterations) for one problem."""
    values = np.where(known, img, 0.0)
    ref, t_ref, c_ref = timed(lambda: reference_solve(known, values, band), 1)
    rows = []

    def fast():
        op = inpaint.Inpainter(known, band)
        return op, op.solve(values, tol=TOL)

    (op, u), t, c = timed(fast, repeat)
    its = f"{op.band_phase.last_iterations}+{op.laplace_phase.last_iterations}"
    rows.append(("fast", t, c, np.abs(u - ref).max(), op.last_error, its))
    other = np.where(known, 255.0 - img, 0.0)
    u, t, c = timed(lambda: op.solve(other, tol=TOL), repeat)
    its = f"{op.band_phase.last_iterations}+{op.laplace_phase.last_iterations}"
    err = np.abs(u - reference_solve(known, other, band)).max()
    rows.append(("fast, reuse", t, c, err, op.last_error, its))
    if sor:
        (op, u), t, c = timed(
            lambda: (o := inpaint.Inpainter(known, band), o.solve(values, method="sor")), 1
        )
        its = f"{op.band_phase.last_iterations}+{op.laplace_phase.last_iterations}"
        rows.append(("sor", t, c, np.abs(u - ref).max(), op.last_error, its))
    rows.append(("direct", t_ref, c_ref, 0.0, float("nan"), "-"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", nargs="+", default=["peppers", "airplane", "splash", "mandrill"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-sor", action="store_true", help="skip the (slow) SOR rows")
    add_corpus_argument(ap)
    args = ap.parse_args()
    root = corpus_root(args.corpus)

    cold, cached = first_call_times()
    print(
        f"first call (import + first fast and sor solves of 40 x 40): "
        f"{cold:.2f} s compiling into an empty cache, {cached:.2f} s from the cache"
    )
    # warm-up in this process
    w = np.zeros((32, 32), bool)
    w[::5, ::5] = True
    for m in inpaint.METHODS:
        inpaint.solve(w, np.ones((32, 32)), w, method=m)

    head = (
        f"{'image':9} {'mask':8} {'known%':>6} {'band%':>6} {'method':12} {'wall ms':>9} "
        f"{'cpu ms':>9} {'x direct':>9} {'max err':>9} {'bound':>9} {'its':>9}"
    )
    print(head)
    print("-" * len(head))
    summary: dict[str, list[float]] = {}
    for name in args.images:
        img = load_image(name, root).astype(np.float64)
        cases = [("grid", edge_masks(img, 16)), ("no grid", edge_masks(img, 0))]
        cm = codec_masks(img)
        if isinstance(cm, str):
            print(f"{name:9} codec masks skipped: {cm}")
        else:
            cases.append(("codec", cm))
        for label, (known, band) in cases:
            rows = run_case(known, band, img, args.repeat, not args.no_sor)
            t_ref = rows[-1][1]
            for method, t, c, err, bound, its in rows:
                summary.setdefault(method, []).append(t_ref / t)
                print(
                    f"{name:9} {label:8} {100 * known.mean():6.2f} {100 * band.mean():6.2f} "
                    f"{method:12} {1e3 * t:9.1f} {1e3 * c:9.1f} {t_ref / t:9.1f} "
                    f"{err:9.1e} {bound:9.1e} {its:>9}"
                )
    print()
    print("geometric mean speed-up over the direct solve (wall clock):")
    for method, ratios in summary.items():
        print(f"  {method:12} {np.exp(np.mean(np.log(ratios))):8.1f} x")


if __name__ == "__main__":
    main()
