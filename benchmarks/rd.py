"""Rate-distortion benchmark: IPC against JPEG, JPEG 2000, WebP and AVIF at fixed bit budgets.

For every image and budget (bits per pixel), each codec contributes its best file at or under
floor(bpp * W * H / 8) bytes (the whole file counts). Peers are searched over their quality
setting; IPC uses its own rate control. Reported: achieved bpp, PSNR, SSIM, encode and decode
time of the final file, and IPC's PSNR/SSIM lead over each peer.

With --colour the images are read (or, synthetic ones, drawn) in RGB: PSNR is over all R, G, B
samples, SSIM the mean of the three channels' SSIM; JPEG is 4:2:0 with optimize=True, JPEG 2000
irreversible with its colour transform (mct=1), WebP method=6, AVIF its slowest speed.  The
cartoon set is then the colour cartoon-like images (frymire, serrano, circles, crosses); the
set "piecewise" (colour only) is the synthetic images in colour with two more, "hues" (regions
of one luma and different hues) and "aliased" (hard edges): synthetic.PIECEWISE.

    python benchmarks/rd.py [--set paper|cartoon|synthetic|piecewise|kodak|all]
        [--images NAME_OR_PATH ...]
        [--bpp 0.8 0.4 0.2] [--codecs ipc jpeg jpeg2000 webp avif] [--colour] [--csv F]
        [--plot F] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

import rd_codecs  # noqa: E402
import synthetic  # noqa: E402
from corpus import add_corpus_argument, corpus_root, find_image, image_files  # noqa: E402

CODECS = ("ipc", "jpeg", "jpeg2000", "webp", "avif")
PEERS = CODECS[1:]
SETS = {
    "paper": ("sipi", ("splash", "house", "airplane", "peppers"), ".tiff"),
    "cartoon": ("cartoon", ("svalbard", "comic", "abstract", "pikachu", "fry", "lisa"), ".pgm"),
}
#: Sets in colour, where they differ: the cartoon set's colour images.
COLOUR_SETS = {
    "cartoon": ("cartoon", ("frymire", "serrano", "circles", "crosses"), ".png"),
}
#: Image mode of a run (L, or RGB with --colour); set by main.
MODE = "L"
REPEAT_LIMIT_S = 1.0  # stop repeating a timing once this much time went into it


@dataclass
class Row:
    """One codec's result for one image at one budget."""

    image: str
    width: int
    height: int
    budget_bpp: float
    budget_bytes: int
    codec: str
    status: str  # ok | cannot reach | unreachable | over budget | error
    setting: str = ""
    bytes: int | None = None
    bpp: float | None = None
    psnr: float | None = None
    ssim: float | None = None
    enc_ms: float | None = None
    dec_ms: float | None = None  # Pillow open + load
    core_dec_ms: float | None = None  # IPC decoder module alone
    encodes: int | None = None  # files produced by the search (peers)
    ipc_dpsnr: float | None = None  # IPC minus this codec
    ipc_dssim: float | None = None
    note: str = ""

    @property
    def measured(self) -> bool:
        return self.psnr is not None


# ---------------------------------------------------------------------------------------------
# Images


def load_grey(path: Path) -> np.ndarray:
    """Read an image file as 8-bit grey, or RGB in a colour run (MODE)."""
    with Image.open(path) as im:
        return np.asarray(im.convert(MODE), dtype=np.uint8).copy()


def sets() -> dict[str, tuple[str, tuple[str, ...], str]]:
    """The named sets of this run (grey or colour)."""
    return {**SETS, **COLOUR_SETS} if MODE == "RGB" else SETS


def set_members(name: str, corpus: Path) -> list[str]:
    """Image names of a named set."""
    if name in sets():
        return list(sets()[name][1])
    if name == "synthetic":
        return list(synthetic.NAMES)
    if name == "piecewise":
        if MODE != "RGB":
            raise SystemExit("the piecewise-smooth set is in colour: give --colour")
        return list(synthetic.PIECEWISE)
    if name == "kodak":
        return [p.stem for p in image_files(corpus, ("kodak",)) if p.stem.startswith("kodim")]
    if name == "all":
        return [m for s in ("paper", "cartoon", "synthetic", "kodak")
                for m in set_members(s, corpus)]
    raise SystemExit(f"unknown set {name!r}")


