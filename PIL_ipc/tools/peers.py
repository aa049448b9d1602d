"""Peer codecs through Pillow (JPEG, JPEG 2000, WebP, AVIF), each searched for its best file
at or under a byte budget: the comparison of `ipc compare` and of the benchmarks.

Each peer exposes one integer setting that grows the file monotonically (quality, or a target
size for JPEG 2000); `best_under_budget` finds the largest setting whose whole file is at or
under a byte budget, caching every encode.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, features

# libaom speed 0 is its slowest, best-compressing preset.
AVIF_SPEED = 0
# In colour (three planes, 24 Kodak images), speed 4, the fastest the comparison allows.
AVIF_COLOUR_SPEED = 4


@dataclass
class Encode:
    """One encoded file and how long the encode took."""

    data: bytes
    seconds: float


class PeerCodec:
    """A Pillow codec driven by one integer setting; larger settings give larger files."""

    name = ""
    pil_format = ""
    feature = ""  # PIL.features name
    setting = ""  # what the integer means, for the table

    def __init__(self) -> None:
        self.cache: dict[tuple[str, int], Encode] = {}

    def options(self, value: int, size: tuple[int, int]) -> dict:
        """Pillow save options for a setting."""
        raise NotImplementedError

    def lowest(self, size: tuple[int, int]) -> int:
        """Setting giving the smallest file."""
        raise NotImplementedError

    def highest(self, size: tuple[int, int]) -> int:
        """Setting giving the largest file."""
        raise NotImplementedError

    def guess(self, budget: int, size: tuple[int, int]) -> int:
        """First setting to try for a byte budget."""
        return (self.lowest(size) + self.highest(size)) // 2

    def step(self, budget: int, size: tuple[int, int]) -> int:
        """Initial stride when the answer is not yet bracketed."""
        return max(1, (self.highest(size) - self.lowest(size)) // 16)

    def resolution(self, budget: int) -> int:
        """How close the search gets to the exact boundary setting."""
        return 1

    def available(self) -> bool:
        """Whether this Pillow build can write and read the format."""
        return bool(features.check(self.feature))

    def encode(self, key: str, image: Image.Image, value: int) -> Encode:
        """Encode `image` (cached under image key `key`) at setting `value`."""
        slot = (key, value)
        if slot not in self.cache:
            self.cache[slot] = timed_save(image, self.pil_format, self.options(value, image.size))
        return self.cache[slot]

    def retime(self, image: Image.Image, value: int) -> float:
        """Seconds for one more encode at `value` (no caching)."""
        return timed_save(image, self.pil_format, self.options(value, image.size)).seconds

    def best(self, key: str, image: Image.Image, budget: int) -> int | None:
        """Largest setting whose file fits in `budget` bytes, None if even the lowest does not."""
        known = {v: len(e.data) for (k, v), e in self.cache.items() if k == key}

        def size_at(value: int) -> int:
            size = len(self.encode(key, image, value).data)
            known[value] = size
            return size

        size = image.size
        return best_under_budget(size_at, known, self.lowest(size), self.highest(size), budget,
                                 self.guess(budget, size), self.step(budget, size),
                                 self.resolution(budget))

    def label(self, value: int) -> str:
        """How a setting is shown in the table."""
        return f"{self.setting}={value}"


class QualityCodec(PeerCodec):
    """A codec searched over its quality scale; the first guess for a budget is the quality
    chosen last time at the same bits per pixel (images of one set behave alike)."""

    setting = "q"

    def __init__(self, name: str, pil_format: str, feature: str, lowest: int, highest: int,
                 extra: dict) -> None:
        super().__init__()
        self.name, self.pil_format, self.feature = name, pil_format, feature
        self._range = (lowest, highest)
        self._extra = extra
        self._hints: dict[float, int] = {}

    def options(self, value: int, size: tuple[int, int]) -> dict:
        return {"quality": value, **self._extra}

    def lowest(self, size: tuple[int, int]) -> int:
        return self._range[0]

    def highest(self, size: tuple[int, int]) -> int:
        return self._range[1]

    def guess(self, budget: int, size: tuple[int, int]) -> int:
        return self._hints.get(_bpp_key(budget, size), super().guess(budget, size))

    def best(self, key: str, image: Image.Image, budget: int) -> int | None:
        value = super().best(key, image, budget)
        if value is not None:
            self._hints[_bpp_key(budget, image.size)] = value
        return value


class Jpeg2000Codec(PeerCodec):
    """OpenJPEG with one irreversible (9/7) quality layer, searched over the target size in
    bytes handed to its rate allocation (which is approximate: the real size is checked)."""

    name, pil_format, feature, setting = "jpeg2000", "JPEG2000", "jpg_2000", "target"

    def __init__(self, colour: bool = False) -> None:
        super().__init__()
        #: colour images: three components, decorrelated by the irreversible colour transform
        self.components = 3 if colour else 1

    def options(self, value: int, size: tuple[int, int]) -> dict:
        # Rates are compression ratios against the raw 8-bit image (all its components).
        options = {"irreversible": True, "quality_mode": "rates",
                   "quality_layers": [self.components * size[0] * size[1] / value]}
        if self.components == 3:
            options["mct"] = 1
        return options

    def lowest(self, size: tuple[int, int]) -> int:
        return 16  # below any real codestream: the smallest file OpenJPEG will write

    def highest(self, size: tuple[int, int]) -> int:
        return size[0] * size[1]

    def guess(self, budget: int, size: tuple[int, int]) -> int:
        return budget  # OpenJPEG lands close to the requested size

    def step(self, budget: int, size: tuple[int, int]) -> int:
        return max(1, budget // 64)

    def resolution(self, budget: int) -> int:
        # Sizes move in coding-pass steps, so 0.1 % of the budget is as fine as it gets.
        return max(1, budget // 1000)


def _bpp_key(budget: int, size: tuple[int, int]) -> float:
    return round(8.0 * budget / (size[0] * size[1]), 3)


def timed_save(image: Image.Image, pil_format: str, options: dict) -> Encode:
    """Save `image` to memory with Pillow and time it."""
    buf = BytesIO()
    start = time.perf_counter()
    image.save(buf, pil_format, **options)
    seconds = time.perf_counter() - start
    return Encode(buf.getvalue(), seconds)


def best_under_budget(size_at: Callable[[int], int], known: dict[int, int], lowest: int,
                      highest: int, budget: int, guess: int, step: int = 1,
                      resolution: int = 1) -> int | None:
    """Largest setting in [lowest, highest] with size_at(setting) <= budget, assuming sizes grow
    with the setting; None when size_at(lowest) > budget. `known` holds sizes measured so far
    (size_at adds to it); the answer is exact to `resolution`."""
    target = math.log(budget)

    def secant(a: int, b: int) -> float | None:
        # Where the straight line through (setting, log size) at a and b reaches the budget.
        la, lb = math.log(max(inside[a], 1)), math.log(max(inside[b], 1))
        if a == b or (lb - la) * (b - a) <= 0:
            return None
        return a + (target - la) * (b - a) / (lb - la)

    inside = {v: s for v, s in known.items() if lowest <= v <= highest}
    lo = max((v for v, s in inside.items() if s <= budget), default=None)
    hi = min((v for v, s in inside.items() if s > budget and (lo is None or v > lo)),
             default=None)
    if lo is None and hi is None:
        value = min(max(guess, lowest), highest)
        inside[value] = size_at(value)
        if inside[value] <= budget:
            lo = value
        else:
            hi = value
    # While one side of the answer is unseen, plain strides double and secant aims are pushed
    # further out each time they fall short; `bisect` is set after a secant step that failed
    # to halve the bracket, so rough size curves still converge.
    stride, push, bisect = step, 0, False
    while True:
        if lo is not None and hi is not None:
            if hi - lo <= resolution:
                return lo
            width = hi - lo
            est = None if bisect else secant(lo, hi)
            value = (lo + hi) // 2 if est is None else math.floor(est)
            value = min(max(value, lo + 1), hi - 1)
        elif lo is not None:
            # Everything measured fits: aim just past the extrapolated answer.
            if lo == highest:
                return highest
            below = [v for v in inside if v < lo]
            est = secant(max(below), lo) if below else None
            value = lo + stride if est is None else math.floor(est) + resolution + push
            value = min(max(value, lo + 1), highest)
        else:
            # Everything measured is over: aim just below the extrapolated answer.
            if hi == lowest:
                return None
            above = [v for v in inside if v > hi]
            est = secant(hi, min(above)) if above else None
            value = hi - stride if est is None else math.floor(est) - push
            value = max(min(value, hi - 1), lowest)
        bracketed = lo is not None and hi is not None
        inside[value] = size_at(value)
        if inside[value] <= budget:
            lo = value if lo is None else max(lo, value)
        else:
            hi = value if hi is None else min(hi, value)
        if bracketed:
            bisect = not bisect and 2 * (hi - lo) > width
        elif est is None:
            stride *= 2
        else:
            push = max(resolution, 2 * push)


def peer_codecs(colour: bool = False) -> dict[str, PeerCodec]:
    """Fresh adapters (each with an empty encode cache) for every peer codec; ``colour``: for
    RGB images (JPEG 4:2:0, JPEG 2000 with its colour transform)."""
    jpeg = {"optimize": True, **({"subsampling": "4:2:0"} if colour else {})}
    return {
        "jpeg": QualityCodec("jpeg", "JPEG", "jpg", 1, 95, jpeg),
        "jpeg2000": Jpeg2000Codec(colour),
        "webp": QualityCodec("webp", "WEBP", "webp", 0, 100, {"method": 6}),
        "avif": QualityCodec("avif", "AVIF", "avif", 0, 100,
                             {"speed": AVIF_COLOUR_SPEED if colour else AVIF_SPEED}),
    }
