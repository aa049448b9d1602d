"""Deterministic piecewise-smooth test images (cartoon-like, no noise).

Each image is a stack of overlapping shapes - polygons, ellipses and curved blobs - filled with
linear or radial gradients over a gradient background. Shapes are rendered on a 4 x 4
supersampled grid and averaged down, so edges are anti-aliased the way a rendered drawing is.
Geometry lives in the unit square, so every size shows the same picture.

    make(name, size=512) -> np.ndarray (uint8, size x size)
    make(name, size=512, colour=True) -> np.ndarray (uint8, size x size x 3): the same picture
        with every shape (and the background) tinted its own colour
    python benchmarks/synthetic.py OUTDIR     # writes OUTDIR/<name>.png for every name

The piecewise-smooth colour set (PIECEWISE) adds two pictures that exist in colour only:
"hues", flat and linear fills that all have one luma (BT.601) and differ in hue alone, so no
luma gradient shows an edge, and "aliased", the "mixed" recipe drawn without supersampling
(hard, stair-stepped edges).
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

NAMES = ("shapes", "gradients", "blobs", "mixed")
#: Pictures drawn in colour only (see above).
COLOUR_ONLY = ("hues", "aliased")
#: The piecewise-smooth colour set: flat, linear and radial fills, anti-aliased and aliased
#: edges, regions of equal luma and different hue.
PIECEWISE = NAMES + COLOUR_ONLY
SUPERSAMPLE = 4
#: Luma of every region of "hues", and the largest chroma (|Cb|, |Cr|) its colours take:
#: every colour of that luma within it is a valid RGB colour.
HUE_LUMA = 128.0
HUE_CHROMA = 70.0

# A fill maps supersampled coordinates (x, y in the unit square) to grey values.
Fill = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _linear_fill(rng: np.random.Generator, cx: float, cy: float, extent: float,
                 strength: float) -> Fill:
    """Grey ramp along a random direction across a shape of the given extent."""
    angle = rng.uniform(0.0, 2.0 * np.pi)
    dx, dy = np.cos(angle), np.sin(angle)
    mid = rng.uniform(40.0, 215.0)
    span = strength * rng.uniform(0.4, 1.0) * 255.0

    def fill(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        t = ((x - cx) * dx + (y - cy) * dy) / max(extent, 1e-6)
        return mid + 0.5 * span * np.clip(t, -1.0, 1.0)

    return fill


def _radial_fill(rng: np.random.Generator, cx: float, cy: float, extent: float,
                 strength: float) -> Fill:
    """Grey ramp from an off-centre focus outwards."""
    fx = cx + rng.uniform(-0.4, 0.4) * extent
    fy = cy + rng.uniform(-0.4, 0.4) * extent
    inner = rng.uniform(30.0, 225.0)
    outer = np.clip(inner + strength * rng.choice([-1.0, 1.0]) * rng.uniform(60.0, 160.0),
                    0.0, 255.0)

    def fill(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        t = np.clip(np.hypot(x - fx, y - fy) / max(1.5 * extent, 1e-6), 0.0, 1.0)
        return inner + (outer - inner) * t

    return fill


def _flat_fill(rng: np.random.Generator) -> Fill:
    """A single grey level."""
    level = rng.uniform(10.0, 245.0)
    return lambda x, y: np.full(x.shape, level)


def _polygon_mask(rng: np.random.Generator, cx: float, cy: float, r: float
                  ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Random simple polygon (vertices sorted by angle around the centre), even-odd rule."""
    n = int(rng.integers(3, 8))
    angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, n))
    radii = r * rng.uniform(0.5, 1.0, n)
    vx = cx + radii * np.cos(angles)
    vy = cy + radii * np.sin(angles)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = np.zeros(x.shape, dtype=bool)
        for i in range(n):
            x0, y0, x1, y1 = vx[i - 1], vy[i - 1], vx[i], vy[i]
            if y0 == y1:
                continue
            crosses = (y0 > y) != (y1 > y)
            x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
            result ^= crosses & (x < x_at)
        return result

    return inside


