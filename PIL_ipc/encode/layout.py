"""What the search chooses (a Layout: one field per layout field of the option table) and what
a layout becomes once its values are fitted and coded (Coded)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..format import container
from .options import LAYOUT_FIELDS

#: What the search chooses: one field per layout field of the option table (threshold inf:
#: no edges; lattice 0: no seed lattice; edge_seeds inf: none).
Layout = dataclasses.make_dataclass("Layout", [(name, object) for name in LAYOUT_FIELDS],
                                    frozen=True)
Layout.__module__ = __name__
Layout.__doc__ = ("A layout: " + ", ".join(LAYOUT_FIELDS) + " (see options.OPTIONS).")


@dataclass
class Coded:
    """A layout with fitted values, coded: the values payloads (luma or grey, then chroma) and
    the size of the file they make."""

    layout: Layout
    payloads: tuple[bytes, ...]
    size: int
    mse: float
    values: np.ndarray = field(repr=False)
    #: the smallest values payload of the fitted values (rounding offset 0) over the
    #: raw-value payload the size estimate uses, both estimated: the estimate factor at
    #: which the layout just fits (nan: not measured)
    growth: float = math.nan
    #: the SIDE chunk of a grey file (format version 5: encode.sides), or None
    sides: container.Sides | None = None
