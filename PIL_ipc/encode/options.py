"""Every encoder option, once: the table :data:`OPTIONS`.

Each row gives an option's type, range, default, the value a fixed-threshold encode takes when
it is left at None, the choices the layout search moves along, its help text, whether it is a
field of the layout the search chooses, and whether the file's informative text records it.
From this table come :class:`EncodeOptions` (the keywords of ``Image.save(..., format="IPC")``
and their validation), the :class:`~PIL_ipc.encode.layout.Layout` fields, the ``ipc`` command
line's encoder flags and the Pillow plugin's reading of the recorded settings.  Importing this
module imports neither numpy nor numba: the command line builds its flags from it at start-up.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import IpcError


class OptionError(IpcError):
    """An encoder option is out of its range, of the wrong type, or conflicts with another."""


#: Where the edges of a colour image come from (the ``edge_source`` option).
EDGE_SOURCES = ("luma", "colour")


@dataclass(frozen=True)
class Option:
    """One encoder option (a row of :data:`OPTIONS`)."""

    name: str
    #: float, int, bool or str
    kind: type
    help: str
    #: the value of EncodeOptions when not given (None: chosen by the encoder)
    default: object = None
    #: (low, high) inclusive bounds of a number; ``low_open``: low itself excluded
    bounds: tuple[float, float] | None = None
    low_open: bool = False
    #: a float option that may be infinite (the bound's high end, meaning "none")
    infinite: bool = False
    #: the allowed values of a str option
    values: tuple[str, ...] = ()
    #: a target chooses the file's size (at most one is given)
    target: bool = False
    #: a field of the layout the search chooses; ``fixed`` is its value when left at None
    layout: bool = False
    fixed: object = None
    #: ordered choices the layout search moves along (None: not searched)
    choices: tuple | None = None
    #: recorded in the file's informative text (tEXt) under its name, unless it is ``unrecorded``
    recorded: bool = False
    unrecorded: object = None
    #: command-line metavar and short flag
    metavar: str = ""
    short: str = ""

    @property
    def flag(self) -> str:
        """The command line's flag: ``--min-length`` for ``min_length``; a bool whose default
        is True is turned off by ``--no-NAME``."""
        name = self.name.replace("_", "-")
        return f"--no-{name}" if self.kind is bool and self.default is True else f"--{name}"

    def text(self, value: object) -> str | None:
        """``value`` as the informative text records it (None: not recorded)."""
        if not self.recorded or value == self.unrecorded:
            return None
        if self.kind is bool:
            return "1" if value else "0"
        if self.kind is float:
            return f"{float(value):g}"
        return str(value)

    def parse_text(self, text: str) -> object:
        """The value of a recorded setting (ValueError if it is not one)."""
        return bool(int(text)) if self.kind is bool else self.kind(text)

    def check(self, value: object) -> object:
        """``value`` validated and normalised (whole-number floats of an int option become
        ints, as Pillow's own integer options take them); OptionError otherwise."""
        if value is None:
            if self.default is not None:
                raise OptionError(f"{self.name} must not be None")
            return None
        name = self.name
        if self.kind is bool:
            if type(value).__name__ not in ("bool", "bool_"):
                raise OptionError(f"{name} must be a bool, got {value!r}")
            return bool(value)
        if self.kind is str:
            if value not in self.values:
                raise OptionError(f"{name} must be one of {self.values}, got {value!r}")
            return value
        if self.kind is int:
            whole = isinstance(value, numbers.Integral) or (
                isinstance(value, numbers.Real) and math.isfinite(value)
                and float(value).is_integer())
            if isinstance(value, bool) or not whole:
                raise OptionError(f"{name} must be an integer (a whole-number float is taken), "
                                  f"got {value!r}")
            value = int(value)
        else:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise OptionError(f"{name} must be a finite number, got {value!r}")
            value = float(value)
            if math.isnan(value) or (math.isinf(value) and not self.infinite):
                raise OptionError(f"{name} must be a finite number, got {value!r}")
        low, high = self.bounds or (-math.inf, math.inf)
        if value < low or value > high or (self.low_open and value == low):
            raise OptionError(f"{name} must be {self.range_text()}, got {value!r}")
        return value

    def range_text(self) -> str:
        """The allowed range in words: "in 1..255", "> 0", "in (0, 1]", ">= 0 (inf = none)"."""
        low, high = self.bounds or (-math.inf, math.inf)
        show = (lambda v: f"{v:g}") if self.kind is float else str
        if math.isinf(high):
            return (f"> {show(low)}" if self.low_open else f">= {show(low)}") + \
                (" (inf = none)" if self.infinite else "")
        if self.low_open:
            return f"in ({show(low)}, {show(high)}]"
        return f"in {show(low)}..{show(high)}"


_QUALITY_HELP = ("Pillow's knob, 0..100: the smallest file whose decoded PSNR is at least "
                 "20 + quality / 4 dB (20 dB at 0, 45 dB at 100)")

#: Every option, in the order of the command line's help (targets first).
OPTIONS: tuple[Option, ...] = (
    Option("quality", float, _QUALITY_HELP, bounds=(0, 100), target=True, metavar="Q",
           short="-q"),
    Option("psnr", float, "the smallest file whose decoded PSNR is at least this many dB",
           bounds=(0, 100), low_open=True, target=True, metavar="DB"),
    Option("bpp", float, "the best decoded file within this many bits per pixel",
           bounds=(0, math.inf), low_open=True, target=True, metavar="B"),
    Option("size", int, "the best decoded file within this many bytes",
           bounds=(1, math.inf), target=True, metavar="BYTES"),
    Option("threshold", float, "the paper's knob, no search: the smallest step height (grey "
           "levels) that becomes an edge; higher = fewer edges, smaller files",
           bounds=(0, math.inf), target=True, layout=True, fixed=24.0, recorded=True,
           metavar="T"),
    Option("effort", int, "how hard a target's search works: 0 scores a few starting layouts, "
           "1 also walks the layout fields from the best, 2 also walks the second family of "
           "layouts and fits two finalists (slowest; see docs/tuning.md for its cost)",
           default=1, bounds=(0, 2), metavar="E"),
    Option("spacing", int, "source point spacing along the edges, in band pixels",
           bounds=(1, 255), layout=True, fixed=4,
           choices=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48), metavar="D"),
    Option("levels", int, "quantisation levels of the stored values", bounds=(2, 256),
           layout=True, fixed=64,
           choices=(4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256), metavar="L"),
    Option("contrast", float, "Perona-Malik contrast parameter K, in grey levels", default=8.0,
           bounds=(0, math.inf), low_open=True, recorded=True, metavar="K"),
    Option("iterations", int, "Perona-Malik steps before edge detection (0: no denoising; "
           "the paper uses 30)", bounds=(0, 10000), layout=True, fixed=30,
           choices=(0, 10, 30, 60, 120), recorded=True, metavar="N"),
    Option("thin", bool, "thin the edges to one pixel", default=True,
           recorded=True),
    Option("hysteresis", float, "keep weaker edge pixels, down to this fraction of the "
           "threshold, where they continue a strong edge (1: the paper's plain threshold)",
           bounds=(0, 1), low_open=True, layout=True, fixed=0.5, choices=(0.3, 0.5, 1.0),
           recorded=True, metavar="H"),
    Option("min_length", int, "drop edge chains shorter than this many pixels",
           bounds=(0, 1_000_000), layout=True, fixed=10, choices=(0, 5, 10, 20, 40, 80, 160),
           recorded=True, metavar="N"),
    Option("tonal", int, "tonal optimisation iterations (least-squares stored values; 0: the "
           "pixel values, as the paper)", default=6, bounds=(0, 1000), recorded=True,
           metavar="N"),
    Option("lattice", int, "step of a regular lattice of seed points besides the edges "
           "(0: none)", bounds=(0, 65535), layout=True, fixed=0,
           choices=(0, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64),
           recorded=True, unrecorded=0, metavar="G"),
    Option("edge_seeds", float, "also store the edge pixels this many grey levels from the "
           "mean of their non-edge neighbours (inf: none)", bounds=(0, math.inf), infinite=True,
           layout=True, fixed=math.inf,
           choices=(math.inf, 48.0, 32.0, 24.0, 16.0, 12.0, 8.0, 6.0, 4.0),
           recorded=True, unrecorded=math.inf, metavar="D"),
    Option("chroma_levels", int, "colour: quantisation levels of the chroma values",
           bounds=(2, 256), layout=True, fixed=32,
           choices=(4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128), metavar="L"),
    Option("chroma_stride", int, "colour: a chroma value at every this many source points",
           bounds=(1, 255), layout=True, fixed=1, choices=(1, 2, 3, 4, 6, 8), metavar="S"),
    Option("edge_source", str, "colour: edges from the gradient of luma or of all channels",
           values=EDGE_SOURCES, layout=True, fixed="colour", choices=EDGE_SOURCES,
           metavar="{luma,colour}"),
    Option("exact", bool, "keep the colour under fully transparent pixels (default: drop it, "
           "as WebP's exact)", default=False),
)

