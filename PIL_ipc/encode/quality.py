"""A quality target: the smallest file whose decoded PSNR is at least a given value, found by
searching the budgets of a fixed ladder (a budget search for each)."""

from __future__ import annotations

import math

import numpy as np

from .. import decode, metrics
from .planner import Coded, Planner
from .report import Progress, Stage
from .search import DEFAULT_EFFORT, BudgetTooSmall, search, smallest_file
from .tuning import BUDGET_BASE, BUDGET_RATIO, DB_PER_DOUBLING


def budget_rung(k: int) -> int:
    """Rung ``k`` of the budget ladder, in bytes."""
    return math.ceil(BUDGET_BASE * BUDGET_RATIO ** k)


def probes_estimate(top: int) -> int:
    """The budget searches a quality target is taken to probe on a ladder of rungs 0..top:
    as many as bisecting it takes (8 from 0.014 to 7 Mpixel).  An estimate, for progress
    reports only: the secant steps usually need fewer (4 to 9 on small test images), and at
    times more (17)."""
    return max(math.ceil(math.log2(top + 2)), 1)


def probe_share(probe: int, expected: int) -> tuple[float, float]:
    """(start, span) of the budget search ``probe`` (from 0) on the quality stage of
    ``expected`` probes: one each, but from the last expected one on half of what is left,
    so that done reaches the total only when the target is met."""
    if probe < expected - 1:
        return float(probe), 1.0
    left = 0.5 ** (probe - expected + 1)
    return expected - left, left / 2


def file_psnr(planner: Planner, data: bytes) -> float:
    """The PSNR of the file ``data`` of the planner's image as the decoder gives it, against
    its grey or RGB pixels (not alpha)."""
    reference = planner.rgb if planner.colour else planner.pixels
    decoded = decode.decode(data)
    if decoded.ndim > np.ndim(reference):  # LA: the grey band
        decoded = decoded[..., 0]
    decoded = decoded[..., :3] if decoded.ndim == 3 else decoded  # RGBA: RGB
    return metrics.psnr(reference, decoded)


def search_psnr(planner: Planner, psnr: float, tonal_iterations: int, *,
                workers: int = 0, effort: int = DEFAULT_EFFORT,
                progress: Progress | None = None, edge_sides: bool = True,
                stride: int = 1, slack: float = math.inf, **fixed: int | None) -> Coded:
    """The smallest file whose decoded PSNR is at least ``psnr`` dB: a :func:`search` for
    each budget tried, on the ladder of :func:`budget_rung`, until the smallest rung that
    meets the target is next to one that misses it (secant steps in log-budget, then
    bisection).  When no budget up to about 9 bits per pixel meets it, the file of that
    largest budget.  The PSNR is that of the decoded file (the decoder's own result).
    ``stride``: the search ends when the rungs that miss and meet are at most this far
    apart and the one that meets does so by at most ``slack`` dB, and steps at least this
    far from the rung just probed while they are further apart (a coarser, shorter search).

    ``progress`` (report.Progress): the "quality" stage, its total the budget searches
    :func:`probes_estimate` expects, each followed by its layouts; a probe past all but the
    last of them takes half of what is left, so that done reaches the total only at the end."""
    if not psnr > 0:
        raise ValueError(f"psnr must be > 0, got {psnr!r}")
    h, w = planner.shape
    top = math.ceil(math.log((1.1 * h * w + planner.overhead + 256) / BUDGET_BASE)
                    / math.log(BUDGET_RATIO))
    tried: dict[int, tuple[float, Coded | None]] = {}
    expected = probes_estimate(top)
    stage = Stage(progress, "quality", expected)

    def quality(k: int) -> float:
        if k not in tried:
            start, span = probe_share(len(tried), expected)
            try:
                c = search(planner, budget_rung(k), tonal_iterations, workers=workers,
                           effort=effort, progress=stage.part(start, span),
                           edge_sides=edge_sides, **fixed)
            except BudgetTooSmall:
                tried[k] = (-math.inf, None)
            else:
                tried[k] = (file_psnr(planner, planner.file(c, metadata=False)), c)
            stage.to(start + span)
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
        if hi - lo <= 1 or (hi - lo <= stride and hi in tried
                                and tried[hi][0] <= psnr + slack):
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
        if hi - lo > stride:  # still coarse: a stride at least
            k = max(k, lo + stride) if moved == "lo" else min(k, hi - stride)
            k = min(max(k, lo + 1), hi - 1)
    if hi > top:  # the target is out of reach: the largest budget's file
        quality(top)
        hi = top
    coded = tried[hi][1]
    if coded is None:
        raise BudgetTooSmall("no file of this image meets the target", None)
    stage.end()
    return coded
