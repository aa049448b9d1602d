"""Speed and memory of PIL_ipc against Pillow's JPEG 2000, WebP and AVIF, measured in one run.

    python benchmarks/speed.py [--sizes 256 512 1024 2048 4096] [--repeat 7] [--quick]
                               [--images peppers boat ...] [--no-first-use] [--corpus DIR]

Every time is a median over repeats, and every ratio is taken against a peer measured in the
same run, interleaved with ours (ratios of medians of per-repeat ratios), because the machine
may be shared: absolute times move with the load, ratios much less.  Peak memory is the peak
resident set of a fresh process that decodes (or encodes) one file, the interpreter and
imports included (VmHWM; the bare interpreter with numpy and Pillow imported is printed as
baseline).

Tables:
  0. a camera-size photo (4000 x 3000 RGB: Kodak's parrots resized with Lanczos, Gaussian noise
     of sigma 1.5 added, as a sensor's): ``im.save`` with no options and with ``bpp=0.2``,
     seconds and peak memory; the decoded PSNR of the bpp=0.2 file against JPEG 2000's and
     AVIF's at the same size; the decode of that file against theirs; and ``im.save`` with no
     options at 768 x 512 (Kodak), 512 x 512 RGB and 256 x 256 RGBA;
  1. decode at 512 x 512, 0.2 bpp (grey photos; one colour photo): the peers' files have the
     same size as ours (JPEG 2000: OpenJPEG's rate; WebP: highest quality that fits);
  2. scale: one photo resized to each size, encoded at a fixed threshold: decode time per
     pixel, against JPEG 2000 (same file size), peak memory of both; encode time and peak
     against JPEG 2000 and AVIF (default settings);
  3. encode under a budget (0.2 bpp, effort 0) at the largest size;
  4. reduced decoding (draft / reduce / thumbnail): time against the full decode and the PSNR
     between it and the full decode reduced by Pillow (box filter, same size);
  5. threads: 4 decodes on 2 threads against one after another;
  6. start: fresh processes importing the plugin, opening a file (header only), running
     ``ipc --version``, opening and loading a 512 x 512 file (kernels cached), wall and CPU
     seconds against one doing the same with JPEG 2000 (same file size); the kernels that
     decode loads; first use with an empty kernel cache (the README's encode and decode on
     the command line).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import rd_codecs  # noqa: E402
from corpus import add_corpus_argument, corpus_root, find_image  # noqa: E402

import PIL_ipc  # noqa: E402, F401  (registers the plugin)

COLOUR_IMAGE = "kodim23"
#: Table 0's photo: (width, height) and the sensor-like noise added
CAMERA_SIZE = (4000, 3000)
CAMERA_NOISE = 1.5
SCALE_IMAGE = "peppers"
BPP = 0.2
#: Table 2's files: the encoder at its fixed threshold (no search)
FIXED = {"threshold": 24.0}

# a fresh process that loads one file and prints its wall time and peak resident memory
PEAK = ("int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
        " / 1024")
LOAD_ONE = """
import sys, time
t = time.perf_counter()
from PIL import Image
{imports}
Image.MAX_IMAGE_PIXELS = None
im = Image.open(sys.argv[1])
im.load()
print(time.perf_counter() - t, {peak})
"""
BASELINE = f"""
import numpy
from PIL import Image
print(0, {PEAK})
"""
SAVE_ONE = """
import sys, time
from PIL import Image
{imports}
Image.MAX_IMAGE_PIXELS = None
im = Image.open(sys.argv[1])
im.load()
{warm}
t = time.perf_counter()
im.save(sys.argv[2], **{options})
print(time.perf_counter() - t, {peak})
"""


def env(cache: str | None = None) -> dict:
    e = dict(os.environ, PYTHONPATH=str(ROOT))
    if cache is not None:
        e["NUMBA_CACHE_DIR"] = cache
    return e


def fresh(code: str, *args: str, cache: str | None = None) -> tuple[float, float]:
    """(seconds, peak MiB) printed by ``code`` run in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", code, *args], env=env(cache),
                         capture_output=True, text=True, check=True)
    t, mib = out.stdout.split()[-2:]
    return float(t), float(mib)


