"""The README's rate-distortion tables, from the CSV files that ``rd.py`` writes.

    python benchmarks/rd_table.py benchmarks/out/rd.csv [more.csv ...] [--bpp 0.1 0.05]
                                  [--images splash house ...] [--means]

Prints one Markdown table: a row per image and budget (in the order the CSV files list them),
IPC's bits per pixel and PSNR / SSIM, then each peer's PSNR / SSIM ("-": the codec cannot get
that small; "inf": a lossless file).  ``--means`` adds, per budget, each codec's mean PSNR and
SSIM over the images it reaches, and IPC's over the images JPEG reaches (the comparison the
colour targets are stated in).  Speed is not in these tables: see speed.py and
ratecontrol_speed.py, which time against peers in one run.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

PEERS = ("jpeg", "jpeg2000", "webp", "avif")
TITLES = {"jpeg": "JPEG", "jpeg2000": "JPEG 2000", "webp": "WebP", "avif": "AVIF"}


def read_rows(paths: list[Path]) -> list[dict]:
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


def number(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


def quality(row: dict | None) -> str:
    """PSNR / SSIM of a measured row, else "-"."""
    if row is None or number(row["psnr"]) is None:
        return "-"
    psnr = number(row["psnr"])
    shown = "inf" if math.isinf(psnr) else f"{psnr:.2f}"
    return f"{shown} / {number(row['ssim']):.3f}"


def table(rows: list[dict], budgets: list[float] | None, images: list[str] | None) -> str:
    cells: dict[tuple[str, float], dict[str, dict]] = {}
    for r in rows:
        key = (r["image"], float(r["budget_bpp"]))
        if images and r["image"] not in images:
            continue
        if budgets and not any(math.isclose(key[1], b) for b in budgets):
            continue
        cells.setdefault(key, {})[r["codec"]] = r
    peers = [p for p in PEERS if any(p in c for c in cells.values())]
    head = ["image", "budget bpp", "ipc bpp", "ipc PSNR / SSIM", *(TITLES[p] for p in peers)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (image, bpp), by_codec in cells.items():
        ipc = by_codec.get("ipc")
        ipc_bpp = number(ipc["bpp"]) if ipc else None
        line = [image, f"{bpp:g}", "-" if ipc_bpp is None else f"{ipc_bpp:.3f}", quality(ipc),
                *(quality(by_codec.get(p)) for p in peers)]
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines)


def means(rows: list[dict], budgets: list[float] | None) -> str:
    """Per budget: each codec's mean over the images it reaches; IPC over JPEG's."""
    out = []
    all_budgets = sorted({float(r["budget_bpp"]) for r in rows}, reverse=True)
    for bpp in budgets or all_budgets:
        at = [r for r in rows if math.isclose(float(r["budget_bpp"]), bpp)]
        images = sorted({r["image"] for r in at})
        reached: dict[str, dict[str, dict]] = {}
        for r in at:
            if number(r["psnr"]) is not None:
                reached.setdefault(r["codec"], {})[r["image"]] = r
        in_run = {r["codec"] for r in at}
        for codec in (c for c in ("ipc", *PEERS) if c in in_run):
            got = reached.get(codec, {})
            means_of = f", {summary(got.values())}" if got else ""
            out.append(f"- {bpp:g} bpp, {TITLES.get(codec, 'IPC')}: reached {len(got)} of "
                       f"{len(images)}{means_of}")
        both = [r for i, r in reached.get("ipc", {}).items() if i in reached.get("jpeg", {})]
        if both:
            out.append(f"- {bpp:g} bpp, IPC over the {len(both)} images JPEG reaches: "
                       f"{summary(both)}")
    return "\n".join(out)


def summary(rows) -> str:
    """Mean PSNR and SSIM of measured rows (lossless files left out of the PSNR)."""
    rows = list(rows)
    psnr = [number(r["psnr"]) for r in rows]
    ssim = [number(r["ssim"]) for r in rows]
    finite = [p for p in psnr if not math.isinf(p)]
    note = "" if len(finite) == len(psnr) else f" ({len(psnr) - len(finite)} lossless left out)"
    mean_psnr = sum(finite) / len(finite) if finite else math.inf
    return (f"mean PSNR {mean_psnr:.2f} dB{note}, mean SSIM "
            f"{sum(ssim) / len(ssim):.4f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("csv", nargs="+", type=Path)
    p.add_argument("--bpp", nargs="+", type=float)
    p.add_argument("--images", nargs="+")
    p.add_argument("--means", action="store_true")
    args = p.parse_args(argv)
    rows = read_rows(args.csv)
    print(table(rows, args.bpp, args.images))
    if args.means:
        print()
        print(means(rows, args.bpp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