BY_NAME = {o.name: o for o in OPTIONS}
#: The layout fields, in the order a Layout lists them.
LAYOUT_FIELDS = tuple(o.name for o in OPTIONS if o.layout)
#: The search's choices of each layout field it moves along.
CHOICES = {o.name: o.choices for o in OPTIONS if o.choices is not None}
#: The settings a file's informative text records, by text key.
RECORDED = {o.name: o for o in OPTIONS if o.recorded}
#: The quality of a save without options (see psnr_for_quality).
DEFAULT_QUALITY = 50


def psnr_for_quality(quality: float) -> float:
    """The decoded PSNR in dB that ``quality`` (0..100) asks for: 20 + quality / 4, from
    20 dB at 0 to 45 dB at 100 (about the PSNR of JPEG's quality 95 on photographs)."""
    return 20.0 + float(quality) / 4.0


class _Checked:
    """Validation and derived values of EncodeOptions (its fields come from OPTIONS)."""

    def __post_init__(self) -> None:
        for option in OPTIONS:
            object.__setattr__(self, option.name, option.check(getattr(self, option.name)))
        given = [o.name for o in OPTIONS if o.target and getattr(self, o.name) is not None]
        if len(given) > 1:
            raise OptionError(f"give one of quality, psnr, bpp, size and threshold, not "
                              f"{' and '.join(given)}")

    @classmethod
    def from_mapping(cls, options: Mapping) -> EncodeOptions:
        """Options from a mapping such as Pillow's ``encoderinfo``; unknown keys are ignored."""
        return cls(**{k: v for k, v in options.items() if k in BY_NAME})

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

    def pinned(self) -> dict[str, object]:
        """The layout fields given (every other one is searched under a target)."""
        return {name: getattr(self, name) for name in LAYOUT_FIELDS
                if name != "threshold" and getattr(self, name) is not None}

    def fixed_layout(self, colour: bool) -> dict[str, object]:
        """Every layout field: as given, else its fixed-threshold value (a grey image's edges
        come from its luma)."""
        fields = {name: BY_NAME[name].fixed if getattr(self, name) is None
                  else getattr(self, name) for name in LAYOUT_FIELDS}
        if not colour:
            fields["edge_source"] = "luma"
        return fields


def _docstring() -> str:
    lines = ["Encoder settings; every field is also a keyword of ``Image.save(..., "
             'format="IPC")``.', "",
             "At most one of quality, psnr, bpp, size and threshold (the targets) chooses the "
             "file's size; without any, ``quality=DEFAULT_QUALITY``.  A layout field left at "
             "None is searched under a target and takes its fixed value otherwise.", ""]
    for o in OPTIONS:
        default = "default none" if o.default is None else f"default {o.default!r}"
        if o.name == "quality":
            default = f"default {DEFAULT_QUALITY} when no other target is given"
        if o.layout:
            default = f"fixed {o.fixed!r}" + (", searched under a target" if o.choices else "")
        lines.append(f"{o.name}: {o.help} ({default}).")
    return "\n".join(lines)


EncodeOptions = dataclasses.make_dataclass(
    "EncodeOptions",
    [(o.name, f"{o.kind.__name__} | None",
      dataclasses.field(default=o.default)) for o in OPTIONS],
    bases=(_Checked,), frozen=True)
EncodeOptions.__module__ = __name__  # (where pickle finds it)
EncodeOptions.__doc__ = _docstring()