def load_one(path: Path, ipc: bool) -> tuple[float, float]:
    return fresh(LOAD_ONE.format(imports="import PIL_ipc" if ipc else "", peak=PEAK), str(path))


def save_one(src: Path, dst: Path, options: dict, ipc: bool) -> tuple[float, float]:
    # our kernels load from the cache on their first call: that is start-up, not encoding
    # (a budget in bits per pixel can be below the smallest file of a 64 x 64 crop: a larger one)
    small = {k: v for k, v in options.items() if k not in ("bpp", "size")}
    if "bpp" in options or "size" in options:
        small["bpp"] = 2.0
    warm = f"import io; im.crop((0, 0, 64, 64)).save(io.BytesIO(), 'IPC', **{small!r})" \
        if ipc else ""
    return fresh(SAVE_ONE.format(imports="import PIL_ipc" if ipc else "", warm=warm,
                                 options=repr(options), peak=PEAK), str(src), str(dst))


def decode_time(data: bytes) -> float:
    t = time.perf_counter()
    with Image.open(io.BytesIO(data)) as im:
        im.load()
    return time.perf_counter() - t


def interleaved(ours: bytes, peers: dict[str, bytes], repeat: int
                ) -> tuple[float, dict[str, float], dict[str, float]]:
    """Median decode time of ours, of each peer, and median per-repeat ratio ours / peer."""
    decode_time(ours)
    for d in peers.values():
        decode_time(d)
    mine, theirs, ratios = [], {k: [] for k in peers}, {k: [] for k in peers}
    for _ in range(repeat):
        a = decode_time(ours)
        mine.append(a)
        for k, d in peers.items():
            b = decode_time(d)
            theirs[k].append(b)
            ratios[k].append(a / b)
    return (float(np.median(mine)), {k: float(np.median(v)) for k, v in theirs.items()},
            {k: float(np.median(v)) for k, v in ratios.items()})


def same_size_peer(name: str, codec: rd_codecs.PeerCodec, image: Image.Image,
                   budget: int) -> bytes:
    value = codec.best(name, image, budget)
    if value is None:
        value = codec.lowest(image.size)
    return codec.encode(name, image, value).data


def ipc_file(image: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "IPC", **options)
    return buf.getvalue()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(float) - b.astype(float)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    sys.stdout.flush()


