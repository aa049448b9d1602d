"""The tuning constants of the layout search and of the quality target, in one place.

Each says what it sets and why; what it was chosen on (images, budgets, dB and seconds) is in
docs/tuning.md, where the measurements can be repeated.  The layout fields' choices are in
the option table (options.CHOICES)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .options import BY_NAME

# --- thresholds and size estimates -------------------------------------------------------------

#: Thresholds tried, in grey levels: a geometric ladder (file size falls as it rises); inf: no
#: edges.
THRESHOLDS = tuple(round(1.5 * 1.1 ** k, 3) for k in range(60)) + (math.inf,)
#: Tonal-optimised values code about this much larger than the raw pixel values the size
#: estimate codes.
TONAL_RATE_FACTOR = 1.05
#: Growth factors tried in turn when a candidate's file misses the budget.
RETRY_FACTORS = (TONAL_RATE_FACTOR, 1.3, 1.7)
#: A move's growth factors are RETRY_FACTORS scaled up to this share of the growth measured on
#: the layout it moves from (neighbours grow alike; a little less, so that a move that may
#: just fit is still tried at the lower threshold).
GROWTH_SHARE = 0.97
#: A payload estimated at over this times the room left is not coded to check it (the
#: estimates run at most a few % over the coded size).
ESTIMATE_SLACK = 1.15
#: Rounding offsets tried when fitting the final file (0.5 = nearest level; smaller offsets
#: give cheaper residuals and coarser values).
OFFSETS = (0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.0)
#: Entries of each of the planner's per-layout caches (source points, band walks, edge
#: deviations): a search probes hundreds of layouts, and keeping them all costs gigabytes.
RECENT = 16
#: Bytes of arrays each of the planner's per-layout caches (and its cache of edge planes)
#: keeps at most: at 12 Mpixel a layout's source points and band walk are 30 MB, its edge
#: plane 12 MB, and RECENT of each came to gigabytes.  (Caches change no file, only the
#: time: a layout evicted is made again if asked for.)
CACHE_BYTES = 128 << 20

# --- scoring -----------------------------------------------------------------------------------

#: Solver steps per solve inside tonal fits and scores (uncertified solves): enough to rank
#: layouts, far cheaper than certified solves; one step is too few.
FIT_STEPS = 2
#: Solver steps per solve in the finalists' full fits (these values go into the file).
FINAL_STEPS = 4
#: Edges the colour starts take (the descent tries the other source): colour edges catch the
#: steps between colours of one brightness.
COLOUR_START_EDGES = "colour"
#: The chroma a colour search also scores its best start with, on flat-coloured pictures
#: below HIGH_RATE: the starts' chroma there suits photos (coarse and sparse), such pictures
#: want many levels at every point (colour synthetic images at 0.1 bpp: 8 levels at every
#: second point scored 25.7 dB, 48 levels at every point 31.5 dB, and the walk's bounded
#: moves went on fixing the chroma; from this start the six piecewise-smooth images gained
#: 0.5 to 10 dB at 0.05 to 0.2 bpp, 1.9 dB less without stride 1; at 0.4 bpp, where the
#: starts' chroma is finer, -0.4 to +0.2 dB).
CHROMA_ALTERNATIVE = {"chroma_levels": 32, "chroma_stride": 1}
#: A picture is flat-coloured when this share of its pixels has locally affine chroma
#: (analysis.flat_chroma_share: drawings 0.94-1, photos and textured cartoons at most 0.67).
#: On photos the alternative start scored better and walked to worse files as often as to
#: better ones (Kodak at 0.1 and 0.2 bpp: +0.82 to -0.62 dB).
FLAT_CHROMA_SHARE = 0.85
#: Tonal iterations of the chroma channels when scoring colour layouts: chroma is smooth and
#: its fit changes the ranking little; skipping it halves the cost of a colour score.
CHROMA_SCORE_ITERATIONS = 0
#: Tonal iterations of the chroma channels in the finalists' fits (luma takes ``tonal``).
CHROMA_FINAL_ITERATIONS = 2

# --- the walk ----------------------------------------------------------------------------------

#: Fields only colour images have; the descent visits them after luma's levels and spacing
#: (the split of the budget between luma and chroma is chosen there, by decoded quality).
COLOUR_FIELDS = ("edge_source", "chroma_levels", "chroma_stride")
#: Order in which the coordinate descent visits the fields.
DESCENT = ("levels", "spacing", "lattice", "min_length", "hysteresis", "iterations",
           "edge_seeds")
#: Smallest relative error reduction for which the descent moves (0.002 = 0.01 dB): without
#: one the walk drifts on ties and spends bytes that later fields can use better.
MIN_GAIN = 0.002
#: Budgets from this many bits per pixel on are searched as high rates: dense starts, moves
#: that must gain MIN_GAIN_HIGH_RATE, scores by fewer tonal iterations, no bound on the moves
#: or on how far their threshold goes (MAX_MOVES and MOVE_REACH apply below).
HIGH_RATE = 0.3
#: MIN_GAIN from HIGH_RATE on, where walks take many tiny steps.
MIN_GAIN_HIGH_RATE = 0.01
#: Below HIGH_RATE, rungs a move's threshold may rise above that of the layout it moves from:
#: a move that fits only with most edges gone is not scored.
MOVE_REACH = 8
#: Layouts scored together in a descent batch at least (padded with likely next moves): one per
#: thread on 2 cores.  A fixed size, not the thread count, keeps the result independent of the
#: number of threads.
BATCH = 2
#: A second family (with or without a lattice) is explored when its best start's error is
#: within this factor of the best (1.26 = 1 dB).
RIVAL_RATIO = 1.26
#: The descent of the default effort: hysteresis, the field that moves least, is left out.
QUICK_DESCENT = tuple(f for f in DESCENT if f != "hysteresis")
#: Fields the walks visit again at the end: how many values and how many stored pixels the
#: bytes buy is worth rebalancing once the edges have moved.
REVISIT = ("levels", "spacing")
#: Layouts the default effort's descent scores at most below HIGH_RATE (a bound on the running
#: time where layouts are dear to score and walks run long).
MAX_MOVES = 32


@dataclass(frozen=True)
class Effort:
    """How hard the search works: what it costs is candidates x solves per candidate."""

    #: tonal iterations when scoring candidates
    score_iterations: int
    #: fields the coordinate descent moves along, in order
    descent: tuple[str, ...]
    #: candidates that get the full tonal optimisation at the end (each also one threshold
    #: rung lower)
    finalists: int
    #: explore the second family when its best start's error is within this factor of the
    #: best (1.0 = only the leading family)
    rival_ratio: float
    #: start lattices, as multiples of the step of one taking about 60 % of the budget
    sparsity: tuple[float, ...] = (1.0, 1.8, 3.3, 6.0)
    #: fields walked once more after the others
    revisit: tuple[str, ...] = ()
    #: score_iterations from HIGH_RATE bits per pixel on (None: the same)
    high_rate_score_iterations: int | None = None
    #: layouts a descent scores at most below HIGH_RATE bits per pixel (it stops after the
    #: batch that reaches it); None: no bound
    max_moves: int | None = None


#: Search effort levels (the ``effort`` option): 0 scores the starting layouts only; 1 (the
#: default) walks the layout fields from the best start of the leading family, then levels and
#: spacing again; 2 also walks the second family when it is within RIVAL_RATIO, moves
#: hysteresis, and fits two finalists in full.  Walks score by 2 tonal iterations (1 misleads
#: them below HIGH_RATE); the default scores by 1 from HIGH_RATE on.
EFFORTS = (
    Effort(1, (), 1, 1.0, sparsity=(1.3, 3.5)),
    Effort(2, QUICK_DESCENT, 1, 1.0, revisit=REVISIT, high_rate_score_iterations=1,
           max_moves=MAX_MOVES),
    Effort(2, DESCENT, 2, RIVAL_RATIO, revisit=REVISIT),
)
assert len(EFFORTS) == BY_NAME["effort"].bounds[1] + 1, "the option table's effort range"

# --- edge-pixel sides (grey) ------------------------------------------------------------------

#: Squared error (grey levels^2) a side must save at an edge pixel to be taken: a price per
#: choice, which costs about one bit more than keeping the mean (on 10 grey test images at
#: 0.1 and 0.2 bpp, 200 gave the best mean PSNR of 100, 200, 400 and 100-then-400).
SIDE_MARGIN = 200.0
#: The prices an encode tries in turn until one gives a better file.
SIDE_MARGINS = (SIDE_MARGIN,)
#: Fits of a layout to the budget less the SIDE chunk's bytes, at most, when the file with
#: sides misses the budget (a second one never helped on those images).
SIDE_REFITS = 1
#: ... and the share of the budget each fit leaves besides, for the sides that change.
SIDE_SLACK = 0.02
#: ... and a fit is tried only where the sides gain more than this many dB times the share of
#: the budget they take (what that share of the budget is taken to be worth): on those images
#: every fit for sides that took over a fifth of the budget, or that gained under 0.3 dB,
#: came out worse than the file without them.
SIDE_REFIT_DB = 8.0
#: Tonal iterations of the values fitted again through the operator with the sides (at
#: FINAL_STEPS solver steps per solve): +0.15 to +0.9 dB on five grey test images at 0.1-0.2
#: bpp, 0.05-0.1 s at 512 x 512.
SIDE_TONAL_ITERATIONS = 3

# --- a quality target --------------------------------------------------------------------------

#: Budgets the quality search tries: a geometric ladder of byte counts BUDGET_RATIO apart.
#: Every target uses the same ladder and takes its smallest rung that meets it, so that a
#: higher target never gives a worse file.
BUDGET_RATIO = 1.05
BUDGET_BASE = 32
#: Decibels gained per doubling of the budget, assumed until two budgets are measured.
DB_PER_DOUBLING = 4.0
#: A quality target searched on a large image reduced brackets the budget to within this
#: many rungs only (a factor of 2), stepping at least that far, where the budget that meets
#: it does so by at most REDUCED_QUALITY_SLACK dB (the full-size file is fitted at its own
#: budget and checked anyway): the 4000 x 3000 test photo's search probed 3 budgets instead
#: of 6, whose PSNR was not monotone in the budget (33.0 dB at 28.2 kB, 34.3 at 22.1 kB,
#: 32.7 at 12.9 kB).  Past the slack it brackets to one rung (high targets: a budget twice
#: the size gave 48.8 dB where 40 was asked).
REDUCED_QUALITY_STRIDE = 14
REDUCED_QUALITY_SLACK = 1.5
