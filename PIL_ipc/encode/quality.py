"""A quality target: the smallest file whose decoded PSNR is at least a given value, found by
searching the budgets of a fixed ladder (a budget search for each)."""

from __future__ import annotations

import math

import numpy as np

from .. import decode, metrics
from .planner import Coded, Planner
from .search import DEFAULT_EFFORT, BudgetTooSmall, search, smallest_file
from .tuning import BUDGET_BASE, BUDGET_RATIO, DB_PER_DOUBLING


def budget_rung(k: int) -> int:
    """Rung ``k`` of the budget ladder, in bytes."""
    return math.ceil(BUDGET_BASE * BUDGET_RATIO ** k)


def search_psnr(planner: Planner, psnr: float, tonal_iterations: int, *,
                workers: int = 0, effort: int = DEFAULT_EFFORT,
                **fixed: int | None) -> Coded:
    """The smallest file whose decoded PSNR is at least ``psnr`` dB: a :func:`search` for
    each budget tried, on the ladder of :func:`budget_rung`, until the smallest rung that
    meets the target is next to one that misses it (secant steps in log-budget, then
    bisection).  When no budget up to about 9 bits per pixel meets it, the file of that
    largest budget.  The PSNR is that of the decoded file (the decoder's own result)."""
    if not psnr > 0:
        raise ValueError(f"psnr must be > 0, got {psnr!r}")
    h, w = planner.shape
    # what the decoded file is measured against: grey or RGB pixels (not alpha)
    reference = planner.rgb if planner.colour else planner.pixels
    top = math.ceil(math.log((1.1 * h * w + planner.overhead + 256) / BUDGET_BASE)
                    / math.log(BUDGET_RATIO))
    tried: dict[int, tuple[float, Coded | None]] = {}

    def quality(k: int) -> float:
        if k not in tried:
            try:
                c = search(planner, budget_rung(k), tonal_iterations, workers=workers,
                           effort=effort, **fixed)
            except BudgetTooSmall:
                tried[k] = (-math.inf, None)
            else:
                decoded = decode.decode(planner.file(c, metadata=False))
                if decoded.ndim > np.ndim(reference):  # LA: the grey band
                    decoded = decoded[..., 0]
                decoded = decoded[..., :3] if decoded.ndim == 3 else decoded  # RGBA: RGB
                tried[k] = (metrics.psnr(reference, decoded), c)
        return tried[k][0]

    def rung_for(bytes_: float) -> int:
        return min(max(round(math.log(max(bytes_, 1) / BUDGET_BASE)
                             / math.log(BUDGET_RATIO)), 0), top)

    per_rung = DB_PER_DOUBLING * math.log2(BUDGET_RATIO)
    k = rung_for(smallest_file(planner, {n: v for n, v in fixed.items() if v is not None}))
    k = max(k, rung_for(0.2 * 2 ** ((psnr - 32.0) / DB_PER_DOUBLING) * h * w / 8))
    lo, hi = -1, top + 1  # rungs known to miss / to meet (sentinels)
    weight = {lo: 1.0, hi: 1.0}  # the Illinois rule: halve the weight of an end that stays
    kept = None
    while True:
        q = quality(k)
        if q >= psnr:
            hi, moved = k, "hi"
        else:
            lo, moved = k, "lo"
        if hi - lo <= 1:
            break
        weight[k] = 1.0
        if kept == moved:  # the other end stayed twice in a row
            other = hi if moved == "lo" else lo
            weight[other] *= 0.5
        kept = moved
        ends = [(j, tried[j][0]) for j in (lo, hi) if j in tried and math.isfinite(tried[j][0])]
        if len(ends) == 2 and ends[1][1] > ends[0][1]:
            (j0, q0), (j1, q1) = ends
            r0, r1 = (q0 - psnr) * weight[j0], (q1 - psnr) * weight[j1]
            guess = j0 + r0 * (j1 - j0) / (r0 - r1)
        elif math.isfinite(q):
            guess = k + (psnr - q) / per_rung
        else:  # below the smallest file: double the budget
            guess = k + 1 / math.log2(BUDGET_RATIO)
        # a rung strictly inside the bracket, rounded towards the end just probed
        k = min(max(math.ceil(guess) if moved == "lo" else math.floor(guess), lo + 1), hi - 1)
    if hi > top:  # the target is out of reach: the largest budget's file
        quality(top)
        hi = top
    coded = tried[hi][1]
    if coded is None:
        raise BudgetTooSmall("no file of this image meets the target", None)
    return coded
