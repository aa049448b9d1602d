"""The layout search: the best file within a byte budget, chosen by decoded quality.

For a budget the search fits, for each candidate layout, the lowest edge threshold whose file
is estimated to fit, scores the candidates by the decoded error after a short tonal
optimisation through the real inpainting operator (solved roughly: a few multigrid steps per
solve), walks the layout fields from the best start (a coordinate descent), and refines the
best few in full.  How many candidates, and how long a fit scores them, is the effort level
(tuning.EFFORTS).  The stored values are then quantised with a rounding offset (a dead zone
towards the predicted level) chosen so that the file fits.  The search works on sizes; the
file is built by the planner at the end.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from ..errors import IpcError
from ..metrics import psnr_of_mse
from . import analysis, sides
from .options import BY_NAME, CHOICES
from .planner import Coded, Layout, Planner
from .report import Progress, Stage
from .tuning import (
    BATCH,
    CHROMA_ALTERNATIVE,
    CHROMA_FINAL_ITERATIONS,
    CHROMA_SCORE_ITERATIONS,
    COLOUR_FIELDS,
    COLOUR_START_EDGES,
    EFFORTS,
    FINAL_STEPS,
    FIT_STEPS,
    FLAT_CHROMA_SHARE,
    GROWTH_SHARE,
    HIGH_RATE,
    MIN_GAIN,
    MIN_GAIN_HIGH_RATE,
    MOVE_REACH,
    RETRY_FACTORS,
    THRESHOLDS,
    TONAL_RATE_FACTOR,
)

_log = logging.getLogger("PIL_ipc")

#: The search effort of an encode that does not say.
DEFAULT_EFFORT = BY_NAME["effort"].default
#: Layouts a walk is taken to score per field it walks where it has no bound on the layouts
#: it scores (Effort.max_moves): an estimate, for progress reports only (walks of 8 to 13
#: fields scored 22 to 42 layouts on two Kodak images at 0.15 to 1 bpp).
FIELD_LAYOUTS = 3


class BudgetTooSmall(IpcError):
    """No layout fits the byte budget: it is below the smallest file the image allows.
    ``smallest``: the size in bytes of a budget that fits (the smallest starting layout)."""

    def __init__(self, message: str, smallest: int | None = None):
        super().__init__(message)
        self.smallest = smallest


def starts(bpp: float, sparsity: Sequence[float],
            colour_image: bool = False) -> list[dict[str, int]]:
    """Diverse starting layouts at a budget of ``bpp`` bits per pixel: lattices ``sparsity``
    times sparser than one taking about 60 % of the budget, or none (edges only)."""
    # (a grey image has no chroma: those fields are inert)
    chroma = {"chroma_levels": BY_NAME["chroma_levels"].fixed,
              "chroma_stride": BY_NAME["chroma_stride"].fixed, "edge_source": "luma"}
    if colour_image:
        # chroma of photos is smooth: coarser and sparser than luma at low rates
        chroma = {"chroma_levels": 16 if bpp >= HIGH_RATE else 12 if bpp >= 0.15 else 8,
                  "chroma_stride": 1 if bpp >= HIGH_RATE else 2,
                  "edge_source": COLOUR_START_EDGES}
    # A lattice point costs ~3-4 bits (its value; the position is nearly free).  Sparse
    # lattices (a few % of the budget) matter: they pin down smooth fills between edges.
    dense = math.sqrt(3.5 / max(bpp, 1e-6) / 0.6)
    ladder = CHOICES["lattice"][1:]
    steps = sorted({min(ladder, key=lambda g: abs(math.log(g / (k * dense)))) for k in sparsity})
    # (at 0.4 and 0.8 bpp the walks ended at spacing 1-3 on the photos: starting there
    # saves them 3-5 steps)
    base = {"spacing": 2 if bpp >= 2 * HIGH_RATE else 3 if bpp >= HIGH_RATE else 6 if bpp >= 0.15
            else 8 if bpp >= 0.07 else 12,
            "levels": 32 if bpp >= 0.4 else 16 if bpp >= 0.07 else 8}
    # edges from weak continuations and short chains (kept) or from strong, long chains only;
    # from HIGH_RATE on the strong ones never started the best walk on 20 test cases (leaving
    # them out there: 7 % less CPU, no result worse)
    styles = ((10, 0.5),) if bpp >= HIGH_RATE else ((10, 0.5), (40, 1.0))
    starts = [{**base, **chroma, "lattice": g, "min_length": m, "hysteresis": hy,
               "iterations": 30, "edge_seeds": math.inf}
              for m, hy in styles for g in [0, *steps]]
    # Every pixel stored (lattice 1): no inpainting at all, the values predicted in 2-D: on
    # flat-coloured images at high rates this near-lossless coding beats any sparse layout
    # by 20 dB (pikachu at 0.8 bpp: 58.9 against 37.1 dB).  It is a start, not a walk
    # step: lattices 1 and 2 among the walk's choices trap it (svalbard at 0.8 bpp: -3 dB).
    # Below 0.15 bpp it never fits on the test images, and trying costs a fifth of a second.
    if bpp >= 0.15:
        starts.append({**base, **chroma, "lattice": 1, "min_length": 40, "hysteresis": 1.0,
                       "iterations": 30, "edge_seeds": math.inf})
    return starts


def neighbours(name: str, value: float, reach: int = 1) -> list[float]:
    """The choices up to ``reach`` steps either side of ``value`` (a lattice never turns on
    or off here; edge seeds turn on at a moderate and at a dense setting)."""
    choices = CHOICES[name]
    if name == "edge_seeds" and math.isinf(value):
        return [24.0, 8.0]
    i = choices.index(value) if value in choices else \
        min(range(1, len(choices)), key=lambda j: abs(choices[j] - value))
    out = [choices[j] for j in range(i - reach, i + reach + 1) if 0 <= j < len(choices)]
    if name == "lattice":
        out = [c for c in out if (c == 0) == (value == 0)]
    return [c for c in out if c != value]



class Search:
    """One budget search over a planner's layouts: the layouts scored so far, the pool of
    scoring threads, and the steps of the search as methods (:meth:`run` calls them in order).

    ``fixed`` pins layout fields (None = search it); ``effort`` indexes tuning.EFFORTS.
    Candidates are scored on ``workers`` threads (0: one per CPU; the solver kernels release
    the GIL); batches too small to keep two busy are padded with the moves the walk scores
    next if it does not move.  ``progress``: told of the layouts scored (report.Progress; the
    "search" stage, against the bound :meth:`run` knows at its start).  ``edge_sides``: the
    best file is given edge sides where they pay (encode.sides)."""

    def __init__(self, planner: Planner, budget: int, tonal_iterations: int, *,
                 workers: int = 0, effort: int = DEFAULT_EFFORT,
                 progress: Progress | None = None, edge_sides: bool = True,
                 **fixed: object):
        unknown = set(fixed) - set(CHOICES)
        if unknown:
            raise ValueError(f"unknown layout fields {sorted(unknown)}")
        if isinstance(effort, bool) or not (isinstance(effort, (int, np.integer))
                                            and 0 <= effort < len(EFFORTS)):
            raise ValueError(f"effort must be an integer in 0..{len(EFFORTS) - 1}, "
                             f"got {effort!r}")
        self.planner = planner
        self.budget = budget
        self.tonal_iterations = tonal_iterations
        self.workers = workers
        self.plan = EFFORTS[int(effort)]
        self.fixed = fixed
        self.pinned = {k: v for k, v in fixed.items() if v is not None}
        self.edge_sides = edge_sides
        h, w = planner.shape
        self.bpp = 8.0 * budget / (h * w)
        self.high_rate = self.bpp >= HIGH_RATE
        self.quick = min(self.plan.score_iterations, tonal_iterations)
        if self.high_rate and self.plan.high_rate_score_iterations is not None:
            self.quick = min(self.plan.high_rate_score_iterations, tonal_iterations)
        self.min_gain = MIN_GAIN_HIGH_RATE if self.high_rate else MIN_GAIN
        #: every layout scored, with its coded file (None: no fit)
        self.scores: dict[Layout, Coded | None] = {}
        self.pool: ThreadPoolExecutor | None = None
        self.progress = progress
        self.stage = Stage(None, "search", 1)
        #: progress: a walk's bound (see :meth:`bounds`); starting layouts scored; how far each
        #: family's walk is (0..1), and whether every walk is done; finalists fitted
        self.walk_bound = 0
        self.starts_done = 0
        self.walked: dict[bool, float] = {}
        self.walks_done = False
        self.finals_done = 0

    # --- scoring ---------------------------------------------------------------------------

    @staticmethod
    def template(fields: dict[str, object]) -> Layout:
        """The layout of some fields, with no edges yet (its threshold is fitted)."""
        return Layout(**{**fields, "threshold": math.inf})

    def fit(self, template: Layout, near: Coded | None, budget: int | None = None,
            full: bool = False) -> Coded | None:
        """``template`` at the lowest threshold whose estimate fits the budget (``budget``,
        default the search's), scored, or with ``full`` fitted in full as a finalist (None: no
        fit).  When the fitted values miss the budget (many levels code far larger once
        optimised), it is fitted again assuming a larger growth."""
        budget = self.budget if budget is None else budget
        hint = ceiling = None
        if near is not None:
            hint = near.layout.threshold
            if not self.high_rate and not full:
                ceiling = THRESHOLDS[min(THRESHOLDS.index(hint) + MOVE_REACH,
                                         len(THRESHOLDS) - 1)]
        scale = 1.0
        if near is not None and GROWTH_SHARE * near.growth > TONAL_RATE_FACTOR:
            scale = GROWTH_SHARE * near.growth / TONAL_RATE_FACTOR
        for factor in (scale * f for f in RETRY_FACTORS):
            lay = self.planner.fit_threshold(template, budget, factor=factor, hint=hint,
                                             ceiling=ceiling)
            if lay is None:
                return None
            c = self.fit_in_full(lay, near, budget) if full else self.planner.evaluate(
                lay, self.quick, budget, steps=FIT_STEPS, rough=True, near=near,
                chroma_iterations=CHROMA_SCORE_ITERATIONS)
            if c is not None:
                return c
            hint = lay.threshold
        return None

    def fit_in_full(self, layout: Layout, near: Coded, budget: int) -> Coded | None:
        """``layout`` fitted in full as a finalist, going on from ``near``'s values (mapped to
        its positions): the iterations left of tonal_iterations do better than all of them
        from the pixel values."""
        iterations = max(self.tonal_iterations - self.quick, 1)
        return self.planner.evaluate(
            layout, iterations, budget, steps=FINAL_STEPS, rough=True, fallback=True,
            near=near, chroma_iterations=min(iterations, CHROMA_FINAL_ITERATIONS))

    def score(self, batch: list[dict[str, object]], near: Coded | None = None,
              scored: Callable[[], None] | None = None) -> list[float]:
        """Scores (decoded mean squared errors) of layouts given by their fields; ``near``:
        the scored layout they are moves from (its threshold and values start their fits);
        ``scored()`` is called after each new layout is scored."""
        todo = list(dict.fromkeys(t for t in map(self.template, batch)
                                  if t not in self.scores))
        for t, c in zip(todo, self.pool.map(lambda t: self.fit(t, near), todo), strict=True):
            self.scores[t] = c
            if scored is not None:
                scored()
            _log.debug("search: scored %s: %s", t if c is None else c.layout,
                       "no fit" if c is None else f"{psnr_of_mse(c.mse):.3f} dB")
        return [math.inf if self.scores[t] is None else self.scores[t].mse
                for t in map(self.template, batch)]

    def speculate(self, moves: list[dict[str, object]], here: dict[str, object],
                  later: list[str]) -> list[dict[str, object]]:
        """Layouts to score beside a batch of fewer than BATCH new ones: the later fields'
        first moves from ``here``, which the walk scores next unless it moves (most batches
        end without a move)."""
        todo = {t for t in map(self.template, moves) if t not in self.scores}
        extra: list[dict[str, object]] = []
        for name in later:
            for v in neighbours(name, here[name]):
                if len(todo) >= BATCH:
                    return extra
                m = {**here, name: v}
                t = self.template(m)
                if t not in self.scores and t not in todo:
                    todo.add(t)
                    extra.append(m)
        return extra

    def best(self, family: bool | None = None) -> Coded | None:
        """Best scored candidate, among those with (True) or without (False) a lattice."""
        done = [c for c in self.scores.values()
                if c is not None and (family is None or (c.layout.lattice > 0) == family)]
        return min(done, key=lambda c: c.mse) if done else None

    # --- the steps -------------------------------------------------------------------------

    def starting_layouts(self) -> list[dict[str, object]]:
        """The starting layouts' fields (tuning: Effort.sparsity), the pinned ones pinned."""
        return [{**start, **self.pinned}
                for start in starts(self.bpp, self.plan.sparsity, self.planner.colour)]

    def score_starts(self) -> None:
        """Score the starting layouts; of a flat-coloured picture (FLAT_CHROMA_SHARE) below
        HIGH_RATE also the best of them with the chroma of such pictures (CHROMA_ALTERNATIVE),
        where the chroma fields are free."""
        self.score(self.starting_layouts(), scored=self.started)
        best = self.best()
        if (not self.planner.colour or best is None or self.high_rate
                or analysis.flat_chroma_share(self.planner.chroma) < FLAT_CHROMA_SHARE):
            return
        alternative = {k: v for k, v in CHROMA_ALTERNATIVE.items() if k not in self.pinned}
        fields = {k: getattr(best.layout, k) for k in CHOICES}
        if alternative and any(fields[k] != v for k, v in alternative.items()):
            self.score([{**fields, **alternative}], best, scored=self.started)

    def fields(self) -> list[str]:
        """The free layout fields a walk visits, in order (some of them twice)."""
        descent = list(self.plan.descent)
        revisit = list(self.plan.revisit)
        if self.planner.colour and "spacing" in descent:
            at = descent.index("spacing") + 1
            descent[at:at] = COLOUR_FIELDS
            revisit.append("chroma_levels")
        fields = [name for name in descent if self.fixed.get(name) is None]
        return fields + [name for name in revisit if self.fixed.get(name) is None]

    def descend(self, family: bool) -> None:
        """Walk the free layout fields one after the other from the best layout of a family
        (with or without a lattice), each as far as a move gains."""
        current = self.best(family)
        fields = self.fields()
        moves_scored = 0
        max_moves = None if self.high_rate else self.plan.max_moves
        scored = 0  # (for progress: the layouts this walk has scored, and its batches on the
        batches = 0  # field it walks)

        def count() -> None:
            nonlocal scored
            scored += 1
            self.walking(family, fields, f, batches, scored, max_moves)

        for f, name in enumerate(fields):
            batches = 0
            while current is not None:
                if max_moves is not None and moves_scored >= max_moves:
                    return
                here = {k: getattr(current.layout, k) for k in CHOICES}
                moves = [{**here, name: v} for v in neighbours(name, here[name])]
                new = [m for m in moves if self.template(m) not in self.scores]
                if len(new) == 1:
                    # after a step one neighbour is the layout just left: look one step
                    # further on too, so that a batch keeps two threads busy (a move may
                    # then jump two steps)
                    ahead = neighbours(name, new[0][name])
                    moves += [{**here, name: v} for v in ahead
                              if v not in (here[name], new[0][name])
                              and v in neighbours(name, here[name], 2)]
                batch = moves + self.speculate(moves, here, fields[f + 1:])
                moves_scored += len({t for t in map(self.template, batch)
                                     if t not in self.scores})
                self.score(batch, current, count)
                batches += 1
                self.walking(family, fields, f, batches, scored, max_moves)
                done = [c for c in (self.scores[t] for t in map(self.template, moves))
                        if c is not None]
                step = min(done, key=lambda c: c.mse, default=None)
                # a move must gain something real: drifting on ties (more levels for 0.01 dB,
                # say) spends bytes that later fields can use better
                if step is None or step.mse >= current.mse * (1.0 - self.min_gain):
                    _log.debug("search: %s stays at %s (%d layouts scored)", name,
                               here[name], len(self.scores))
                    break
                _log.debug("search: %s %s -> %s, %+.3f dB (%d layouts scored)", name,
                           here[name], getattr(step.layout, name),
                           psnr_of_mse(step.mse) - psnr_of_mse(current.mse), len(self.scores))
                current = step

    def walk(self) -> None:
        """Descend from the best start of each family (edges alone, edges with a lattice:
        different regimes) unless one is far behind; the families' layouts are disjoint (a
        move never turns the lattice on or off), so their descents run side by side, sharing
        the scoring threads."""
        leaders = [c for c in (self.best(True), self.best(False)) if c is not None]
        families = [c.layout.lattice > 0 for c in leaders
                    if c.mse <= self.plan.rival_ratio * min(d.mse for d in leaders)]
        self.walked = dict.fromkeys(families, 0.0)
        if len(families) > 1:  # (the bound counts one walk)
            self.stage.grow(self.walk_bound * (len(families) - 1))
        with ThreadPoolExecutor(max_workers=max(len(families), 1)) as sides:
            list(sides.map(self.descend, families))
        self.walks_done = True
        self.report()

    def final(self, job: tuple[Layout, Coded] | Coded) -> Coded | None:
        """A finalist fitted in full (a layout, going on from its scored values), or the best
        scored file measured again alike."""
        if isinstance(job, Coded):
            return self.planner.remeasure(job, self.budget, FINAL_STEPS)
        layout, scored = job
        return self.fit_in_full(layout, scored, self.budget)

    def finish(self) -> Coded:
        """The best of the finalists (the best few scored layouts, each also one threshold
        rung lower: the size estimate is conservative, and quantising to the budget may make
        it fit) and of the best scored file, all measured alike (a full fit is not always
        better once quantised)."""
        top = self.best()
        if top is None:
            smallest = smallest_file(self.planner, self.pinned)
            h, w = self.planner.shape
            raise BudgetTooSmall(f"a budget of {self.budget} bytes is below the smallest file "
                                 f"of this image and these settings, about {smallest} bytes "
                                 f"(bpp {8 * smallest / (h * w):.3g})", smallest)
        ranked = sorted((c for c in self.scores.values() if c is not None), key=lambda c: c.mse)
        finals = []
        for c in ranked[:self.plan.finalists]:
            finals.append((c.layout, c))
            i = THRESHOLDS.index(c.layout.threshold)
            if i > 0:
                finals.append((replace(c.layout, threshold=THRESHOLDS[i - 1]), c))
        jobs: list[tuple[Layout, Coded] | Coded] = [top, *finals]
        top = None
        for i, c in enumerate(self.pool.map(self.final, jobs)):
            self.finals_done += 1
            self.report()
            if c is not None and (top is None or c.mse < top.mse):
                top = c
                _log.debug("search: final %d of %d leads: %s, %.3f dB", i, len(jobs),
                           c.layout, psnr_of_mse(c.mse))
        return top

    # --- progress --------------------------------------------------------------------------

    def bounds(self) -> tuple[int, int, int]:
        """Upper bounds of the layouts the search scores or fits, for its progress: the
        starting layouts, a walk's (the bound on the layouts it scores, or an estimate by its
        fields where it has none; a second family walked adds as much) and the finalists."""
        fields = self.fields()
        max_moves = None if self.high_rate else self.plan.max_moves
        walk = 0 if not fields else FIELD_LAYOUTS * len(fields) if max_moves is None \
            else max_moves
        return (len(set(map(self.template, self.starting_layouts()))), walk,
                1 + 2 * self.plan.finalists)

    def report(self) -> None:
        """Report the layouts done: the starts scored, the walks' shares of their bounds, the
        finalists fitted."""
        if self.progress is None:
            return
        walked = self.walk_bound * (max(len(self.walked), 1) if self.walks_done
                                    else sum(self.walked.values()))
        self.stage.to(self.starts_done + walked + self.finals_done)

    def started(self) -> None:
        """One more starting layout scored."""
        self.starts_done += 1
        self.report()

    def walking(self, family: bool, fields: list[str], f: int, batches: int, scored: int,
                max_moves: int | None) -> None:
        """Report a family's walk as far as the further of: the fields it has walked (the
        one it is on counted as half done after one batch, three quarters after two, ...)
        and, where it has a bound, the layouts it has scored of that bound."""
        if self.progress is None:
            return
        share = (f + 1.0 - 0.5 ** batches) / len(fields)
        if max_moves is not None:
            share = max(share, scored / max_moves)
        self.walked[family] = max(self.walked[family], min(share, 1.0))
        self.report()

    def run(self) -> Coded:
        """The best file not over the budget; BudgetTooSmall if no layout fits."""
        if self.progress is not None:
            bounds = self.bounds()
            self.walk_bound = bounds[1]
            self.stage = Stage(self.progress, "search", sum(bounds))
        with ThreadPoolExecutor(max_workers=self.workers or os.cpu_count() or 1) as pool:
            self.pool = pool
            try:
                self.score_starts()
                self.walk()
                coded = self.finish()
                if self.edge_sides:
                    template = self.template({k: getattr(coded.layout, k) for k in CHOICES})
                    coded = sides.improve(self.planner, coded, self.budget,
                                          lambda budget: self.fit(template, coded, budget,
                                                                  full=True))
            finally:
                self.pool = None
        self.stage.end()
        return coded


