"""Decode speed of IPC against JPEG 2000 (Pillow/OpenJPEG) on files of the same size.

    python benchmarks/decode_speed.py [--sections speed scale reduce threads]
        [--images peppers splash airplane] [--repeat 9] [--sizes 256 512 1024 2048 4096]
        [--threshold 24] [--cache DIR] [--corpus DIR]

Every time is a median over --repeat runs after a warm-up, the codecs (or the variants
compared) taking turns run by run, so that a passing load on a shared machine hits both
alike; each table gives wall-clock time and the process's CPU time (time.process_time,
all threads), and the ratios of the two within the same run.

speed    512 x 512 SIPI pictures, grey and RGB, at 0.2 bpp (``im.save(f, bpp=0.2)``); the
         JPEG 2000 peer is written with ``quality_mode="rates", quality_layers=[ratio]``
         (``irreversible=True``, ``mct=1`` in colour), the ratio adjusted until the file is
         within 2 % of the IPC file's size.  Both are decoded by ``Image.open(...).load()``.
         Target: IPC at most 5x JPEG 2000 (aim: 2x).
scale    decode time per pixel of the same content at several sizes: the first image,
         grey, resized (bicubic) to N x N and encoded at the fixed threshold --threshold
         (no rate search).  Target: per-pixel time within 1.3x over the sizes.
reduce   full load against ``reduce(4)``, ``draft("L" or "RGB", (W/4, H/4))`` + load, and
         ``thumbnail((W/4, H/4))`` of the 512 x 512 files of "speed".  Target: each at least
         4x faster than the full load.
threads  4 decodes (``decode.decode``) one after another against the same 4 in a pool of 2
         threads (each thread keeps its own solver memory, as a server's pool would).
         Target: the pool at least 1.6x faster.

Encoded files are cached in --cache (default benchmarks/out/decode_speed), keyed by the
source, size and settings: delete the folder after changing the encoder.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import PIL_ipc.IpcImagePlugin  # noqa: E402,F401  (registers the format)
from PIL_ipc import decode  # noqa: E402

CORPUS = Path(os.environ.get("IPC_CORPUS", HERE.parent.parent / "shared" / "corpus-src"))
IMAGES = {"peppers": "sipi/peppers.tiff", "splash": "sipi/splash.tiff",
          "airplane": "sipi/airplane.tiff", "house": "sipi/house.tiff"}
SIDE = 512
BPP = 0.2


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def timed(fn, *args) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    w, c = clock()
    fn(*args)
    w2, c2 = clock()
    return w2 - w, c2 - c


def alternate(fns: list, repeat: int) -> list[tuple[float, float]]:
    """Median (wall, CPU) of each function, the functions taking turns; one warm-up each."""
    for fn in fns:
        fn()
    runs: list[list[tuple[float, float]]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            runs[i].append(timed(fn))
    return [(statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
            for r in runs]


def source(corpus: Path, name: str, mode: str, side: int = SIDE) -> Image.Image:
    im = Image.open(corpus / IMAGES[name]).convert(mode)
    if im.size != (side, side):
        im = im.resize((side, side), Image.BICUBIC)
    return im


def cached(cache: Path, key: str, make) -> bytes:
    path = cache / key
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        data = make()
        path.write_bytes(data)
    return path.read_bytes()


def save_bytes(im: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


def jpeg2000_like(im: Image.Image, size: int) -> bytes:
    """A JPEG 2000 file of about ``size`` bytes (within 2 %: rate steps permitting)."""
    raw = im.width * im.height * len(im.getbands())
    ratio = raw / size
    options = {"quality_mode": "rates", "irreversible": True}
    if im.mode == "RGB":
        options["mct"] = 1
    best = None
    for _ in range(12):
        data = save_bytes(im, "JPEG2000", quality_layers=[ratio], **options)
        if best is None or abs(len(data) - size) < abs(len(best) - size):
            best = data
        if abs(len(data) - size) <= 0.02 * size:
            break
        ratio *= len(data) / size
    return best


def load(data: bytes) -> None:
    Image.open(io.BytesIO(data)).load()


def pair(cache: Path, corpus: Path, name: str, mode: str) -> tuple[bytes, bytes]:
    ipc = cached(cache, f"{name}-{mode}-{SIDE}-bpp{BPP}.ipc",
                 lambda: save_bytes(source(corpus, name, mode), "IPC", bpp=BPP))
    j2k = cached(cache, f"{name}-{mode}-{SIDE}-bpp{BPP}-{len(ipc)}.jp2",
                 lambda: jpeg2000_like(source(corpus, name, mode), len(ipc)))
    return ipc, j2k


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


def ms(s: float) -> str:
    return f"{1e3 * s:.2f}"


def section_speed(args) -> None:
    rows = []
    for name in args.images:
        for mode in ("L", "RGB"):
            ipc, j2k = pair(args.cache, args.corpus, name, mode)
            (iw, ic), (jw, jc) = alternate([lambda ipc=ipc: load(ipc), lambda j2k=j2k: load(j2k)],
                                           args.repeat)
            rows.append([name, mode, str(len(ipc)), str(len(j2k)), ms(iw), ms(jw),
                         f"{iw / jw:.2f}", ms(ic), ms(jc), f"{ic / jc:.2f}"])
    table(f"speed: {SIDE} x {SIDE} decode at {BPP} bpp, Image.open().load(), median of "
          f"{args.repeat} (target: ratio <= 5, aim 2)",
          ["image", "mode", "ipc B", "j2k B", "ipc ms", "j2k ms", "ratio", "ipc cpu",
           "j2k cpu", "cpu ratio"], rows)


def section_scale(args) -> None:
    name = args.images[0]
    rows = []
    per_pixel = []
    for side in args.sizes:
        key = f"{name}-L-{side}-t{args.threshold}.ipc"
        t0 = time.perf_counter()
        data = cached(args.cache, key, lambda side=side: save_bytes(
            source(args.corpus, name, "L", side), "IPC", threshold=args.threshold))
        made = time.perf_counter() - t0
        repeat = max(3, min(args.repeat, int(args.repeat * (512 / side) ** 2) + 1))
        (w, c), = alternate([lambda data=data: decode.decode(data)], repeat)
        per_pixel.append(w / side ** 2)
        rows.append([f"{side}", str(len(data)), str(repeat), ms(w), ms(c),
                     f"{1e9 * w / side ** 2:.1f}", f"{1e9 * c / side ** 2:.1f}",
                     f"{made:.0f}" if made > 0.5 else "cached"])
        sys.stdout.flush()
    lo = min(per_pixel)
    for r, p in zip(rows, per_pixel, strict=True):
        r.append(f"{p / lo:.2f}")
    table(f"scale: {name} grey resized to N x N, threshold {args.threshold}, decode.decode "
          "(target: ns/pixel within 1.3x)",
          ["N", "bytes", "runs", "ms", "cpu ms", "ns/px", "cpu ns/px", "encode s", "x best"],
          rows)


def section_reduce(args) -> None:
    rows = []
    for name in args.images:
        for mode in ("L", "RGB"):
            ipc, _ = pair(args.cache, args.corpus, name, mode)
            quarter = (SIDE // 4, SIDE // 4)

            def draft(ipc=ipc, mode=mode, quarter=quarter) -> None:
                im = Image.open(io.BytesIO(ipc))
                im.draft(mode, quarter)
                im.load()

            def thumb(ipc=ipc, quarter=quarter) -> None:
                Image.open(io.BytesIO(ipc)).thumbnail(quarter)

            def reduce4(ipc=ipc) -> None:
                Image.open(io.BytesIO(ipc)).reduce(4)

            fns = [lambda ipc=ipc: load(ipc), reduce4, draft, thumb]
            (fw, fc), *others = alternate(fns, args.repeat)
            row = [name, mode, ms(fw)]
            for w, c in others:
                row += [ms(w), f"{fw / w:.2f}", f"{fc / c:.2f}"]
            rows.append(row)
    table(f"reduce: full load against reduced decodes to 1/4 ({SIDE} x {SIDE}), median of "
          f"{args.repeat} (target: speed-up >= 4)",
          ["image", "mode", "full ms", "reduce ms", "x", "cpu x", "draft ms", "x", "cpu x",
           "thumb ms", "x", "cpu x"], rows)


def section_threads(args) -> None:
    rows = []
    pool = ThreadPoolExecutor(2)
    for name in args.images:
        for mode in ("L", "RGB"):
            ipc, _ = pair(args.cache, args.corpus, name, mode)
            four = [ipc] * 4

            def serial(four=four) -> None:
                for d in four:
                    decode.decode(d)

            def threaded(four=four) -> None:
                list(pool.map(decode.decode, four))

            # warm each pool thread (its solver memory) before timing
            list(pool.map(decode.decode, four))
            (sw, sc), (tw, tc) = alternate([serial, threaded], args.repeat)
            rows.append([name, mode, ms(sw), ms(tw), f"{sw / tw:.2f}", ms(sc), ms(tc)])
    pool.shutdown()
    table(f"threads: 4 decodes one after another against a pool of 2 threads, median of "
          f"{args.repeat} (target: speed-up >= 1.6)",
          ["image", "mode", "serial ms", "2 threads ms", "speed-up", "serial cpu",
           "threads cpu"], rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sections", nargs="+", default=["speed", "scale", "reduce", "threads"],
                   choices=["speed", "scale", "reduce", "threads"])
    p.add_argument("--images", nargs="+", default=["peppers", "splash", "airplane"],
                   choices=sorted(IMAGES))
    p.add_argument("--repeat", type=int, default=9)
    p.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024, 2048, 4096])
    p.add_argument("--threshold", type=float, default=24.0)
    p.add_argument("--cache", type=Path, default=HERE / "out" / "decode_speed")
    p.add_argument("--corpus", type=Path, default=CORPUS)
    args = p.parse_args(argv)
    print(f"PIL_ipc from {Path(decode.__file__).parent}; {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.2f}")
    for s in args.sections:
        globals()[f"section_{s}"](args)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
