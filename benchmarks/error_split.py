"""Where the error of a decoded file sits: the squared error split by region and by cause.

For each image, encoded at a budget (default 0.1 bpp, the default effort) and decoded, the
squared error is split into disjoint regions of the file's own geometry:

    stored    the source points (their error is the values' quantisation alone)
    edge      the coded edge pixels (not stored): the PDE gives them the Laplace mean of their
              neighbours, a mixture of the two sides
    band      the band beside the edges (not stored): 1-D diffusion along the edge
    near      other pixels within 2 of a coded edge pixel
    interior  the rest: the Laplace fill between edges and seeds

and, in colour, by channel (Y, Cb, Cr of the codec's own transform; the regions split the
RGB error).  Causes, measured:

    mixed     share of the edge pixels' error on anti-aliased ones (the original value lies
              more than a quarter of the local step inside the 3 x 3 range)
    missed    share of the error on pixels more than 2 from a coded edge where the original
              has a step (Sobel magnitude of luma >= 48, or, in colour, of a chroma channel
              >= 48 where luma's is below it: edges of equal brightness)
    edge+     dB gained if the edge pixels took their original values (an oracle: what
              coding them exactly could give, before its bytes)
    side+     dB gained if each edge pixel could take, instead of the PDE's mean of both
              sides, the largest or the smallest value of its 4-neighbours solved before the
              Laplace phase (known pixels, band pixels with a band 4-neighbour): a 3-way
              choice per edge pixel, made where it lowers the squared error by more than
              SIDE_MARGIN, the Laplace phase solved again with those pixels as data (grey
              only), and the choices' cost as a share of the file, estimated by adaptive
              binary decisions in the context of the choices of the edge pixels coded
              before (left, up-left, up, up-right)
    rate+     dB the same share of bytes buys today: the image encoded at a budget that much
              larger (side+ minus rate+ is what the choice would net, before the encoder
              fits its values to it)
    EDGE %    share of the file in the edge plane (EDGE chunk)

(The stored values are not the pixels' values but fitted to the decoded image (tonal
optimisation): putting the original pixel values in their place decodes worse, so their
quantisation has no oracle here; the "stored" region's share bounds it.)

    python benchmarks/error_split.py                         # grey synthetic and cartoon
    python benchmarks/error_split.py --colour                # colour synthetic and cartoon
    python benchmarks/error_split.py --bpp 0.05 shapes comic
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import corpus  # noqa: E402
import synthetic  # noqa: E402

from PIL_ipc import decode, encode, metrics  # noqa: E402
from PIL_ipc.format import colour, jbig, reader, sources, values  # noqa: E402
from PIL_ipc.solver import inpaint  # noqa: E402

GREY_SET = (*synthetic.NAMES, "svalbard", "comic", "abstract", "pikachu", "fry", "lisa")
COLOUR_SET = (*synthetic.PIECEWISE, "frymire", "serrano", "circles", "crosses")
REGIONS = ("stored", "edge", "band", "near", "interior")
#: Squared error (grey levels^2) a side choice must save at an edge pixel to be made.
SIDE_MARGIN = 100.0
#: Sobel magnitude (grey levels, the 1-2-1 kernel divided by 4) taken as an edge of the
#: original that the file may have missed.
STEP = 48.0
NEAR = 2


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    h, w = mask.shape
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] |= \
                mask[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _sobel(a: np.ndarray) -> np.ndarray:
    p = np.pad(a.astype(np.float64), 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:] - p[:-2, :-2] - 2 * p[1:-1, :-2]
          - p[2:, :-2]) / 4
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:] - p[:-2, :-2] - 2 * p[:-2, 1:-1]
          - p[:-2, 2:]) / 4
    return np.hypot(gx, gy)


def _mixed(luma: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Anti-aliased pixels among ``where``: value more than a quarter of the 3 x 3 range
    inside it."""
    p = np.pad(luma.astype(np.float64), 1, mode="edge")
    h, w = luma.shape
    stack = np.stack([p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)])
    lo, hi = stack.min(axis=0), stack.max(axis=0)
    step = hi - lo
    v = luma.astype(np.float64)
    inside = (v - lo > 0.25 * step) & (hi - v > 0.25 * step) & (step >= 16)
    return inside & where


