"""The encoder's pipeline: an image and its options -> a complete .ipc file (the paper's Fig. 6,
left half).

denoise (Perona-Malik) -> Sobel edges (threshold, thinning) -> the edge plane coded with
T.82 -> source points located from the edge plane -> their values fitted (tonal optimisation),
quantised and arithmetic coded -> the file, built once at the end with its metadata.  Which
layout (threshold, spacing, levels, seed lattice, ...) is what the options choose: fixed by
``threshold``, searched for the best decoded file within a budget (``bpp``, ``size``;
:mod:`.search`) or for the smallest file that meets a decoded PSNR (``quality``, ``psnr``;
:mod:`.quality`).  From 2 Mpixel on (:mod:`.tiles`) the tonal fit runs on overlapping tiles
on every core, and a budget's layout is searched on the image reduced to 1 Mpixel.  An
encode tells a ``progress`` callback how far it has come, stage by stage (:mod:`.report`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import __version__, _kernel_cache
from ..format import alpha, colour, container
from ..solver import inpaint
from . import analysis, quality, search, tiles
from .options import RECORDED, EncodeOptions
from .planner import Coded, Layout, Planner
from .report import Progress, Stage
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
                alpha: container.Alpha | None = None, metadata: dict | None = None,
                on_step: Callable[[], None] | None = None) -> tuple[Planner, Layout]:
    """The planner of a grey (H, W) or RGB (H, W, 3) image (denoised here, ``on_step()``
    called after each denoising step) and the layout of the options (None fields at their
    fixed values); ``alpha`` (the coded ALPH chunk) and ``metadata`` (icc_profile, exif,
    xmp) are what the file carries besides, and a file encoded at a fixed threshold (not
    ``searched``) records its settings as text."""
    layout = Layout(**options.fixed_layout(colour=image.ndim == 3))
    colour_extra = {}
    if image.ndim == 3:
        # an image fitted on tiles keeps its channels in float32 (each tile's fit takes its
        # part in float64): 144 MB less at 12 Mpixel
        ycc = colour.to_ycbcr(image, np.float32 if tiles.applies(image.shape[:2])
                              else np.float64)
        colour_extra = dict(chroma=ycc[1:], rgb=image)
        luma = ycc[0]
    else:
        luma = np.ascontiguousarray(image)
    smooth = analysis.denoise(luma, options.contrast, layout.iterations, on_step)
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
    from PIL import Image  # (only the encoder's search of large images resizes)

    size = reduced_size(image.shape[:2], pixels)
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def reduced_size(shape: tuple[int, int], pixels: int) -> tuple[int, int]:
    """(width, height) of an image of ``shape`` (H, W) :func:`reduced` to ``pixels``."""
    h, w = shape
    scale = min(1.0, math.sqrt(pixels / (h * w)))
    return max(1, round(w * scale)), max(1, round(h * scale))


def choose(planner: Planner, layout: Layout, options: EncodeOptions,
           small: Planner | None = None, progress: Progress | None = None,
           coding: Stage | None = None) -> Coded:
    """The coded layout the options ask for: the fixed layout, or the one a budget or a
    quality target searches (the fields given pinned); ``small``: the planner of the image
    reduced, on which a large image's budget is searched.  ``progress`` (report.Progress):
    told of the search or of the tiles; ``coding``: the stage that the fit of a fixed
    layout on the whole image counts in (its edges, each channel's tonal steps, its values
    coded: all of its total but one, left for the file)."""
    pinned = options.pinned()
    h, w = planner.shape
    budget = options.budget_bytes(w, h)
    target = options.target_psnr()
    if target is not None:
        if small is not None:  # the target searched on the image reduced, fitted at full size
            return tiles.search_psnr_reduced(planner, small, target, options.tonal,
                                             effort=options.effort, progress=progress,
                                             **pinned)
        return quality.search_psnr(planner, target, options.tonal, effort=options.effort,
                                   progress=progress, **pinned)
    if budget is not None:
        if small is not None:  # the layout searched on the image reduced, fitted at full size
            return tiles.search_reduced(planner, small, budget, options.tonal,
                                        effort=options.effort, progress=progress, **pinned)
        return search.search(planner, budget, options.tonal, effort=options.effort,
                             progress=progress, **pinned)
    # the tonal fit needs descent directions, not certified digits: FINAL_STEPS solver steps
    # per solve, as the budget search's finalists
    if tiles.applies(planner.shape):
        x = tiles.fit(planner, layout, options.tonal, FINAL_STEPS, progress=progress)
        return tiles.fitted_file(planner, layout, x, None)
    coding = Stage(None, "coding", 1) if coding is None else coding
    planner.points(layout)  # (the edges and source points, which the fit takes)
    coding.add()
    coded = planner.evaluate(layout, options.tonal, None, measure=False, steps=FINAL_STEPS,
                             on_step=coding.add)
    coding.to(coding.total - 1)
    return coded


def searched_on_reduced(options: EncodeOptions, shape: tuple[int, int]) -> bool:
    """Whether the layout of an image of ``shape`` is searched on the image reduced: a budget
    or a quality target for an image fitted on tiles."""
    return (options.target_psnr() is not None
            or options.budget_bytes(shape[1], shape[0]) is not None) and tiles.applies(shape)


@_kernel_cache.compiles("encode")
def encode(pixels: np.ndarray, options: EncodeOptions | None = None, *,
           icc_profile: bytes | None = None, exif: bytes | None = None,
           xmp: bytes | None = None, progress: Progress | None = None) -> bytes:
    """Encode a uint8 image, (H, W) grey or (H, W, bands) LA, RGB, RGBA, to a complete
    .ipc file (with these metadata chunks).

    ``progress``: None, or a callable ``progress(stage, done, total)`` told how far the
    encode has come, stage after stage ("analysis", then "search", "quality" or "tiles" as
    the options and the image's size call for, then "coding"; see :mod:`.report`): done
    never falls nor passes total, and a stage ends with done equal to total.  It is called
    from the encoder's threads, one call at a time, and changes nothing in the file."""
    options = options or EncodeOptions()
    mode, image, alpha_plane = split_bands(pixels)
    h, w = image.shape[:2]
    on_reduced = searched_on_reduced(options, (h, w))
    # the denoising steps, those of the reduced image counted by its pixels
    share = math.prod(reduced_size((h, w), tiles.REDUCED_PIXELS)) / (h * w) if on_reduced \
        else 0.0
    iterations = options.fixed_layout(colour=image.ndim == 3)["iterations"]
    analysing = Stage(progress, "analysis", iterations * (1 + share))
    coded_alpha = None
    if alpha_plane is not None:
        coded_alpha = container.Alpha(*alpha.encode(alpha_plane))
        if not options.exact:
            image = drop_hidden(image, alpha_plane)
    searched = options.target_psnr() is not None or options.budget_bytes(w, h) is not None
    planner, layout = planner_for(image, options, mode, searched=searched, alpha=coded_alpha,
                                  metadata=dict(icc_profile=icc_profile, exif=exif, xmp=xmp),
                                  on_step=analysing.add)
    small = None
    if on_reduced:
        small, _ = planner_for(reduced(image, tiles.REDUCED_PIXELS), options, mode,
                               searched=True, on_step=lambda: analysing.add(share))
    analysing.end()
    coding = None
    if not searched and not tiles.applies(planner.shape):  # the fit is part of the coding
        coding = Stage(progress, "coding", options.tonal * len(planner.channels) + 3)
    coded = choose(planner, layout, options, small, progress, coding)
    if coding is None:
        coding = Stage(progress, "coding", 1)
    data = planner.file(coded)
    coding.end()
    return data
