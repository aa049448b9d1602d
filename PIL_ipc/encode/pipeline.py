"""The encoder's pipeline: an image and its options -> a complete .ipc file (the paper's Fig. 6,
left half).

denoise (Perona-Malik) -> Sobel edges (threshold, thinning) -> the edge plane coded with
T.82 -> source points located from the edge plane -> their values fitted (tonal optimisation),
quantised and arithmetic coded -> the file, built once at the end with its metadata.  Which
layout (threshold, spacing, levels, seed lattice, ...) is what the options choose: fixed by
``threshold``, searched for the best decoded file within a budget (``bpp``, ``size``;
:mod:`.search`) or for the smallest file that meets a decoded PSNR (``quality``, ``psnr``;
:mod:`.quality`).  From 2 Mpixel on (:mod:`.tiles`) the tonal fit runs on overlapping tiles
on every core, and a budget's layout is searched on the image reduced to 1 Mpixel.
"""

from __future__ import annotations

import math

import numpy as np

from .. import __version__, _kernel_cache
from ..format import alpha, colour, container
from ..solver import inpaint
from . import analysis, quality, search, tiles
from .options import RECORDED, EncodeOptions
from .planner import Coded, Layout, Planner
from .tuning import FINAL_STEPS

#: Pillow mode of an (H, W) or (H, W, bands) uint8 array, by its number of bands.
MODES_BY_BANDS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


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


def settings_text(options: EncodeOptions, layout: Layout) -> dict[str, str]:
    """The informative text of a file encoded at a fixed threshold: the settings the option
    table records (options.RECORDED), as the layout has them."""
    text = {"Software": f"PIL_ipc {__version__}"}
    for name, option in RECORDED.items():
        shown = option.text(getattr(layout if option.layout else options, name))
        if shown is not None:
            text[name] = shown
    return text


def planner_for(image: np.ndarray, options: EncodeOptions, mode: str, *, searched: bool,
                alpha: container.Alpha | None = None, metadata: dict | None = None
                ) -> tuple[Planner, Layout]:
    """The planner of a grey (H, W) or RGB (H, W, 3) image (denoised here) and the layout
    of the options (None fields at their fixed values); ``alpha`` (the coded ALPH chunk) and
    ``metadata`` (icc_profile, exif, xmp) are what the file carries besides, and a file
    encoded at a fixed threshold (not ``searched``) records its settings as text."""
    layout = Layout(**options.fixed_layout(colour=image.ndim == 3))
    colour_extra = {}
    if image.ndim == 3:
        ycc = colour.to_ycbcr(image)
        colour_extra = dict(chroma=ycc[1:], rgb=image)
        luma = ycc[0]
    else:
        luma = np.ascontiguousarray(image)
    smooth = analysis.denoise(luma, options.contrast, layout.iterations)
    metadata = dict(metadata or {})
    if not searched:
        metadata["text"] = settings_text(options, layout)
    planner = Planner(luma, options.contrast, thin=options.thin,
                      smooth={layout.iterations: smooth}, mode=mode, alpha=alpha,
                      metadata=metadata, **colour_extra)
    return planner, layout


def reduced(image: np.ndarray, pixels: int) -> np.ndarray:
    """A grey (H, W) or RGB (H, W, 3) uint8 image resized (Lanczos) to at most ``pixels``
    pixels, its aspect ratio kept (each side at least 1)."""
    h, w = image.shape[:2]
    scale = min(1.0, math.sqrt(pixels / (h * w)))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    from PIL import Image  # (only the encoder's search of large images resizes)

    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))

def choose(planner: Planner, layout: Layout, image: np.ndarray, options: EncodeOptions,
           mode: str) -> Coded:
    """The coded layout the options ask for: the fixed layout, or the one a budget or a
    quality target searches (the fields given pinned)."""
    pinned = options.pinned()
    budget = options.budget_bytes(image.shape[1], image.shape[0])
    target = options.target_psnr()
    if target is not None:
        return quality.search_psnr(planner, target, options.tonal, effort=options.effort,
                                   **pinned)
    if budget is not None:
        if tiles.applies(planner.shape):
            # the layout searched on the image reduced, fitted at full size
            small, _ = planner_for(reduced(image, tiles.REDUCED_PIXELS), options, mode,
                                   searched=True)
            return tiles.search_reduced(planner, small, budget, options.tonal,
                                        effort=options.effort, **pinned)
        return search.search(planner, budget, options.tonal, effort=options.effort, **pinned)
    # the tonal fit needs descent directions, not certified digits: FINAL_STEPS solver steps
    # per solve, as the budget search's finalists
    if tiles.applies(planner.shape):
        x = tiles.fit(planner, layout, options.tonal, FINAL_STEPS)
        return tiles.fitted_file(planner, layout, x, None)
    return planner.evaluate(layout, options.tonal, None, measure=False, steps=FINAL_STEPS)


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
    searched = options.target_psnr() is not None or \
        options.budget_bytes(image.shape[1], image.shape[0]) is not None
    planner, layout = planner_for(image, options, mode, searched=searched, alpha=coded_alpha,
                                  metadata=dict(icc_profile=icc_profile, exif=exif, xmp=xmp))
    return planner.file(choose(planner, layout, image, options, mode))
