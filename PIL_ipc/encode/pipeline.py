"""Encoder: grey image + options -> complete .ipc file (the paper's Fig. 6, left half).

denoise (Perona-Malik) -> Sobel edges (threshold, thinning) -> edge plane coded with T.82
-> source points located from the edge plane -> their values quantised and arithmetic coded
-> container.  With ``bpp`` or ``size`` the encoder searches the layout (threshold, spacing,
levels, seed lattice; :mod:`PIL_ipc.encode.ratecontrol`) for the best decoded file within the budget;
with ``quality`` or ``psnr`` (and by default) for the smallest file that meets a decoded PSNR.
From 2 Mpixel on (:mod:`PIL_ipc.encode.tiles`) the tonal fit runs on overlapping tiles on every core,
and a budget's layout is searched on the image reduced to 1 Mpixel, then fitted at full size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from .. import __version__, _kernel_cache
from ..format import alpha, colour, container
from . import analysis, ratecontrol, tiles
from ..solver import inpaint


@dataclass(frozen=True)
class EncodeOptions:
    """Encoder settings; every field is also a keyword of ``Image.save(..., format="IPC")``.

    At most one of ``quality``, ``psnr``, ``bpp``, ``size`` and ``threshold`` chooses the
    file's size; giving two is a ValueError.  Without any, ``quality=DEFAULT_QUALITY``.

    quality: 0..100, Pillow's knob: the target decoded PSNR ``psnr_for_quality(quality)``,
        20 dB at 0 up to 45 dB at 100, 0.25 dB a step (see ``psnr``).
    psnr: a target decoded PSNR in dB (> 0, at most 100): the smallest file (over a ladder of
        budgets 5 % apart) whose decoded PSNR is at least this; when the largest budget tried
        (about 9 bpp) does not reach it, that budget's file.
    threshold: the paper's knob without a search: smallest step height (grey levels) that
        becomes an edge; higher = fewer edges, smaller files.
    spacing: distance, in band pixels, between stored source points along an edge (1..255);
        None = 4, or searched under a budget.
    levels: number of quantisation levels of the stored values (2..256); None = 64, or
        searched under a budget.
    lattice: step of a regular lattice of seed points stored besides the edges (0 = none,
        1..65535); None = 0, or searched under a budget.
    edge_seeds: also store (as seed points) the edge pixels whose value differs by more than
        this many grey levels from the mean of their non-edge 4-neighbours: the decoder
        interpolates edge pixels, which misses sharp steps (>= 0; inf = none); None = inf, or
        searched under a budget.
    contrast: Perona-Malik contrast parameter K in grey levels (> 0).
    iterations: Perona-Malik explicit steps before edge detection (0 disables denoising; the
        paper uses 30); None = 30, or searched under a budget.
    thin: thin edges to one pixel by non-maximum suppression.
    hysteresis: keep weaker edge pixels, down to hysteresis * threshold, where they continue a
        strong edge (0 < hysteresis <= 1; 1 = plain threshold, the paper's rule); None = 0.5,
        or searched under a budget.
    min_length: drop edge chains (8-connected) shorter than this many pixels (0 = keep all);
        None = 10, or searched under a budget.
    tonal: iterations of tonal optimisation (least-squares stored values, see
        :mod:`PIL_ipc.encode.tonal`); 0 stores the pixel values themselves, as the paper does.
    bpp / size: budget in bits per pixel / in bytes for the whole file; the encoder searches
        the threshold and every layout field left at None for the best decoded file not over it.
        With ``quality`` or ``psnr`` the same search runs for each budget tried.  Informative
        text chunks are left out then: every byte goes to the image.
    chroma_levels: quantisation levels of the chroma values of a colour image (2..256); None
        = 32, or searched under a budget.
    chroma_stride: a chroma value is stored for every this many source points (1..255; see
        :mod:`PIL_ipc.format.colour`); None = 1, or searched under a budget.
    exact: keep the colour under fully transparent pixels (alpha 0).  By default it is
        dropped: replaced by a smooth fill from the visible pixels, which costs next to
        nothing to store, so that the decoded colour there is not the original one (as
        WebP's ``exact`` option).
    edge_source: where the edges of a colour image come from: "luma" (the gradient of Y) or
        "colour" (the largest rate of change of Y, Cb, Cr together); None = "colour", or
        searched under a budget (both are tried: the better decoded file wins).
    effort: how hard that search works (0..2): 0 scores a few starting layouts only, 1 (the
        default) also walks the layout fields from the best of them, 2 also walks the second
        family of layouts (with or without a seed lattice) and fits two finalists in full.
        At 512 x 512 on 2 cores they take 0.45-0.8, 1.6-2.8 and 1.9-4 s; 0 is up to 2.4 dB
        worse than 1, 2 mostly equal to 1.  Ignored without a budget.
    """

    threshold: float | None = None
    spacing: int | None = None
    levels: int | None = None
    contrast: float = 8.0
    iterations: int | None = None
    thin: bool = True
    hysteresis: float | None = None
    min_length: int | None = None
    tonal: int = 6
    lattice: int | None = None
    edge_seeds: float | None = None
    bpp: float | None = None
    size: int | None = None
    effort: int = ratecontrol.DEFAULT_EFFORT
    chroma_levels: int | None = None
    chroma_stride: int | None = None
    exact: bool = False
    edge_source: str | None = None
    quality: float | None = None
    psnr: float | None = None

    def __post_init__(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(message)

        def number(name: str) -> float:
            v = getattr(self, name)
            check(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                  and math.isfinite(v), f"{name} must be a finite number, got {v!r}")
            return float(v)

        def integer(name: str) -> int:
            v = getattr(self, name)
            check(isinstance(v, (int, np.integer)) and not isinstance(v, bool),
                  f"{name} must be an integer, got {v!r}")
            return int(v)

        given = [n for n in ("quality", "psnr", "bpp", "size", "threshold")
                 if getattr(self, n) is not None]
        check(len(given) <= 1, f"give one of quality, psnr, bpp, size and threshold, not "
                               f"{' and '.join(given)}")
        if self.threshold is not None:
            check(number("threshold") >= 0, "threshold must be >= 0")
        if self.quality is not None:
            check(0 <= number("quality") <= 100, "quality must be in 0..100")
        if self.psnr is not None:
            check(0 < number("psnr") <= 100, "psnr must be in (0, 100] dB")
        if self.spacing is not None:
            check(1 <= integer("spacing") <= 255, "spacing must be in 1..255")
        if self.levels is not None:
            check(2 <= integer("levels") <= 256, "levels must be in 2..256")
        if self.lattice is not None:
            check(0 <= integer("lattice") <= 65535, "lattice must be in 0..65535")
        if self.edge_seeds is not None:
            v = self.edge_seeds
            check(isinstance(v, (int, float, np.integer, np.floating))
                  and not isinstance(v, bool) and v >= 0,
                  f"edge_seeds must be a number >= 0 (inf = none), got {v!r}")
        check(number("contrast") > 0, "contrast must be > 0")
        if self.iterations is not None:
            check(0 <= integer("iterations") <= 10000, "iterations must be in 0..10000")
        check(isinstance(self.thin, (bool, np.bool_)), "thin must be a bool")
        if self.hysteresis is not None:
            check(0 < number("hysteresis") <= 1, "hysteresis must be in (0, 1]")
        if self.min_length is not None:
            check(0 <= integer("min_length") <= 1_000_000, "min_length must be in 0..1000000")
        check(0 <= integer("tonal") <= 1000, "tonal must be in 0..1000")
        if self.chroma_levels is not None:
            check(2 <= integer("chroma_levels") <= 256, "chroma_levels must be in 2..256")
        if self.chroma_stride is not None:
            check(1 <= integer("chroma_stride") <= 255, "chroma_stride must be in 1..255")
        check(isinstance(self.exact, (bool, np.bool_)), "exact must be a bool")
        check(self.edge_source is None or self.edge_source in ratecontrol.EDGE_SOURCES,
              f"edge_source must be one of {ratecontrol.EDGE_SOURCES}")
        check(0 <= integer("effort") < len(ratecontrol.EFFORTS),
              f"effort must be in 0..{len(ratecontrol.EFFORTS) - 1}")
        if self.bpp is not None:
            check(number("bpp") > 0, "bpp must be > 0")
        if self.size is not None:
            check(integer("size") > 0, "size must be > 0")

    @classmethod
    def from_mapping(cls, options: Mapping) -> EncodeOptions:
        """Options from a mapping such as Pillow's ``encoderinfo``; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in options.items() if k in names})

    def budget_bytes(self, width: int, height: int) -> int | None:
        """The byte budget, or None when there is none (a quality target or a threshold)."""
        if self.size is not None:
            return int(self.size)
        if self.bpp is not None:
            return int(math.floor(self.bpp * width * height / 8))
        return None

    def target_psnr(self) -> float | None:
        """The decoded PSNR to meet, in dB, or None when a budget or a threshold is given."""
        if self.psnr is not None:
            return float(self.psnr)
        if self.bpp is not None or self.size is not None or self.threshold is not None:
            return None
        return psnr_for_quality(DEFAULT_QUALITY if self.quality is None else self.quality)


#: The quality of a save without options (see psnr_for_quality).
DEFAULT_QUALITY = 50


def psnr_for_quality(quality: float) -> float:
    """The decoded PSNR in dB that ``quality`` (0..100) asks for: 20 + quality / 4, from
    20 dB at 0 to 45 dB at 100 (about the PSNR of JPEG's quality 95 on photographs)."""
    return 20.0 + float(quality) / 4.0


#: Layout fields used at a fixed threshold when left at None.
DEFAULT_THRESHOLD = 24.0
FIXED_SPACING = 4
FIXED_LEVELS = 64
FIXED_MIN_LENGTH = 10
FIXED_HYSTERESIS = 0.5
FIXED_ITERATIONS = 30
FIXED_CHROMA_LEVELS = 32
FIXED_CHROMA_STRIDE = 1
FIXED_EDGE_SOURCE = "colour"
#: Pillow mode of an (H, W) or (H, W, bands) uint8 array, by its number of bands.
MODES_BY_BANDS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


@dataclass(frozen=True)
class Analysis:
    """What the encoder derives from the image once, before choosing thresholds."""

    pixels: np.ndarray  # uint8 (H, W), the input
    smooth: np.ndarray  # float32 (H, W), after Perona-Malik


def split_bands(pixels: np.ndarray) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(mode, grey (H, W) or RGB (H, W, 3) pixels, alpha (H, W) or None) of an input array:
    (H, W) is L; (H, W, 2) LA; (H, W, 3) RGB; (H, W, 4) RGBA."""
    p = np.asarray(pixels)
    if p.dtype != np.uint8 or p.ndim not in (2, 3) or (p.ndim == 3 and not
                                                        1 <= p.shape[2] <= 4):
        raise ValueError(f"expected a uint8 array of shape (H, W) or (H, W, 1..4), got "
                         f"{p.dtype} {p.shape}")
    if p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError("image must be at least 1x1")
    if p.ndim == 2:
        return "L", p, None
    mode = MODES_BY_BANDS[p.shape[2]]
    colour_bands = 3 if mode in ("RGB", "RGBA") else 1
    image = p[:, :, :colour_bands] if colour_bands == 3 else p[:, :, 0]
    alpha = p[:, :, colour_bands] if mode in ("LA", "RGBA") else None
    return mode, np.ascontiguousarray(image), alpha


def drop_hidden(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``image`` with the colour under fully transparent pixels replaced by the harmonic fill
    from the visible ones (what the codec stores for free): nothing there is worth bytes."""
    hidden = alpha == 0
    if not hidden.any():
        return image
    if hidden.all():
        return np.zeros_like(image)
    known = ~hidden
    planes = image[:, :, None] if image.ndim == 2 else image
    filled = [inpaint.to_uint8(inpaint.solve(known, planes[:, :, c].astype(np.float64),
                                             np.zeros_like(known), tol=0.25))
              for c in range(planes.shape[2])]
    out = np.stack(filled, axis=2)
    return out[:, :, 0] if image.ndim == 2 else out


def analyse(pixels: np.ndarray, options: EncodeOptions) -> Analysis:
    """Validate a grey input and denoise it."""
    p = np.asarray(pixels)
    if p.ndim != 2 or p.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 array, got {p.dtype} {p.shape}")
    if p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError("image must be at least 1x1")
    steps = FIXED_ITERATIONS if options.iterations is None else options.iterations
    return Analysis(np.ascontiguousarray(p), analysis.denoise(p, options.contrast, steps))


def _settings_text(options: EncodeOptions, layout: ratecontrol.Layout) -> dict[str, str]:
    text = {
        "Software": f"PIL_ipc {__version__}",
        "threshold": f"{layout.threshold:g}",
        "contrast": f"{options.contrast:g}",
        "iterations": str(layout.denoise),
        "thin": "1" if options.thin else "0",
        "hysteresis": f"{layout.hysteresis:g}",
        "min_length": str(layout.min_length),
        "tonal": str(options.tonal),
    }
    if layout.lattice:
        text["lattice"] = str(layout.lattice)
    if not math.isinf(layout.edge_seeds):
        text["edge_seeds"] = f"{layout.edge_seeds:g}"
    return text


def _planner(image: np.ndarray, options: EncodeOptions, mode: str, *,
             searched: bool, **extra: object) -> tuple[ratecontrol.Planner, ratecontrol.Layout]:
    """The planner of a grey (H, W) or RGB (H, W, 3) image (denoised here) and the layout
    of the options (None fields at their fixed defaults); ``extra``: what the files carry
    besides (alpha, metadata)."""
    steps = FIXED_ITERATIONS if options.iterations is None else options.iterations
    colour_extra = {}
    if image.ndim == 3:
        ycc = colour.to_ycbcr(image)
        colour_extra = dict(chroma=ycc[1:], rgb=image)
        luma = ycc[0]
        smooth = analysis.denoise(luma, options.contrast, steps)
    else:
        a = analyse(image, options)
        luma, smooth = a.pixels, a.smooth
    layout = ratecontrol.Layout(
        DEFAULT_THRESHOLD if options.threshold is None else float(options.threshold),
        FIXED_SPACING if options.spacing is None else options.spacing,
        FIXED_LEVELS if options.levels is None else options.levels,
        0 if options.lattice is None else options.lattice,
        FIXED_MIN_LENGTH if options.min_length is None else options.min_length,
        FIXED_HYSTERESIS if options.hysteresis is None else float(options.hysteresis),
        steps,
        math.inf if options.edge_seeds is None else float(options.edge_seeds),
        FIXED_CHROMA_LEVELS if options.chroma_levels is None else options.chroma_levels,
        FIXED_CHROMA_STRIDE if options.chroma_stride is None else options.chroma_stride,
        "luma" if image.ndim == 2 else
        FIXED_EDGE_SOURCE if options.edge_source is None else options.edge_source)
    planner = ratecontrol.Planner(
        luma, options.contrast, thin=bool(options.thin), smooth={steps: smooth},
        text=None if searched else _settings_text(options, layout), mode=mode,
        **colour_extra, **extra)
    return planner, layout


def reduced(image: np.ndarray, pixels: int) -> np.ndarray:
    """A grey (H, W) or RGB (H, W, 3) uint8 image resized (Lanczos) to at most ``pixels``
    pixels, its aspect ratio kept (each side at least 1)."""
    h, w = image.shape[:2]
    scale = min(1.0, math.sqrt(pixels / (h * w)))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    from PIL import Image  # (only the encoder's search of large images resizes)

    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


@_kernel_cache.compiles("encode")
def encode(pixels: np.ndarray, options: EncodeOptions | None = None, *,
           icc_profile: bytes | None = None, exif: bytes | None = None,
           xmp: bytes | None = None) -> bytes:
    """Encode a uint8 image, (H, W) grey or (H, W, bands) LA, RGB, RGBA, to a complete
    .ipc file (with these metadata chunks)."""
    options = options or EncodeOptions()
    mode, image, alpha_plane = split_bands(pixels)
    coded_alpha = None
    if alpha_plane is not None:
        coded_alpha = container.Alpha(*alpha.encode(alpha_plane))
        if not options.exact:
            image = drop_hidden(image, alpha_plane)
    budget = options.budget_bytes(image.shape[1], image.shape[0])
    target = options.target_psnr()
    searched = budget is not None or target is not None
    planner, layout = _planner(image, options, mode, searched=searched, alpha=coded_alpha,
                               icc_profile=icc_profile, exif=exif, xmp=xmp)
    pinned = dict(spacing=options.spacing, levels=options.levels, lattice=options.lattice,
                  min_length=options.min_length, hysteresis=options.hysteresis,
                  denoise=options.iterations, edge_seeds=options.edge_seeds,
                  chroma_levels=options.chroma_levels, chroma_stride=options.chroma_stride,
                  edge_source=options.edge_source)
    if target is not None:
        return ratecontrol.search_psnr(planner, target, options.tonal, effort=options.effort,
                                       **pinned).data
    if budget is not None:
        if tiles.applies(planner.shape):
            # the layout searched on the image reduced, fitted at full size
            small, _ = _planner(reduced(image, tiles.REDUCED_PIXELS), options, mode,
                                searched=True)
            return tiles.search_reduced(planner, small, budget, options.tonal,
                                        effort=options.effort, **pinned)
        return ratecontrol.search(planner, budget, options.tonal, effort=options.effort,
                                  **pinned).data
    # the tonal fit needs descent directions, not certified digits: FINAL_STEPS solver steps
    # per solve, as the budget search's finalists (0.05 dB or less from certified solves on
    # photos, 2.5-4 times faster, and the difference grows with the image's size)
    if tiles.applies(planner.shape):
        x = tiles.fit(planner, layout, options.tonal, ratecontrol.FINAL_STEPS)
        return planner.code(layout, x, None)[0]
    return planner.evaluate(layout, options.tonal, None, measure=False,
                            steps=ratecontrol.FINAL_STEPS).data