def search(planner: Planner, budget: int, tonal_iterations: int, *, workers: int = 0,
           effort: int = DEFAULT_EFFORT, progress: Progress | None = None,
           edge_sides: bool = True, **fixed: object) -> Coded:
    """The best coded layout not over ``budget`` bytes (:class:`Search`); BudgetTooSmall if
    no layout fits.  ``planner.file`` makes its file.  ``progress``: see report.Progress.
    ``edge_sides``: the file may have edge sides (encode.sides; not for a layout that is
    only searched here and fitted elsewhere, as on a reduced image)."""
    return Search(planner, budget, tonal_iterations, workers=workers, effort=effort,
                  progress=progress, edge_sides=edge_sides, **fixed).run()


def smallest_file(planner: Planner, pinned: dict[str, object] | None = None) -> int:
    """Bytes of the smallest file a budget search can start from: no edges, the sparsest
    starting layout (and the pinned fields): a budget of that size fits."""
    fields = {**starts(0.0, (1.0,), planner.colour)[0], "lattice": 0, **(pinned or {})}
    coded = planner.evaluate(Search.template(fields), 0, None, measure=False)
    # the search estimates values payloads with TONAL_RATE_FACTOR of slack
    return math.ceil(coded.size * TONAL_RATE_FACTOR) + 1


