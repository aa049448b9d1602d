"""Edge-pixel sides for a grey file (format version 5, the SIDE chunk: format.sides).

The PDE gives each edge pixel the mean of both sides of its edge; on drawn and rendered images
most of the decoded error sits there (docs/error-split.md: 60-90 % at 0.1 bpp).  Given a coded
file, the sides are chosen on its decoded solution: an eligible edge pixel takes its brightest or
darkest candidate where that lowers its squared error by more than SIDE_MARGIN.  Under a budget
the layout is fitted again to the budget less the chunk's bytes first; the values are then
fitted again through the operator with the sides.  The file with sides is kept only where its
decoded error (the decoder's own) is lower.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .. import decode
from ..format import container, reader, sides
from ..solver import inpaint
from . import tonal
from .planner import CHUNK_OVERHEAD, Coded, Planner
from .tuning import (
    FINAL_STEPS,
    SIDE_MARGIN,
    SIDE_MARGINS,
    SIDE_REFIT_DB,
    SIDE_REFITS,
    SIDE_SLACK,
    SIDE_TONAL_ITERATIONS,
)


def choose(u: np.ndarray, pixels: np.ndarray, positions: np.ndarray,
           candidates: np.ndarray, margin: float = SIDE_MARGIN) -> np.ndarray:
    """The choice (sides.MEAN, HIGH, LOW) of each eligible pixel, from the decoded solution
    ``u`` and the original ``pixels`` (H x W): a side where its squared error is more than
    ``margin`` below the mean's."""
    flat = u.reshape(-1)
    target = pixels.reshape(-1)[positions].astype(np.float64)
    vals = np.where(candidates >= 0, flat[np.maximum(candidates, 0)], np.nan)
    hi, lo = np.nanmax(vals, axis=1), np.nanmin(vals, axis=1)
    keep = (flat[positions] - target) ** 2 - margin
    e_hi, e_lo = (hi - target) ** 2, (lo - target) ** 2
    out = np.full(len(positions), sides.MEAN, dtype=np.uint8)
    out[(e_hi < keep) & (e_hi <= e_lo)] = sides.HIGH
    out[(e_lo < keep) & (e_lo < e_hi)] = sides.LOW
    return out


def taken_sources(u: np.ndarray, positions: np.ndarray, candidates: np.ndarray,
                  choices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pixels that take a side, the candidate each takes on the solution ``u``), flat: the
    decoder's choice among the candidates (format.sides.derive), as fixed copies."""
    taken = choices != sides.MEAN
    vals = np.where(candidates >= 0, u.reshape(-1)[np.maximum(candidates, 0)], np.nan)
    high = np.nanargmax(np.where(np.isnan(vals), -np.inf, vals), axis=1)
    low = np.nanargmin(np.where(np.isnan(vals), np.inf, vals), axis=1)
    pick = np.where(choices == sides.HIGH, high, low)
    return positions[taken], candidates[np.arange(len(positions)), pick][taken]


def refitted(planner: Planner, coded: Coded, copies: tuple[np.ndarray, np.ndarray],
             budget: int | None) -> Coded:
    """``coded`` (with sides) with its values fitted again through the decoder's operator with
    the sides, ``copies`` = (pixels that take a side, the candidate each takes: taken_sources),
    coded within the budget; ``coded`` where that decodes no better."""
    dst, src = copies

    def copy(field: np.ndarray) -> None:
        field[dst] = field[src]

    def copy_adjoint(field: np.ndarray) -> None:
        np.add.at(field, src, field[dst])
        field[dst] = 0.0

    points, _ = planner.points(coded.layout)
    known = points.known_mask()
    known.reshape(-1)[dst] = True
    op = inpaint.Inpainter(known, points.band, derive=copy, derive_adjoint=copy_adjoint)
    fit = tonal.Fitter(planner.pixels, known, points.band, points.positions,
                       steps=FINAL_STEPS, op=op)
    x, _ = fit.fit(SIDE_TONAL_ITERATIONS, start=coded.values)
    chunk = _chunk_bytes(coded.sides)
    payloads, size, _ = planner.code(coded.layout, x, None if budget is None else budget - chunk)
    if payloads is None:
        return coded
    new = replace(coded, payloads=payloads, size=size + chunk, values=x)
    new = replace(new, mse=_squared_error(planner, planner.file(new, metadata=False)))
    return new if new.mse < coded.mse else coded


def _chunk_bytes(chunk: container.Sides) -> int:
    """Bytes a SIDE chunk adds to a file."""
    return CHUNK_OVERHEAD + container.SIDE_HEAD_LENGTH + len(chunk.payload)


def _squared_error(planner: Planner, data: bytes) -> float:
    """Mean squared error of a file's decode (the decoder's own pixels)."""
    out = decode.decode(data).astype(np.float64)
    out = out[..., 0] if out.ndim == 3 else out  # LA: the grey band
    return float(np.mean((out - planner.pixels) ** 2))


def with_sides(planner: Planner, coded: Coded, margin: float = SIDE_MARGIN
               ) -> tuple[Coded, tuple[np.ndarray, np.ndarray]]:
    """``coded`` with the sides chosen on its decode (its size grows by the SIDE chunk's; its
    mse is the decoder's), and the copies they make (taken_sources: the candidates' values
    are the band phase's, the same with the sides as without)."""
    f = reader.parse(planner.file(coded, metadata=False))
    edges, points, u = decode.grey_solution(f)
    positions, candidates = sides.eligible(edges, points.known_mask(), points.band)
    choices = choose(u, planner.pixels, positions, candidates, margin)
    chunk = container.Sides(len(positions), sides.encode(choices, positions, edges.shape))
    grown = replace(coded, sides=chunk, size=coded.size + _chunk_bytes(chunk))
    grown = replace(grown, mse=_squared_error(planner, planner.file(grown, metadata=False)))
    return grown, taken_sources(u, positions, candidates, choices)


def improve(planner: Planner, coded: Coded, budget: int | None,
            refit: Callable[[int], Coded | None]) -> Coded:
    """``coded``, or a file of its layout with edge sides (grey images only) that decodes
    better: at each price of SIDE_MARGINS in turn until one gives such a file, within
    ``budget`` (None: none), fitted again by ``refit(smaller budget)`` (SIDE_REFITS times at
    most) to leave room for the SIDE chunk.  Both measured by the decoder."""
    if planner.colour or coded.sides is not None:
        return coded
    base = replace(coded, mse=_squared_error(planner, planner.file(coded, metadata=False)))
    for margin in SIDE_MARGINS:
        found = _within(planner, base, budget, refit, margin, base.mse)
        if found is not None:
            return found
    return base


def _within(planner: Planner, coded: Coded, budget: int | None,
            refit: Callable[[int], Coded | None], margin: float,
            base_mse: float) -> Coded | None:
    """A file of ``coded``'s layout with sides at ``margin`` within the budget that decodes
    better than ``base_mse``, or None."""
    source = coded
    candidate, copies = with_sides(planner, coded, margin)
    for attempt in range(SIDE_REFITS + 1):
        if candidate.mse >= base_mse:
            return None
        if budget is None or candidate.size <= budget:
            return refitted(planner, candidate, copies, budget)
        chunk = candidate.size - source.size
        gain = 10.0 * math.log10(base_mse / candidate.mse)  # dB
        if attempt == SIDE_REFITS or gain <= SIDE_REFIT_DB * chunk / budget:
            return None
        smaller = refit(budget - chunk - math.ceil(SIDE_SLACK * budget))
        if smaller is None:
            return None
        source = smaller
        candidate, copies = with_sides(planner, smaller, margin)
    return None