def resolve_image(spec: str, corpus: Path) -> tuple[str, np.ndarray]:
    """A path, a synthetic name, or an image of the corpus (corpus.find_image; rd_sweep,
    large_search and ratecontrol_speed find the corpus through rd too)."""
    if spec in synthetic.PIECEWISE and not Path(spec).is_file():
        return spec, synthetic.make(spec, colour=MODE == "RGB")
    return Path(spec).stem, load_grey(find_image(spec, corpus))


# ---------------------------------------------------------------------------------------------
# Measurements


def psnr(ref: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for 8-bit images (inf when identical)."""
    mse = float(np.mean((ref.astype(np.float64) - test.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """Structural similarity (scikit-image, data range 255); of colour images the mean over
    the three channels."""
    from skimage.metrics import structural_similarity

    if ref.ndim == 3:
        return float(np.mean([structural_similarity(ref[..., c], test[..., c], data_range=255)
                              for c in range(ref.shape[2])]))
    return float(structural_similarity(ref, test, data_range=255))


def median_ms(first: float, again: Callable[[], float], reps: int) -> float:
    """Median in ms of `first` and up to reps - 1 more timings; slow operations (a second or
    more in total) are not repeated, their run-to-run spread being small against their cost."""
    samples = [first]
    while len(samples) < reps and sum(samples) < REPEAT_LIMIT_S:
        samples.append(again())
    return 1000.0 * statistics.median(samples)


def fill_quality(row: Row, original: np.ndarray, decoded: np.ndarray) -> None:
    """Size-derived and distortion metrics of a decoded file."""
    if decoded.shape != original.shape:
        raise ValueError(f"decoded shape {decoded.shape} != original {original.shape}")
    row.bpp = 8.0 * row.bytes / (original.shape[0] * original.shape[1])
    row.psnr = psnr(original, decoded)
    row.ssim = ssim(original, decoded)


def run_peer(codec: rd_codecs.PeerCodec, key: str, original: np.ndarray, row: Row,
             reps: int) -> None:
    """Search the peer's setting for the budget, then measure the chosen file."""
    image = Image.fromarray(original, MODE)
    before = sum(1 for k, _ in codec.cache if k == key)
    value = codec.best(key, image, row.budget_bytes)
    row.encodes = sum(1 for k, _ in codec.cache if k == key) - before
    if value is None:
        row.status = "cannot reach"
        lowest = codec.encode(key, image, codec.lowest(image.size))
        row.note = f"lowest setting gives {len(lowest.data)} B"
        return
    chosen = codec.encode(key, image, value)
    row.setting = codec.label(value)
    row.bytes = len(chosen.data)
    row.enc_ms = median_ms(chosen.seconds, lambda: codec.retime(image, value), reps)
    decoded, first = rd_codecs.pillow_decode(chosen.data, MODE)
    row.dec_ms = median_ms(first, lambda: rd_codecs.pillow_decode(chosen.data, MODE)[1], reps)
    fill_quality(row, original, decoded)
    row.status = "ok"


def run_ipc(ipc: rd_codecs.IpcCodec, original: np.ndarray, row: Row, reps: int) -> None:
    """Encode with IPC's rate control at the budget, decode both ways, measure."""
    from PIL_ipc.encode.search import BudgetTooSmall  # ipc is importable once IpcCodec exists

    try:
        first = ipc.encode(original, row.budget_bpp)
    except BudgetTooSmall as exc:  # other ValueErrors are faults
        row.status, row.note = "unreachable", str(exc)
        return
    data = first.data
    row.enc_ms = median_ms(first.seconds, lambda: ipc.encode(original, row.budget_bpp).seconds,
                           reps)
    decoded, core_first = ipc.decode(data)
    row.core_dec_ms = median_ms(core_first, lambda: ipc.decode(data)[1], reps)
    via_plugin, plugin_first = rd_codecs.pillow_decode(data, MODE)
    row.dec_ms = median_ms(plugin_first, lambda: rd_codecs.pillow_decode(data, MODE)[1], reps)
    row.bytes = len(data)
    with Image.open(BytesIO(data)) as im:  # the encoder records its chosen edge threshold
        threshold = im.info.get("threshold")
    row.setting = f"t={threshold}" if threshold else ""
    fill_quality(row, original, decoded)
    row.status = "ok"
    notes = []
    if row.bytes > row.budget_bytes:
        row.status = "over budget"
        notes.append(f"{row.bytes - row.budget_bytes} B over")
    if not np.array_equal(via_plugin, decoded):
        notes.append("plugin decode differs from decode.decode")
    row.note = "; ".join(notes)


def ipc_warmup(ipc: rd_codecs.IpcCodec) -> str:
    """Compile the JIT kernels on a small image, and say how long it took."""
    pixels = synthetic.make("mixed", size=64, colour=MODE == "RGB")
    start = time.perf_counter()
    try:
        data = ipc.encode(pixels, 1.0).data
        mid = time.perf_counter()
        ipc.decode(data)
        rd_codecs.pillow_decode(data, MODE)
    except ValueError as exc:
        return f"ipc JIT warm-up failed on a 64x64 image: {exc}"
    end = time.perf_counter()
    return (f"ipc JIT warm-up (first encode + decode, 64x64): encode {mid - start:.2f} s, "
            f"decode {end - mid:.2f} s")


def compare(rows: list[Row]) -> None:
    """Fill IPC's PSNR/SSIM lead over each peer within one image and budget."""
    ipc = next((r for r in rows if r.codec == "ipc" and r.measured), None)
    if ipc is None:
        return
    for row in rows:
        if row.codec != "ipc" and row.measured:
            row.ipc_dpsnr = ipc.psnr - row.psnr
            row.ipc_dssim = ipc.ssim - row.ssim


# ---------------------------------------------------------------------------------------------
# Output


def fmt(value: float | None, spec: str, signed: bool = False) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return ("+inf" if signed else "inf") if value > 0 else "-inf"
    return format(value, ("+" if signed else "") + spec)


def print_block(rows: list[Row]) -> None:
    """Table of one image at one budget."""
    head = rows[0]
    print(f"\n{head.image} {head.width}x{head.height} at {head.budget_bpp:g} bpp "
          f"(budget {head.budget_bytes} B)")
    print(f"  {'codec':<9}{'setting':<13}{'bytes':>7}{'bpp':>8}{'PSNR':>8}{'SSIM':>8}"
          f"{'enc ms':>9}{'dec ms':>8}{'core ms':>8}{'ipc dPSNR':>10}{'ipc dSSIM':>10}  note")
    for r in rows:
        setting = r.setting or ("-" if r.status == "ok" or r.codec == "ipc" else r.status)
        if r.codec == "ipc" and r.status != "ok":
            setting = r.status
        print(f"  {r.codec:<9}{setting:<13}{fmt(r.bytes, 'd'):>7}{fmt(r.bpp, '.4f'):>8}"
              f"{fmt(r.psnr, '.2f'):>8}{fmt(r.ssim, '.4f'):>8}{fmt(r.enc_ms, '.1f'):>9}"
              f"{fmt(r.dec_ms, '.1f'):>8}{fmt(r.core_dec_ms, '.1f'):>8}"
              f"{fmt(r.ipc_dpsnr, '.2f', True):>10}{fmt(r.ipc_dssim, '.4f', True):>10}"
              f"  {r.note}")


def print_summary(rows: list[Row], budgets: list[float], peers: list[str]) -> None:
    """Per budget and peer: on how many images IPC has the higher PSNR and SSIM."""
    if not any(r.codec == "ipc" for r in rows) or not peers:
        return
    print("\nSummary: images where ipc beats each peer (PSNR / SSIM), out of images where both "
          "have a file within budget; '+k' = budgets only ipc reached")
    print(f"  {'bpp':>6}" + "".join(f"{p:>22}" for p in peers))
    for bpp in budgets:
        cells = []
        for peer in peers:
            both = [r for r in rows if r.codec == peer and r.budget_bpp == bpp
                    and r.ipc_dpsnr is not None]
            wins_p = sum(r.ipc_dpsnr > 0 for r in both)
            wins_s = sum(r.ipc_dssim > 0 for r in both)
            only_ipc = sum(
                1 for r in rows if r.codec == peer and r.budget_bpp == bpp
                and r.status == "cannot reach" and any(
                    q.codec == "ipc" and q.image == r.image and q.budget_bpp == bpp
                    and q.status == "ok" for q in rows))
            extra = f" +{only_ipc}" if only_ipc else ""
            cells.append(f"{wins_p}/{len(both)} / {wins_s}/{len(both)}{extra}")
        print(f"  {bpp:>6g}" + "".join(f"{c:>22}" for c in cells))


def write_csv(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(Row.__dataclass_fields__)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in asdict(r).items()})