def _side_oracle(image: np.ndarray, data: bytes, points: sources.SourcePoints,
                 known: np.ndarray, edges: np.ndarray, decoded: np.ndarray
                 ) -> tuple[float | None, float | None]:
    """(dB gained, cost as a share of the file) of the side choice (see side+ above)."""
    if image.ndim == 3:
        return None, None
    f = reader.parse(data)
    stored = np.zeros(known.size)
    stored[points.positions] = values.dequantise(
        values.decode(f.values_payload, points.predictors, f.header.levels,
                      coding=f.values_coding), f.header.levels)
    stored = stored.reshape(known.shape)
    band = points.band
    u0 = inpaint.solve(known, stored, band, tol=decode.DECODE_TOL)
    orig = image.astype(np.float64)
    h, w = known.shape
    pb = np.pad(band, 1)
    band_row = band & (pb[:-2, 1:-1] | pb[2:, 1:-1] | pb[1:-1, :-2] | pb[1:-1, 2:])
    solved_first = np.pad(known | band_row, 1)
    target = edges & ~known
    pu = np.pad(u0, 1, mode="edge")
    hi = np.full(known.shape, -np.inf)
    lo = np.full(known.shape, np.inf)
    for dy, dx in ((-1, 0), (0, -1), (0, 1), (1, 0)):
        ok = target & solved_first[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        cand = pu[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        hi[ok] = np.maximum(hi[ok], cand[ok])
        lo[ok] = np.minimum(lo[ok], cand[ok])
    has = np.isfinite(hi)
    keep = (u0 - orig) ** 2 - SIDE_MARGIN
    e_hi = np.where(has, (hi - orig) ** 2, np.inf)
    e_lo = np.where(has, (lo - orig) ** 2, np.inf)
    choice = np.zeros(known.shape, dtype=np.int8)
    choice[(e_hi < keep) & (e_hi <= e_lo)] = 1
    choice[(e_lo < keep) & (e_lo < e_hi)] = 2
    data_pixels = known | (choice > 0)
    given = stored.copy()
    given[choice == 1] = hi[choice == 1]
    given[choice == 2] = lo[choice == 2]
    u1 = inpaint.solve(data_pixels, given, band, tol=decode.DECODE_TOL)
    gain = metrics.psnr(image, inpaint.to_uint8(u1)) - metrics.psnr(image, decoded)
    counts: dict[tuple, list[float]] = {}

    def bits(context: tuple, b: int) -> float:
        c = counts.setdefault(context, [0.5, 0.5])
        p = c[b] / (c[0] + c[1])
        c[b] += 1
        return -np.log2(p)

    cost = 0.0
    for y, x in zip(*np.nonzero(target & has), strict=True):
        before = tuple(sorted({int(choice[y + a, x + b]) for a, b in
                               ((0, -1), (-1, -1), (-1, 0), (-1, 1))
                               if 0 <= y + a < h and 0 <= x + b < w and target[y + a, x + b]}))
        c = int(choice[y, x])
        cost += bits(("copy", *before), int(c > 0))
        if c:
            cost += bits(("which", *before), c - 1)
    return gain, cost / 8 / len(data)


def _psnr(se_sum: float, n: int) -> float:
    mse = se_sum / n
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def split(name: str, image: np.ndarray, bpp: float) -> dict:
    data = encode.encode(image, encode.EncodeOptions(bpp=bpp))
    f = reader.parse(data)
    h = f.header
    edges = jbig.decode(f.edge)
    seed = jbig.decode(f.seed) if f.seed else None
    points = sources.locate(edges, h.spacing, seed, h.lattice)
    known = points.known_mask()
    decoded = decode.decode(data).astype(np.float64)
    orig = image.astype(np.float64)
    colour_image = image.ndim == 3
    se = (decoded - orig) ** 2
    se_px = se.sum(axis=2) if colour_image else se
    n = image.size
    region = np.full(edges.shape, 4, dtype=np.int8)  # interior
    region[_dilate(edges, NEAR)] = 3
    region[points.band] = 2
    region[edges] = 1
    region[known] = 0
    total = se_px.sum()
    shares = {r: float(se_px[region == i].sum() / total) if total else 0.0
              for i, r in enumerate(REGIONS)}
    counts = {r: float((region == i).mean()) for i, r in enumerate(REGIONS)}
    if colour_image:
        ycc = colour.to_ycbcr(image)
        luma = ycc[0]
        d_ycc = colour.to_ycbcr(np.clip(np.rint(decoded), 0, 255).astype(np.uint8))
        channel_mse = [float(np.mean((d_ycc[c] - ycc[c]) ** 2)) for c in range(3)]
        step_luma = _sobel(luma)
        step_chroma = np.maximum(_sobel(ycc[1]), _sobel(ycc[2]))
        missed_mask = ((step_luma >= STEP) | (step_chroma >= STEP)) & (region == 4)
        equal_luma = (step_chroma >= STEP) & (step_luma < STEP) & (region == 4)
    else:
        luma = orig
        channel_mse = None
        missed_mask = (_sobel(orig) >= STEP) & (region == 4)
        equal_luma = None
    mixed = _mixed(luma, edges & ~known)
    edge_se = se_px[edges & ~known].sum()
    # oracle: edge pixels exact
    fixed = decoded.copy()
    fixed[edges & ~known] = orig[edges & ~known]
    edge_gain = _psnr(((fixed - orig) ** 2).sum(), n) - _psnr(total, n)
    side_gain, side_cost = _side_oracle(image, data, points, known, edges, decoded)
    rate_gain = None
    if side_cost is not None:  # the same bytes spent as today: a budget that much larger
        more = encode.encode(image, encode.EncodeOptions(bpp=bpp * (1 + side_cost)))
        rate_gain = metrics.psnr(image, decode.decode(more)) - _psnr(total, n)
    chunks = {c.type: c.length for c in reader.chunk_table(data)}
    return dict(
        name=name, bytes=len(data), psnr=_psnr(total, n), shares=shares, counts=counts,
        channel_mse=channel_mse,
        mixed=float(se_px[mixed].sum() / edge_se) if edge_se else 0.0,
        missed=float(se_px[missed_mask].sum() / total) if total else 0.0,
        equal_luma=None if equal_luma is None else
        float(se_px[equal_luma].sum() / total) if total else 0.0,
        edge_gain=edge_gain, side_gain=side_gain, side_cost=side_cost, rate_gain=rate_gain,
        edge_share=chunks.get("EDGE", 0) / len(data))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("images", nargs="*", help="synthetic names or corpus images "
                   "(default: the synthetic and cartoon sets)")
    p.add_argument("--bpp", type=float, default=0.1)
    p.add_argument("--colour", action="store_true", help="colour images (RGB)")
    corpus.add_corpus_argument(p)
    args = p.parse_args(argv)
    root = corpus.corpus_root(args.corpus)
    mode = "RGB" if args.colour else "L"
    names = args.images or list(COLOUR_SET if args.colour else GREY_SET)
    rows = []
    for name in names:
        if name in synthetic.PIECEWISE:
            image = synthetic.make(name, colour=args.colour)
        else:
            image = corpus.load_image(name, root, mode)
        rows.append(split(name, image, args.bpp))
    print(f"### Squared error by region, {mode} at {args.bpp} bpp (share of the error; "
          "share of the pixels in brackets)\n")
    head = ["image", "bytes", "PSNR", *REGIONS, "mixed", "missed"]
    if args.colour:
        head += ["equal luma", "MSE Y / Cb / Cr"]
    head += ["edge+ dB"]
    if not args.colour:
        head += ["side+ dB (cost %)", "rate+ dB"]
    head += ["EDGE %"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["name"], str(r["bytes"]), f"{r['psnr']:.2f}"]
        cells += [f"{100 * r['shares'][g]:.0f} % ({100 * r['counts'][g]:.1f})" for g in REGIONS]
        cells += [f"{100 * r['mixed']:.0f} %", f"{100 * r['missed']:.0f} %"]
        if args.colour:
            cells += [f"{100 * r['equal_luma']:.0f} %",
                      " / ".join(f"{m:.1f}" for m in r["channel_mse"])]
        cells += [f"+{r['edge_gain']:.2f}"]
        if not args.colour:
            cells += [f"+{r['side_gain']:.2f} ({100 * r['side_cost']:.0f})",
                      f"+{r['rate_gain']:.2f}"]
        cells += [f"{100 * r['edge_share']:.0f}"]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
