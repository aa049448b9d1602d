"""Encoder: grey image + options -> complete .ipc file (the paper's Fig. 6, left half).

denoise (Perona-Malik) -> Sobel edges (threshold, thinning) -> edge plane coded with T.82
-> source points located from the edge plane -> their values quantised and arithmetic coded
-> container.  With ``bpp`` or ``size`` the encoder searches the threshold for the best file
that fits the budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from . import __version__, container, edges, jbig, sources, tonal, values


@dataclass(frozen=True)
class EncodeOptions:
    """Encoder settings; every field is also a keyword of ``Image.save(..., format="IPC")``.

    threshold: smallest step height (grey levels) that becomes an edge; higher = fewer edges,
        smaller files.  Ignored when ``bpp`` or ``size`` is given.
    spacing: distance, in band pixels, between stored source points along an edge (1..255).
    levels: number of quantisation levels of the stored values (2..256).
    contrast: Perona-Malik contrast parameter K in grey levels (> 0).
    iterations: Perona-Malik explicit steps (0 disables denoising; the paper uses 30).
    thin: thin edges to one pixel by non-maximum suppression.
    hysteresis: keep weaker edge pixels, down to hysteresis * threshold, where they continue a
        strong edge (0 < hysteresis <= 1; 1 = plain threshold, the paper's rule).
    min_length: drop edge chains (8-connected) shorter than this many pixels (0 = keep all).
    tonal: iterations of tonal optimisation (least-squares stored values, see
        :mod:`PIL_ipc.tonal`); 0 stores the pixel values themselves, as the paper does.
    bpp / size: budget in bits per pixel / in bytes for the whole file; the encoder picks the
        threshold giving the best file not over it.
    """

    threshold: float = 24.0
    spacing: int = 4
    levels: int = 64
    contrast: float = 8.0
    iterations: int = 30
    thin: bool = True
    hysteresis: float = 0.5
    min_length: int = 10
    tonal: int = 6
    bpp: float | None = None
    size: int | None = None

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

        check(number("threshold") >= 0, "threshold must be >= 0")
        check(1 <= integer("spacing") <= 255, "spacing must be in 1..255")
        check(2 <= integer("levels") <= 256, "levels must be in 2..256")
        check(number("contrast") > 0, "contrast must be > 0")
        check(0 <= integer("iterations") <= 10000, "iterations must be in 0..10000")
        check(isinstance(self.thin, (bool, np.bool_)), "thin must be a bool")
        check(0 < number("hysteresis") <= 1, "hysteresis must be in (0, 1]")
        check(0 <= integer("min_length") <= 1_000_000, "min_length must be in 0..1000000")
        check(0 <= integer("tonal") <= 1000, "tonal must be in 0..1000")
        check(self.bpp is None or self.size is None, "give bpp or size, not both")
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
        """The byte budget, or None when the threshold is given directly."""
        if self.size is not None:
            return int(self.size)
        if self.bpp is not None:
            return int(math.floor(self.bpp * width * height / 8))
        return None


@dataclass(frozen=True)
class Analysis:
    """What the encoder derives from the image once, before choosing thresholds."""

    pixels: np.ndarray  # uint8 (H, W), the input
    smooth: np.ndarray  # float64 (H, W), after Perona-Malik


def analyse(pixels: np.ndarray, options: EncodeOptions) -> Analysis:
    """Validate the input and denoise it."""
    p = np.asarray(pixels)
    if p.ndim != 2 or p.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 array, got {p.dtype} {p.shape}")
    if p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError("image must be at least 1x1")
    return Analysis(np.ascontiguousarray(p), edges.denoise(p, options.contrast, options.iterations))


def _center_seed(shape: tuple[int, int]) -> np.ndarray:
    seed = np.zeros(shape, dtype=bool)
    seed[shape[0] // 2, shape[1] // 2] = True
    return seed


def build_fields(a: Analysis, options: EncodeOptions, threshold: float,
                 tonal_iterations: int = 0) -> container.IpcFile:
    """Code the image at one threshold into container fields (no metadata)."""
    h, w = a.pixels.shape
    edge_plane = edges.detect(a.smooth, threshold, options.thin, options.hysteresis,
                              options.min_length)
    seed = None
    points = sources.locate(edge_plane, options.spacing)
    if points.count == 0:
        # No edges at all: one stored pixel in the middle makes the PDE well posed (a flat image).
        seed = _center_seed((h, w))
        points = sources.locate(edge_plane, options.spacing, seed)
    if tonal_iterations > 0:
        stored = tonal.optimise(a.pixels, points.known_mask(), points.band, points.positions,
                                tonal_iterations)
    else:
        stored = a.pixels.ravel()[points.positions]
    indices = values.quantise(stored, options.levels)
    header = container.Header(width=w, height=h, mode="L", levels=options.levels,
                              spacing=options.spacing)
    return container.IpcFile(
        header=header,
        edge=jbig.encode(edge_plane, tpbon=False),
        seed=jbig.encode(seed, tpbon=False) if seed is not None else None,
        values_count=points.count,
        values_coding=0,
        values_payload=values.encode(indices, points.predictors, options.levels),
    )


def _settings_text(options: EncodeOptions, threshold: float) -> dict[str, str]:
    return {
        "Software": f"PIL_ipc {__version__}",
        "threshold": f"{threshold:g}",
        "contrast": f"{options.contrast:g}",
        "iterations": str(options.iterations),
        "thin": "1" if options.thin else "0",
        "hysteresis": f"{options.hysteresis:g}",
        "min_length": str(options.min_length),
        "tonal": str(options.tonal),
    }


# Above this every Sobel magnitude of an 8-bit image is smaller: no edges at all.
_MAX_THRESHOLD = 400.0


def encode(pixels: np.ndarray, options: EncodeOptions | None = None, *,
           icc_profile: bytes | None = None, exif: bytes | None = None) -> bytes:
    """Encode a 2-D uint8 grey image to a complete .ipc file."""
    options = options or EncodeOptions()
    a = analyse(pixels, options)
    budget = options.budget_bytes(a.pixels.shape[1], a.pixels.shape[0])

    def file_at(threshold: float, tonal_iterations: int = 0) -> bytes:
        f = build_fields(a, options, threshold, tonal_iterations)
        f.icc_profile = icc_profile
        f.exif = exif
        f.text = _settings_text(options, threshold)
        return container.build(f)

    if budget is None:
        return file_at(options.threshold, options.tonal)
    # The threshold search sizes files without tonal optimisation (cheap); optimised values
    # cost a little more or less to code, so the final file is checked and, if it went over,
    # the threshold nudged up.
    threshold, data = fit_budget(file_at, budget, 0.0, _MAX_THRESHOLD)
    if options.tonal == 0:
        return data
    for _ in range(8):
        optimised = file_at(threshold, options.tonal)
        if len(optimised) <= budget:
            return optimised
        threshold = threshold * 1.05 + 0.5
    return data


def fit_budget(file_at, budget: int, lo: float, hi: float,
               steps: int = 14) -> tuple[float, bytes]:
    """Bisect a knob (larger = smaller file) for the smallest value whose file fits ``budget``."""
    best = file_at(hi)
    if len(best) > budget:
        raise ValueError(f"budget of {budget} bytes is below the smallest file this image "
                         f"allows ({len(best)} bytes)")
    bottom = file_at(lo)
    if len(bottom) <= budget:
        return lo, bottom
    best_knob = hi
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        data = file_at(mid)
        if len(data) <= budget:
            hi, best, best_knob = mid, data, mid
        else:
            lo = mid
    return best_knob, best