def write_plot(rows: list[Row], images: list[str], codecs: list[str], budgets: list[float],
               path: Path) -> None:
    """PSNR against achieved bpp, one subplot per image, one line per codec, log-x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    cols = min(3, math.ceil(math.sqrt(len(images))))
    nrows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 4 * nrows), squeeze=False)
    for ax, image in zip(axes.flat, images, strict=False):
        for codec in codecs:
            pts = sorted((r.bpp, r.psnr) for r in rows
                         if r.image == image and r.codec == codec and r.measured
                         and math.isfinite(r.psnr))
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=codec)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(budgets))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{b:g}" for b in budgets])
        ax.set_title(image)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes.flat[len(images):]:
        ax.set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", nargs="+", metavar="NAME_OR_PATH",
                   help="images by path, synthetic name or corpus name (overrides --set)")
    p.add_argument("--set", default="paper",
                   choices=("paper", "cartoon", "synthetic", "piecewise", "kodak", "all"))
    p.add_argument("--bpp", nargs="+", type=float, default=[0.8, 0.4, 0.2, 0.1, 0.05])
    p.add_argument("--codecs", nargs="+", choices=CODECS, default=list(CODECS))
    p.add_argument("--colour", action="store_true",
                   help="colour images (RGB), measured over all R, G, B samples")
    p.add_argument("--csv", type=Path, help="write the rows here (default: benchmarks/out/"
                   "rd.csv, rd-colour.csv with --colour)")
    p.add_argument("--plot", type=Path, help="write a PSNR-vs-bpp PNG here")
    add_corpus_argument(p)
    p.add_argument("--quick", action="store_true",
                   help="time each final file once instead of taking the median of 3")
    args = p.parse_args(argv)
    if any(not (0 < b <= 64) for b in args.bpp):
        p.error("--bpp values must be in (0, 64]")
    return args


def main(argv: list[str] | None = None) -> int:
    global MODE
    args = parse_args(argv)
    MODE = "RGB" if args.colour else "L"
    if args.csv is None:
        args.csv = HERE / "out" / ("rd-colour.csv" if args.colour else "rd.csv")
    corpus = corpus_root(args.corpus)
    reps = 1 if args.quick else 3
    names = args.images or set_members(args.set, corpus)
    images = [resolve_image(n, corpus) for n in names]
    budgets = sorted(set(args.bpp), reverse=True)

    peers = rd_codecs.peer_codecs(colour=args.colour)
    codecs = []
    for name in dict.fromkeys(args.codecs):
        if name != "ipc" and not peers[name].available():
            print(f"note: {name} skipped: this Pillow build has no {peers[name].pil_format}")
            continue
        codecs.append(name)
    ipc = None
    if "ipc" in codecs:
        try:
            ipc = rd_codecs.IpcCodec()
        except ImportError as exc:
            print(f"note: ipc skipped: {exc}")
            codecs.remove("ipc")
    print(f"images ({MODE}): {', '.join(n for n, _ in images)}; budgets (bpp): "
          f"{', '.join(f'{b:g}' for b in budgets)}; codecs: {', '.join(codecs)}; "
          f"timing: median of {reps}")
    if ipc is not None:
        print(f"ipc plugin: {ipc.plugin_path}")
        print(ipc_warmup(ipc))

    rows: list[Row] = []
    start = time.perf_counter()
    for name, pixels in images:
        height, width = pixels.shape[:2]
        for bpp in budgets:
            block = []
            for codec in codecs:
                row = Row(name, width, height, bpp, math.floor(bpp * width * height / 8), codec,
                          "error")
                try:
                    if codec == "ipc":
                        run_ipc(ipc, pixels, row, reps)
                    else:
                        run_peer(peers[codec], name, pixels, row, reps)
                except Exception as exc:  # a failing codec must not hide the others' rows
                    row.status, row.note = "error", f"{type(exc).__name__}: {exc}"
                block.append(row)
            compare(block)
            print_block(block)
            rows.extend(block)
            sys.stdout.flush()

    print_summary(rows, budgets, [c for c in codecs if c != "ipc"])
    write_csv(rows, args.csv)
    print(f"\nCSV: {args.csv}")
    if args.plot:
        write_plot(rows, [n for n, _ in images], codecs, budgets, args.plot)
        print(f"plot: {args.plot}")
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