def _ellipse_mask(rng: np.random.Generator, cx: float, cy: float, r: float
                  ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Rotated ellipse with semi-axes up to r."""
    a = r * rng.uniform(0.5, 1.0)
    b = r * rng.uniform(0.25, 1.0)
    theta = rng.uniform(0.0, np.pi)
    c, s = np.cos(theta), np.sin(theta)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u = (x - cx) * c + (y - cy) * s
        v = -(x - cx) * s + (y - cy) * c
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0

    return inside


def _blob_mask(rng: np.random.Generator, cx: float, cy: float, r: float
               ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Star-shaped curved blob: radius is a smooth low-order Fourier series of the angle."""
    orders = np.arange(1, 5)
    amps = rng.uniform(0.0, 0.22, orders.size) / orders
    phases = rng.uniform(0.0, 2.0 * np.pi, orders.size)
    base = r * rng.uniform(0.6, 0.85)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ang = np.arctan2(y - cy, x - cx)
        wobble = np.sin(orders[:, None] * ang.ravel()[None, :] + phases[:, None])
        edge = base * (1.0 + (amps[:, None] * wobble).sum(axis=0)).reshape(x.shape)
        return np.hypot(x - cx, y - cy) <= edge

    return inside


_MASKS = {"polygon": _polygon_mask, "ellipse": _ellipse_mask, "blob": _blob_mask}

# Per variant: shape kinds to draw from, how many shapes, size range (radius in the unit
# square), fill kinds and how strong the gradients are.
_RECIPES = {
    "shapes": dict(kinds=("polygon", "ellipse"), count=(14, 20), radius=(0.05, 0.2),
                   fills=("flat", "flat", "linear"), strength=0.3),
    "gradients": dict(kinds=("polygon", "ellipse"), count=(6, 9), radius=(0.15, 0.35),
                      fills=("linear", "radial"), strength=1.0),
    "blobs": dict(kinds=("blob",), count=(10, 14), radius=(0.08, 0.25),
                  fills=("radial", "linear", "flat"), strength=0.7),
    "mixed": dict(kinds=("polygon", "ellipse", "blob"), count=(22, 30), radius=(0.04, 0.25),
                  fills=("flat", "linear", "radial"), strength=0.8),
    "hues": dict(kinds=("polygon", "ellipse", "blob"), count=(14, 20), radius=(0.05, 0.22),
                 fills=("flat", "flat", "linear"), strength=1.0, hues=True),
    "aliased": dict(kinds=("polygon", "ellipse", "blob"), count=(22, 30), radius=(0.04, 0.25),
                    fills=("flat", "linear", "radial"), strength=0.8, supersample=1,
                    seed="mixed"),
}


def _hue_fill(rng: np.random.Generator, cx: float, cy: float, extent: float,
              ramp: bool) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Colours of luma HUE_LUMA: one (flat) or a linear ramp between two along a random
    direction; returns RGB, 3 x the samples."""
    a, b = rng.uniform(-HUE_CHROMA, HUE_CHROMA, (2, 2))
    angle = rng.uniform(0.0, 2.0 * np.pi)
    dx, dy = np.cos(angle), np.sin(angle)

    def fill(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        t = 0.5 + 0.5 * np.clip(((x - cx) * dx + (y - cy) * dy) / max(extent, 1e-6), -1, 1)
        cb, cr = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t) if ramp else a
        cb, cr = np.broadcast_to(cb, x.shape), np.broadcast_to(cr, x.shape)
        return np.stack([HUE_LUMA + 1.402 * cr, HUE_LUMA - 0.344136 * cb - 0.714136 * cr,
                         HUE_LUMA + 1.772 * cb])

    return fill


def _supersampled_grid(size: int, y0: int, y1: int, x0: int, x1: int, s: int = SUPERSAMPLE
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Unit-square coordinates of the sub-pixel centres of pixel block [y0:y1, x0:x1], s x s
    per pixel."""
    xs = (np.arange(x0 * s, x1 * s) + 0.5) / (size * s)
    ys = (np.arange(y0 * s, y1 * s) + 0.5) / (size * s)
    return np.meshgrid(xs, ys)


def _tint(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A shape's colour: per-channel gain and offset applied to its grey fill."""
    return rng.uniform(0.35, 1.25, 3), rng.uniform(-60.0, 60.0, 3)


def make(name: str, size: int = 512, colour: bool = False) -> np.ndarray:
    """Render synthetic image `name` (one of NAMES, or in colour of PIECEWISE) as a size x
    size uint8 array (size x size x 3 in colour: each shape's grey fill times its own
    per-channel gain plus offset, drawn from a second generator, so the grey picture is the
    same; "hues" draws colours of one luma instead)."""
    if name not in _RECIPES:
        raise ValueError(f"unknown synthetic image {name!r}; choose from {', '.join(PIECEWISE)}")
    if name in COLOUR_ONLY and not colour:
        raise ValueError(f"synthetic image {name!r} exists in colour only")
    if not 8 <= size <= 8192:
        raise ValueError(f"size must be within 8..8192, got {size}")
    recipe = _RECIPES[name]
    hues = recipe.get("hues", False)
    s = recipe.get("supersample", SUPERSAMPLE)
    # Seed from the name so each variant is fixed across runs and independent of the others
    # ("aliased" draws the shapes of "mixed").
    seed = recipe.get("seed", name)
    rng = np.random.default_rng(zlib.crc32(seed.encode()))

    tints = np.random.default_rng(zlib.crc32(f"{seed} colour".encode()))
    x, y = _supersampled_grid(size, 0, size, 0, size, s)
    if hues:
        canvas = _hue_fill(tints, 0.5, 0.5, 0.7, True)(x, y)
        rng.uniform(size=4)  # (kept: it places the shapes the set was measured with)
    else:
        canvas = _linear_fill(rng, 0.5, 0.5, 0.7, 0.5)(x, y)
    del x, y
    if colour and not hues:
        gain, offset = _tint(tints)
        canvas = canvas[None] * gain[:, None, None] + offset[:, None, None]

    count = int(rng.integers(*recipe["count"], endpoint=True))
    for _ in range(count):
        cx, cy = rng.uniform(0.05, 0.95, 2)
        r = rng.uniform(*recipe["radius"])
        inside = _MASKS[str(rng.choice(recipe["kinds"]))](rng, cx, cy, r)
        kind = str(rng.choice(recipe["fills"]))
        if hues:
            fill = _hue_fill(tints, cx, cy, r, kind != "flat")
        elif kind == "flat":
            fill = _flat_fill(rng)
        elif kind == "linear":
            fill = _linear_fill(rng, cx, cy, r, recipe["strength"])
        else:
            fill = _radial_fill(rng, cx, cy, r, recipe["strength"])
        # Only the bounding box of the shape is evaluated (blobs reach 1.3 r at most).
        reach = 1.35 * r
        px0 = max(int(np.floor((cx - reach) * size)), 0)
        px1 = min(int(np.ceil((cx + reach) * size)), size)
        py0 = max(int(np.floor((cy - reach) * size)), 0)
        py1 = min(int(np.ceil((cy + reach) * size)), size)
        if px0 >= px1 or py0 >= py1:
            continue
        bx, by = _supersampled_grid(size, py0, py1, px0, px1, s)
        mask = inside(bx, by)
        values = fill(bx[mask], by[mask])
        if hues:
            for c in range(3):
                canvas[c, py0 * s:py1 * s, px0 * s:px1 * s][mask] = values[c]
        elif colour:
            gain, offset = _tint(tints)
            for c in range(3):
                canvas[c, py0 * s:py1 * s, px0 * s:px1 * s][mask] = gain[c] * values + offset[c]
        else:
            canvas[py0 * s:py1 * s, px0 * s:px1 * s][mask] = values

    if colour:
        rgb = canvas.reshape(3, size, s, size, s).mean(axis=(2, 4)).transpose(1, 2, 0)
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    grey = canvas.reshape(size, s, size, s).mean(axis=(1, 3))
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    """Write every synthetic image as OUTDIR/<name>.png (grey) and <name>-colour.png."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python benchmarks/synthetic.py OUTDIR", file=sys.stderr)
        return 2
    from PIL import Image

    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    for name in PIECEWISE:
        for colour, suffix in ((False, ""), (True, "-colour")):
            if name in COLOUR_ONLY and not colour:
                continue
            path = out / f"{name}{suffix}.png"
            Image.fromarray(make(name, colour=colour)).save(path)
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