def camera_photo(corpus: Path) -> Image.Image:
    """Table 0's photo: the colour image cropped to 4:3, resized, with noise (seed 1)."""
    im = Image.open(find_image(COLOUR_IMAGE, corpus)).convert("RGB")
    w, h = im.size
    cw = min(w, h * CAMERA_SIZE[0] // CAMERA_SIZE[1])
    im = im.crop(((w - cw) // 2, 0, (w + cw) // 2, h)).resize(CAMERA_SIZE, Image.LANCZOS)
    noise = np.random.default_rng(1).normal(0, CAMERA_NOISE, (*CAMERA_SIZE[::-1], 3))
    return Image.fromarray(np.clip(np.round(np.asarray(im) + noise), 0, 255).astype(np.uint8))


def camera(corpus: Path, work: Path, repeat: int) -> None:
    peers = rd_codecs.peer_codecs()
    photo = camera_photo(corpus)
    png = work / "camera.png"
    photo.save(png)
    n = photo.width * photo.height
    rows = []
    default_s, default_mib = save_one(png, work / "camera-default.ipc", {}, ipc=True)
    default_bytes = (work / "camera-default.ipc").stat().st_size
    rows.append(["`im.save()`, no options", f"{default_s:.1f}", f"{default_mib:.0f}",
                 f"{default_bytes} ({8 * default_bytes / n:.3f} bpp)", "-"])
    budget_s, budget_mib = save_one(png, work / "camera-bpp.ipc", {"bpp": BPP}, ipc=True)
    ours = (work / "camera-bpp.ipc").read_bytes()
    pixels = np.asarray(photo)
    quality = [f"{psnr(np.asarray(Image.open(io.BytesIO(ours)).convert('RGB')), pixels):.2f}"]
    others = {}
    for k in ("jpeg2000", "avif"):
        others[k] = same_size_peer("camera", peers[k], photo, len(ours))
        decoded = Image.open(io.BytesIO(others[k])).convert("RGB")
        quality.append(f"{psnr(np.asarray(decoded), pixels):.2f}")
    rows.append([f"`im.save(bpp={BPP})`", f"{budget_s:.1f}", f"{budget_mib:.0f}",
                 f"{len(ours)} / {len(others['jpeg2000'])} / {len(others['avif'])}",
                 " / ".join(quality)])
    table(f"0a. A {CAMERA_SIZE[0]} x {CAMERA_SIZE[1]} photo: save (fresh process after a "
          "warm-up; peak of the process)",
          ["what", "s", "peak MiB", "bytes (ipc / J2K / AVIF)", "PSNR ipc / J2K / AVIF"], rows)
    reps = max(1, repeat // 3)
    mine, theirs, ratio = interleaved(ours, others, reps)
    (work / "camera-bpp.jp2").write_bytes(others["jpeg2000"])
    _, our_mib = load_one(work / "camera-bpp.ipc", ipc=True)
    _, their_mib = load_one(work / "camera-bpp.jp2", ipc=False)
    table(f"0b. Decode of the {BPP} bpp photo (median of {reps}; J2K and AVIF files of the same "
          "size)", ["ipc s", "J2K s", "AVIF s", "ipc / J2K", "ipc / AVIF", "peak MiB ipc / J2K"],
          [[f"{mine:.2f}", f"{theirs['jpeg2000']:.2f}", f"{theirs['avif']:.2f}",
            f"**{ratio['jpeg2000']:.1f}x**", f"{ratio['avif']:.1f}x",
            f"{our_mib:.0f} / {their_mib:.0f}"]])
    rows = []
    kodak = Image.open(find_image(COLOUR_IMAGE, corpus)).convert("RGB")
    w, h = kodak.size
    rgba = kodak.crop(((w - 256) // 2, (h - 256) // 2, (w + 256) // 2, (h + 256) // 2))
    alpha = Image.linear_gradient("L").resize((256, 256))
    rgba.putalpha(alpha)
    for what, image in ((f"{w} x {h} RGB ({COLOUR_IMAGE})", kodak),
                        ("512 x 512 RGB", kodak.crop(((w - 512) // 2, 0, (w + 512) // 2, 512))),
                        ("256 x 256 RGBA", rgba)):
        path = work / "default.png"
        image.save(path)
        s, mib = save_one(path, work / "default.ipc", {}, ipc=True)
        size = (work / "default.ipc").stat().st_size
        rows.append([what, f"**{s:.2f}**", f"{mib:.0f}", f"{size}"])
    table("0c. `im.save()` with no options (the default quality; fresh process after a warm-up)",
          ["image", "s", "peak MiB", "bytes"], rows)


def decode_512(corpus: Path, names: list[str], repeat: int) -> dict[str, bytes]:
    peers = rd_codecs.peer_codecs()
    rows, files = [], {}
    sources = [(n, Image.open(find_image(n, corpus)).convert("L").resize((512, 512)))
               for n in names]
    colour = Image.open(find_image(COLOUR_IMAGE, corpus)).convert("RGB")
    w, h = colour.size
    sources.append(("kodim23 (RGB)", colour.crop(((w - 512) // 2, (h - 512) // 2,
                                                  (w + 512) // 2, (h + 512) // 2))))
    for name, image in sources:
        ours = ipc_file(image, bpp=BPP)
        files[name] = ours
        others = {k: same_size_peer(name, peers[k], image, len(ours))
                  for k in ("jpeg2000", "webp")}
        mine, theirs, ratio = interleaved(ours, others, repeat)
        rows.append([name, f"{len(ours)} / {len(others['jpeg2000'])} / {len(others['webp'])}",
                     f"{1e3 * mine:.1f}", f"{1e3 * theirs['jpeg2000']:.2f}",
                     f"{1e3 * theirs['webp']:.2f}", f"**{ratio['jpeg2000']:.1f}x**",
                     f"{ratio['webp']:.1f}x"])
    table(f"1. Decode, 512 x 512 at {BPP} bpp (median of {repeat})",
          ["image", "bytes ipc / J2K / WebP", "ipc ms", "J2K ms", "WebP ms",
           "ipc / J2K", "ipc / WebP"], rows)
    return files


def scale(corpus: Path, sizes: list[int], repeat: int, work: Path) -> Path | None:
    src = Image.open(find_image(SCALE_IMAGE, corpus)).convert("L")
    peers = rd_codecs.peer_codecs()
    base = fresh(BASELINE)[1]
    rows, enc_rows = [], []
    largest = None
    for n in sizes:
        image = src.resize((n, n), Image.LANCZOS)
        png = work / f"scale{n}.png"
        image.save(png)
        ipc_path = work / f"scale{n}.ipc"
        enc_s, enc_mib = save_one(png, ipc_path, FIXED, ipc=True)
        ours = ipc_path.read_bytes()
        j2k = same_size_peer(f"scale{n}", peers["jpeg2000"], image, len(ours))
        j2k_path = work / f"scale{n}.jp2"
        j2k_path.write_bytes(j2k)
        reps = max(1, min(repeat, int(repeat * 512 * 512 / (n * n))))
        mine, theirs, ratio = interleaved(ours, {"j2k": j2k}, reps)
        _, our_mib = load_one(ipc_path, ipc=True)
        _, their_mib = load_one(j2k_path, ipc=False)
        rows.append([f"{n} x {n}", f"{len(ours)}", f"{1e3 * mine:.0f}",
                     f"{1e9 * mine / (n * n):.0f}", f"{1e9 * theirs['j2k'] / (n * n):.1f}",
                     f"**{ratio['j2k']:.1f}x**", f"{our_mib:.0f} / {their_mib:.0f}", f"{reps}"])
        j2k_s, j2k_mib = save_one(png, work / f"scale{n}.enc.jp2",
                                  peers["jpeg2000"].options(len(ours), image.size), ipc=False)
        avif_s, avif_mib = save_one(png, work / f"scale{n}.avif", {}, ipc=False)
        enc_rows.append([f"{n} x {n}", f"{enc_s:.2f}", f"{1e9 * enc_s / (n * n):.0f}",
                         f"{enc_s / j2k_s:.1f}x", f"{enc_s / avif_s:.1f}x",
                         f"{enc_mib:.0f} / {j2k_mib:.0f} / {avif_mib:.0f}"])
        largest = png
    table("2a. Decode by size (same photo resized; fixed threshold; J2K at the same file "
          f"size; peak of a fresh process, {base:.0f} MiB of it the interpreter, numpy and "
          "Pillow)",
          ["size", "ipc bytes", "ipc ms", "ipc ns/pixel", "J2K ns/pixel", "ipc / J2K",
           "peak MiB ipc / J2K", "repeats"], rows)
    table("2b. Encode by size at a fixed threshold (one run each, in a fresh process after a "
          "warm-up; J2K at ipc's file size, AVIF at Pillow's defaults)",
          ["size", "ipc s", "ipc ns/pixel", "ipc / J2K", "ipc / AVIF",
           "peak MiB ipc / J2K / AVIF"], enc_rows)
    return largest


def budget_encode(png: Path, work: Path) -> None:
    n = Image.open(png).size[0]
    s, mib = save_one(png, work / "budget.ipc", {"bpp": BPP, "effort": 0}, ipc=True)
    j2k_s, j2k_mib = save_one(png, work / "budget.jp2",
                              rd_codecs.peer_codecs()["jpeg2000"].options(
                                  int(BPP * n * n / 8), (n, n)), ipc=False)
    avif_s, avif_mib = save_one(png, work / "budget.avif", {}, ipc=False)
    table(f"3. Encode under a budget ({BPP} bpp, effort 0; J2K at the budget, AVIF at "
          "Pillow's defaults)",
          ["size", "ipc s", "ipc / J2K", "ipc / AVIF", "peak MiB ipc / J2K / AVIF"],
          [[f"{n} x {n}", f"{s:.1f}", f"{s / j2k_s:.1f}x", f"{s / avif_s:.1f}x",
            f"{mib:.0f} / {j2k_mib:.0f} / {avif_mib:.0f}"]])


def reduced(files: dict[str, bytes], repeat: int) -> None:
    rows = []
    for name, data in files.items():
        full = Image.open(io.BytesIO(data))
        full.load()
        t_full = float(np.median([decode_time(data) for _ in range(repeat)]))
        for factor in (2, 4, 8):
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                small = Image.open(io.BytesIO(data)).reduce(factor)
                times.append(time.perf_counter() - t)
            t_red = float(np.median(times))
            ref = full.reduce(factor)
            rows.append([name, f"1/{factor}", f"{1e3 * t_red:.1f}",
                         f"{t_full / t_red:.1f}x",
                         f"{psnr(np.asarray(small), np.asarray(ref)):.1f}"])
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            im = Image.open(io.BytesIO(data))
            im.thumbnail((128, 128))
            times.append(time.perf_counter() - t)
        rows.append([name, "thumbnail(128)", f"{1e3 * np.median(times):.1f}",
                     f"{t_full / np.median(times):.1f}x", "-"])
    table("4. Reduced decoding (reduce(f) / thumbnail against a full decode)",
          ["image", "scale", "ms", "faster than full", "PSNR vs reduced full decode, dB"], rows)


def threads(files: dict[str, bytes], repeat: int) -> None:
    grey = [d for k, d in files.items() if "RGB" not in k]
    batch = (grey * 4)[:4]
    for d in batch:
        decode_time(d)
    ratios, seqs, pars = [], [], []
    for _ in range(repeat):
        t = time.perf_counter()
        for d in batch:
            decode_time(d)
        seq = time.perf_counter() - t
        t = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(decode_time, batch))
        par = time.perf_counter() - t
        seqs.append(seq)
        pars.append(par)
        ratios.append(seq / par)
    table("5. Threads: 4 decodes (512 x 512) on 2 threads",
          ["one after another ms", "2 threads ms", "speed-up (median of ratios)"],
          [[f"{1e3 * np.median(seqs):.0f}", f"{1e3 * np.median(pars):.0f}",
            f"**{np.median(ratios):.2f}x**"]])


# Fresh processes of table 6: (what, command after the interpreter, whether it is ours).
STARTS = [
    ("Python + Pillow", ["-c", "from PIL import Image"]),
    ("import PIL_ipc", ["-c", "from PIL import Image; import PIL_ipc"]),
    ("Image.open (header only)", ["-c", "import sys; from PIL import Image; import PIL_ipc; "
                                  "Image.open(sys.argv[1])", "{ipc}"]),
    ("ipc --version", ["-m", "PIL_ipc", "--version"]),
    ("open + load 512 x 512 (kernels cached)", ["-c", LOAD_ONE.format(imports="import PIL_ipc",
                                                                      peak="0, 0"), "{ipc}"]),
    ("JPEG 2000: open + load", ["-c", LOAD_ONE.format(imports="", peak="0, 0"), "{j2k}"]),
]
# which kernels a fresh process's decode loads from the cache, and the seconds of the loads
KERNELS_LOADED = """
import sys, time
from PIL import Image
import PIL_ipc
from numba.core import caching
seconds = [0.0, 0.0]
load = caching.Cache.load_overload
def timed(self, *args):
    t, c = time.perf_counter(), time.process_time()
    try:
        return load(self, *args)
    finally:
        seconds[0] += time.perf_counter() - t
        seconds[1] += time.process_time() - c
caching.Cache.load_overload = timed
Image.open(sys.argv[1]).load()
import gc
from numba.core.registry import CPUDispatcher
kernels = [k for k in gc.get_objects() if isinstance(k, CPUDispatcher)
           and k.py_func.__module__.startswith("PIL_ipc") and k.signatures]
print(len(kernels), sum(len(k.signatures) for k in kernels), *seconds)
"""


def cpu_timed(command: list[str], cache: str | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (children's user + system) of a command in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(command, env=env(cache), check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def start(files: dict[str, bytes], work: Path, repeat: int, first_use: bool) -> None:
    name = next(k for k in files if "RGB" not in k)
    ipc_path = work / "start.ipc"
    ipc_path.write_bytes(files[name])
    image = Image.open(io.BytesIO(files[name]))
    j2k_path = work / "start.jp2"
    # the peer's file has the same size as ours (OpenJPEG's rate)
    image.save(j2k_path, "JPEG2000", irreversible=True, quality_mode="rates",
               quality_layers=[image.width * image.height / len(files[name])])
    commands = [(what, [sys.executable] + [a.format(ipc=ipc_path, j2k=j2k_path) for a in argv])
                for what, argv in STARTS]
    for _, command in commands:  # the kernel cache is warm from here on
        cpu_timed(command)
    times = {what: ([], []) for what, _ in commands}
    for _ in range(repeat):  # interleaved: each round runs every command once
        for what, command in commands:
            wall, cpu = cpu_timed(command)
            times[what][0].append(wall)
            times[what][1].append(cpu)
    peer_wall, peer_cpu = times[commands[-1][0]]
    rows = []
    for what, (wall, cpu) in times.items():
        rows.append([what, f"{np.median(wall):.3f}", f"{np.median(cpu):.3f}",
                     f"{np.median(np.divide(wall, peer_wall)):.1f}x",
                     f"{np.median(np.divide(cpu, peer_cpu)):.1f}x"])
    if first_use:
        with tempfile.TemporaryDirectory() as cache:
            for what, cmd in (("encode", ["encode", str(ROOT / "examples" / "kodim23.png"),
                                          str(work / "first.ipc"), "--bpp", "0.2"]),
                              ("decode", ["decode", str(work / "first.ipc"),
                                          str(work / "first.png")])):
                wall, cpu = cpu_timed([sys.executable, "-m", "PIL_ipc", *cmd], cache)
                rows.append([f"first use, empty kernel cache: README's ipc {what}",
                             f"{wall:.1f}", f"{cpu:.1f}", "-", "-"])
    out = subprocess.run([sys.executable, "-c", KERNELS_LOADED, str(ipc_path)], env=env(),
                         capture_output=True, text=True, check=True).stdout.split()
    table(f"6. Start (fresh processes, median of {repeat}; ratios against JPEG 2000's open + "
          "load)", ["what", "wall s", "CPU s", "wall / J2K", "CPU / J2K"], rows)
    print(f"\nThe decode loads {out[0]} kernels ({out[1]} signatures) from numba's cache in "
          f"{float(out[2]):.3f} s ({float(out[3]):.3f} s CPU; the first load also sets up "
          "numba's compiler, most of it).")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    p.add_argument("--images", nargs="+", default=["peppers", "boat"])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="sizes up to 1024, 3 repeats")
    p.add_argument("--no-first-use", action="store_true")
    p.add_argument("--tables", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5, 6],
                   help="which tables to print (4-6 need table 1's files)")
    add_corpus_argument(p)
    args = p.parse_args(argv)
    args.corpus = corpus_root(args.corpus)
    if args.quick:
        args.sizes = [n for n in args.sizes if n <= 1024]
        args.repeat = 3
    print(f"PIL_ipc speed, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        want = set(args.tables)
        if 0 in want:
            camera(args.corpus, work, args.repeat)
        files = decode_512(args.corpus, args.images, args.repeat) if want & {1, 4, 5, 6} \
            else {}
        largest = scale(args.corpus, args.sizes, args.repeat, work) if want & {2, 3} else None
        if largest is not None and 3 in want:
            budget_encode(largest, work)
        if 4 in want:
            reduced(files, args.repeat)
        if 5 in want:
            threads(files, args.repeat)
        if 6 in want:
            start(files, work, args.repeat, not args.no_first_use)
    print(f"\nload average {' '.join(f'{v:.1f}' for v in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
