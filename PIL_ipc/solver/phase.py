"""One phase of the inpainting problem (see inpaint.py): its operator on padded grids, the
multigrid hierarchy of coarse levels, the solvers (direct for thin systems, multigrid-
preconditioned CG, SOR) and the error certificate; and the reusable working memory (Scratch)
that an Inpainter of one image size builds its phases on."""

from __future__ import annotations

import functools
import threading
import warnings
import weakref

import numpy as np

from . import _direct_kernels as D
from . import _grid_kernels as G
from . import _kernels as K

# Iteration caps keep the running time bounded whatever the masks.
MAX_FCG_ITER = 300
MAX_SOR_SWEEPS = 50_000
SOR_CHECK = 10
# The error certificate solves A z = 1 until max |1 - A z| <= this.
CERT_THRESHOLD = 0.75
# Runs of active cells bridge up to this many inactive cells (loop overhead vs wasted work).
RUN_GAP = 8
# A phase whose Cholesky factor, numbered breadth first, has at most this many numbers per
# cell (envelope) and costs at most DIRECT_COST times its cells to compute is solved directly:
# the band phase nearly always (chains along the edges), never the Laplace phase (2-D).
DIRECT_ENVELOPE = 16
DIRECT_COST = 64
# Precision of solver vectors where float32 is safe (see inpaint.ROUGH_DTYPE): certified
# solves use it where the residual they need is at least F32_RESIDUAL times the data's
# magnitude (float32 rounds a residual of a stored iterate to about 2^-21 of it).
F32_RESIDUAL = 2.0 ** -17
# Where it is not (a large bound: big holes between stored pixels), a certified solve refines
# in mixed precision (Phase.solve_refined): the residual and the iterate in float64 on the
# fine level only, each correction solved with float32 vectors to REFINE_REDUCTION of the
# residual it starts from, in at most REFINE_ROUND_STEPS steps.  A correction that does not
# cut the float64 residual to REFINE_PROGRESS of what it was (float32's rounding of a large
# correction) hands the rest of the solve to float64 vectors.
REFINE_REDUCTION = 2.0 ** -14
REFINE_ROUND_STEPS = 40
REFINE_PROGRESS = 0.25
# A full-multigrid start (Phase.coarse_start) solves on level 1 until the residual is this
# fraction of the largest datum there, in at most this many steps (a third step never saved
# a fine one on the 512 x 512 and 1024 x 1024 test pictures).
COARSE_START_RESIDUAL = 1e-2
COARSE_START_STEPS = 2
# The certificate of a phase whose data include a seed lattice of step g (Phase.lattice):
# z = A^{-1} 1 of the lattice alone, solved on a small image that keeps the two ends of the
# real one, each LATTICE_PERIODS steps deep, and repeats its middle period across the rest;
# used where A z >= LATTICE_MIN_C on the real grid (else the CG certificate), for steps of
# at most LATTICE_MAX_STEP (the small image then has at most (12 g)^2 pixels).
LATTICE_PERIODS = 5
LATTICE_MIN_C = 0.5
LATTICE_MAX_STEP = 32
# The certificate's z is float32: A z is rounded to float32 before its minimum is taken.
CERT_SLACK = 1.0 + 2.0 ** -20
# Largest image side accepted (keeps every allocation bounded and indices in int64).
MAX_SIDE = 1 << 16


def _lattice_axis(n: int, g: int) -> tuple[int, np.ndarray] | None:
    """(length of the small image's axis, the map from the real axis's n indices to it)
    for a lattice of step g (at g // 2 + multiples of g), or None if the axis holds no
    lattice index.  The map is the identity on the first LATTICE_PERIODS periods,
    a shift on the last ones, and the middle period of the small axis in between: every
    index keeps its place in the period (its distance to the lattice), neighbours stay
    neighbours except where the middle repeats."""
    o, p = g // 2, LATTICE_PERIODS
    if n <= o:
        return None  # no lattice pixel on this axis
    i = np.arange(n)
    last = o + (n - 1 - o) // g * g
    if last - o <= 2 * p * g:
        return n, i  # short: kept whole
    small = o + 2 * p * g + (n - last)
    shift = n - small
    m = np.where(i < o + p * g, i, np.where(i - shift >= o + p * g, i - shift,
                                             o + p * g + (i - o) % g))
    return small, m.astype(np.int64)


@functools.lru_cache(maxsize=8)
def _lattice_solution(hs: int, ws: int, g: int) -> np.ndarray:
    """A^{-1} 1 (hs x ws, float64) of the Laplace problem whose only data are the seed lattice
    of step g, solved to a residual of 1e-4 in float32 (the vectors a decode compiles for
    anyway; the certificate is checked on the real grid, not here: c >= 1 - 1e-4 and more)."""
    from ..format.sources import lattice_plane

    known = lattice_plane((hs, ws), g)
    scratch = Scratch((hs, ws))
    active = ~known
    ph = Phase(active, False, np.zeros((hs, ws), dtype=bool), scratch, scratch.operators[1],
               scratch.runs[1])
    ws32 = scratch.workspace(np.float32)
    ones = ph.filled(ws32.rhs, 1.0)
    z = ws32.zeroed(ws32.start)
    ph._fcg(ones, z, 1e-4)
    out = np.zeros((hs, ws))
    G.unpad_field(active, z, out)
    out.setflags(write=False)
    return out


class InpaintWarning(RuntimeWarning):
    """The iteration cap was reached before the tolerance could be certified."""


def _warn_if_capped(err: float, tol: float, warn: bool) -> None:
    """An InpaintWarning (for the caller of Inpainter.solve) if ``err`` exceeds ``tol``."""
    if warn and not err <= tol:
        warnings.warn(f"inpaint: iteration cap reached, error bound {err:.3g} > tol {tol:.3g}",
                      InpaintWarning, stacklevel=5)


def _level_dims(h: int, w: int) -> np.ndarray:
    """(offset, h, w) of every multigrid level on padded grids, fine to 1 x 1."""
    rows = []
    off = 0
    while True:
        rows.append((off, h, w))
        off += (h + 2) * (w + 2)
        if h == 1 and w == 1:
            break
        h, w = (h + 1) // 2, (w + 1) // 2
    return np.array(rows, dtype=np.int64)


class _Workspace:
    """Scratch vectors of the solvers, shared by the two phases (same grid sizes; the kernels
    never read another phase's leftovers where they matter, and every solve leaves the fine
    level of z and d at zero, which the fine-level kernels rely on)."""

    def __init__(self, dims: np.ndarray, dtype: type = np.float64):
        total = int(dims[-1, 0]) + 9
        n0 = int((dims[0, 1] + 2) * (dims[0, 2] + 2))
        self.dims, self.total, self.n0 = dims, total, n0
        self.r, self.z, self.c1, self.v1 = (np.zeros(total, dtype) for _ in range(4))
        # (d and q span all levels for a solve on level 1: Phase.coarse_start)
        self.d, self.q = np.zeros(total, dtype), np.zeros(total, dtype)
        # right-hand side and start vector of a phase's solve: reused, because a fresh large
        # array costs a page fault per 4 KiB on first touch (more than a few solver steps);
        # level 0 is the solve's, level 1 holds coarse_start's problem
        self.rhs, self.start = np.zeros(total, dtype), np.zeros(total, dtype)

    @staticmethod
    def zeroed(v: np.ndarray) -> np.ndarray:
        v.fill(0.0)
        return v


class _Refinement:
    """The float64 fine-level vectors of a solve refined in mixed precision (Phase.
    solve_refined): its right-hand side, iterate and residual."""

    def __init__(self, n0: int):
        self.rhs, self.x, self.r = (np.zeros(n0) for _ in range(3))


class Scratch:
    """Working memory of Inpainters of one image size (see Costs above), for reuse.

    A fresh array costs a page fault per 4 KiB on first touch, and for a few rough solves
    that is as much as the set-up itself: a rate-control search, which builds dozens of
    operators, builds them all on one Scratch per thread.  Building an Inpainter on a Scratch
    takes it over; the Inpainter built on it before can no longer solve (RuntimeError).
    """

    def __init__(self, shape: tuple[int, int]):
        h, w = (int(n) for n in shape)
        if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
            raise ValueError(f"inpaint: image size {(h, w)} out of range")
        self.shape = (h, w)
        dims = _level_dims(h, w)
        self.dims = dims
        # solver vectors per precision, made on first use (a decode needs float32 ones only)
        self._workspaces: dict[tuple[np.dtype, int], _Workspace] = {}
        self._refinements: dict[int, _Refinement] = {}
        self._used: set[int] = set()  # operators built on since they were made
        total = int(dims[-1, 0]) + 9
        self.n0 = (h + 2) * (w + 2)
        # per phase (band, Laplace): diag, idiag, cE, cS (float32: a sweep moves less
        # memory), each operator built over the last one (every interior cell is written;
        # the padding stays 0)
        self.operators = tuple(tuple(np.zeros(total, dtype=np.float32) for _ in range(4))
                               for _ in range(2))
        # per phase: room for the runs of every level (see G.max_runs)
        most = sum(G.max_runs(int(lh), int(lw), RUN_GAP) for _, lh, lw in dims)
        self.runs = tuple(np.zeros((most, 4), dtype=np.uint64) for _ in range(2))
        # cell numbers of a direct solver's ordering, over the fine level's padded grid (only
        # the set-up of a phase uses them: see drop_numbering)
        self._local: np.ndarray | None = None
        # the Inpainter the memory belongs to, held weakly: it holds this memory, and a cycle
        # would keep both until the garbage collector ran (gigabytes at camera sizes)
        self._owner: weakref.ref | None = None

    def workspace(self, dtype: type = np.float64, alone: bool = False,
                  lane: int = 0) -> _Workspace:
        """The solver vectors of one precision (made on first use; ``alone``: then free the
        other precision's first, so that both are never held because of this call).
        ``lane``: solves running at the same time (Inpainter.solve_fields) each use their
        own lane's vectors."""
        key = (np.dtype(dtype), lane)
        if key not in self._workspaces:
            if alone:
                self._workspaces.clear()
            self._workspaces[key] = _Workspace(self.dims, key[0])
        return self._workspaces[key]

    @property
    def local(self) -> np.ndarray:
        """The cell numbers of a direct solver's ordering (int64, one per fine padded cell:
        made on first use)."""
        if self._local is None:
            self._local = np.zeros(self.n0, dtype=np.int64)
        return self._local

    def drop_numbering(self) -> None:
        """Free the cell numbers (8 bytes a pixel) once the Inpainter built on this memory is
        set up and no other is to be built on it: solves do not use them."""
        self._local = None

    def first_use(self, operator: tuple[np.ndarray, ...]) -> bool:
        """Whether ``operator`` (one of self.operators) is built on for the first time, its
        arrays still all zero (then a phase of few cells writes only those: the pages of the
        rest are never touched); marks it used."""
        for i, op in enumerate(self.operators):
            if op is operator:
                fresh = i not in self._used
                self._used.add(i)
                return fresh
        return False

    def refinement(self, lane: int = 0) -> _Refinement:
        """The float64 vectors of a refined solve in ``lane`` (made on first use)."""
        if lane not in self._refinements:
            self._refinements[lane] = _Refinement(self.n0)
        return self._refinements[lane]

    def take(self, owner: object) -> None:
        """Hand the memory to ``owner``."""
        self._owner = weakref.ref(owner)

    @property
    def owner(self) -> object | None:
        """The Inpainter the memory was last handed to (None: none, or it is gone)."""
        return None if self._owner is None else self._owner()


class Phase:
    """One linear system (band or Laplace) with its multigrid hierarchy and error certificate."""

    def __init__(self, active: np.ndarray, band_mode: bool, band: np.ndarray, scratch: Scratch,
                 operator: tuple[np.ndarray, ...], runs: np.ndarray, direct: bool = False,
                 cells: tuple[np.ndarray, np.ndarray] | None = None):
        """``operator``: arrays for diag, idiag, cE, cS (see _inpaint_kernels), zero on the
        padding; ``runs``: room for the runs of every level (G.max_runs rows per level);
        ``direct``: factorise the system if that is cheap (see DIRECT_ENVELOPE);
        ``cells`` (band phase): the pixel classes of G.classify (padded) and the padded
        indices of the active cells, to build from them instead of scanning the image."""
        self.active = active
        self.count = int(active.sum())
        self.scratch = scratch
        self.n0 = scratch.n0
        # solves in several threads (Inpainter.solve_fields) may reach the coarse levels
        # first at the same time: one builds them, the others wait
        self._building = threading.Lock()
        self._bound = None
        #: step of a seed lattice all of whose pixels are data of this phase (0: none), a
        #: hint for the certificate (checked: see lattice_bound)
        self.lattice = 0
        self.last_iterations = 0
        #: (order, first, start, L, room) of the direct solver (see D.envelope_order), or None
        self.factor = None
        if self.count == 0:
            return
        dims = scratch.dims
        self.diag, self.idiag, self.cE, self.cS = operator
        self.band_mode, self._band = band_mode, band
        self._links = None
        fresh = scratch.first_use(operator)
        if band_mode and cells is not None:
            kind, queue = cells
            # (a band row has at most 4 links to data)
            dst, src = (np.empty(4 * len(queue), dtype=np.int64) for _ in range(2))
            n = G.build_band(kind, queue, self.diag, self.idiag, self.cE, self.cS, dst, src,
                             not fresh)
            self._links = (dst[:n], src[:n])
        elif band_mode:
            n = G.build_fine(active, band_mode, band, self.diag, self.idiag, self.cE, self.cS)
            self._make_links(n)
        else:
            # most pixels are active: built branch-free, and the right-hand sides are
            # gathered by a stencil (laplace_rhs), the links made only for an adjoint
            G.build_laplace(active, self.diag, self.idiag, self.cE, self.cS)
        # kernel table: (offset, padded width, first run, end run); the coarse levels are
        # built on first use (_hierarchy): a factorised phase never needs them to score
        self.levels = np.zeros((len(dims), 4), dtype=np.uint64)
        self.levels[:, 0] = dims[:, 0]
        self.levels[:, 1] = dims[:, 2] + 2
        self._room = runs
        self.levels[0, 3] = G.fill_runs(self.idiag, *dims[0], RUN_GAP, runs, 0)
        self.runs = runs[:int(self.levels[0, 3])]
        self._coarse = len(dims) == 1
        if direct:
            self._factorise()

    def _make_links(self, n: int) -> None:
        dst, src = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        G.boundary_links(self.active, self.band_mode, self._band, self.diag, self.cE, self.cS,
                         dst, src)
        self._links = (dst, src)

    def links(self) -> tuple[np.ndarray, np.ndarray]:
        """(dst, src): the links from active pixels to the data pixels (known, or solved by
        the other phase), see G.boundary_links; made on first use in the Laplace phase."""
        if self._links is None:
            self._make_links(G.link_count(self.active, self.band_mode, self._band))
        return self._links

    def gather(self, u: np.ndarray, b: np.ndarray) -> None:
        """b (a fine-level vector, 0 off the active cells) = the data's part of the
        right-hand side from the field u (H x W, float64): the sum, at each active pixel,
        of u over the pixels it is linked to that are not active."""
        if self.band_mode:
            b[:self.n0].fill(0.0)
            dst, src = self._links
            G.gather_links(dst, src, u.ravel(), b)
        else:
            G.laplace_rhs(self.active, u, b)

    def _hierarchy(self) -> None:
        """Build the coarse levels and their runs (once; threads that solve at the same time
        wait for the first)."""
        if self._coarse:
            return
        with self._building:
            if not self._coarse:
                self._build_hierarchy()

    def _build_hierarchy(self) -> None:
        dims = self.scratch.dims
        for i in range(len(dims) - 1):
            G.coarsen(self.diag, self.idiag, self.cE, self.cS, *dims[i], *dims[i + 1])
        lv = self.levels
        nruns = int(lv[0, 3])
        for i in range(1, len(dims)):
            lv[i, 2] = nruns
            # room: the rows before hold the earlier levels' runs, at most their max_runs
            nruns = G.fill_runs(self.idiag, *dims[i], RUN_GAP, self._room, nruns)
            lv[i, 3] = nruns
        self.runs = self._room[:nruns]
        self._coarse = True

    def _factorise(self) -> None:
        """Set self.factor if the envelope is small enough."""
        order = np.empty(self.count, dtype=np.int64)
        first = np.empty(self.count, dtype=np.int64)
        wp, r0, r1 = (int(v) for v in self.levels[0, 1:4])
        local = self.scratch.local
        n, size, cost = D.envelope_order(self.diag, self.cE, self.cS, wp, self.runs, r0, r1,
                                         local, order, first)
        if n != self.count or size > DIRECT_ENVELOPE * n or cost > DIRECT_COST * n:
            return
        start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.arange(n) - first + 1, out=start[1:])
        factor = np.empty(size)
        if D.envelope_cholesky(self.diag, self.cE, self.cS, wp, order, first, local, start,
                               factor):
            self.factor = (order, first, start, factor)
            self._factor_room = {0: np.empty(n)}

    def _iterate(self, b: np.ndarray, x: np.ndarray, thr: float,
                 maxit: int | None = None, lane: int = 0) -> tuple[int, float]:
        """FCG until max |b - A x| <= thr (thr <= 0: maxit steps), from x; a factorised phase
        starts from its direct solution instead, which FCG then only certifies (or refines
        past rounding), and with thr <= 0 is the answer (residual not computed: nan).  A
        direct solution whose fine-level residual is small enough needs no multigrid levels."""
        if self.factor is not None:
            room = self._factor_room.get(lane)
            if room is None:
                room = self._factor_room[lane] = np.empty(self.count)
            D.envelope_solve(*self.factor, b, x, room)
            if thr <= 0.0:
                return 0, float("nan")
            wp, r0, r1 = self.levels[0, 1:4]
            res = K.residual_max(self.diag, None, None, b, x,
                                 self.scratch.workspace(b.dtype, lane=lane).r,
                                 wp, self.runs, r0, r1)
            if res <= thr:
                return 0, float(res)
        return self._fcg(b, x, thr, maxit, lane)

    def _operator(self) -> tuple:
        self._hierarchy()
        return self.diag, self.idiag, self.cE, self.cS, self.levels, self.runs

    def _fcg(self, b: np.ndarray, x: np.ndarray, thr: float,
             maxit: int | None = None, lane: int = 0) -> tuple[int, float]:
        ws = self.scratch.workspace(b.dtype, lane=lane)
        vectors = (ws.r, ws.z, ws.c1, ws.v1, ws.d, ws.q)
        cap = MAX_FCG_ITER if maxit is None else maxit
        diag, idiag, cE, cS, levels, runs = self._operator()
        it, res = K.fcg(diag, idiag, cE, cS, None, None, levels, runs, b, x, thr, cap, *vectors)
        return int(it), float(res)

    def _sor(self, b: np.ndarray, x: np.ndarray, thr: float,
             lane: int = 0) -> tuple[int, float]:
        limits = (thr, MAX_SOR_SWEEPS, SOR_CHECK)
        it, res = K.sor(*self._operator(), b, x, self.omega(), *limits,
                        self.scratch.workspace(b.dtype, lane=lane).r)
        return int(it), float(res)

    def filled(self, v: np.ndarray, a: float) -> np.ndarray:
        """v (a fine-level vector) set to ``a`` on the active cells and to 0 elsewhere."""
        v.fill(0.0)
        K.fill_active(self.idiag, v, a, self.runs, *self.levels[0, 2:4])
        return v

    def coarse_levels(self) -> bool:
        """Whether the hierarchy has a level 1 with a level below it (coarse_start)."""
        return len(self.scratch.dims) >= 3

    def coarse_start(self, b: np.ndarray, x: np.ndarray, a: float, lane: int = 0,
                     level: int = 0) -> np.ndarray:
        """x (all levels) set to a start for A x = b on ``level`` (b there, 0 on its padding;
        b's next level is overwritten): the problem restricted to the next level of the
        hierarchy (which must have a level below it: coarse_levels), solved from the
        constant ``a`` until its residual is COARSE_START_RESIDUAL of the largest restricted
        datum, prolonged (constant on each 2 x 2 aggregate).  A full-multigrid start: the
        solve then begins with its smooth error mostly gone (peppers 512 x 512: 5 fine steps
        instead of 7, for 2 steps on a grid of a quarter the size)."""
        diag, idiag, cE, cS, levels, runs = self._operator()
        ws = self.scratch.workspace(b.dtype, lane=lane)
        K.coarse_start(diag, idiag, cE, cS, levels, np.ascontiguousarray(levels[level + 1:]),
                       runs, b, x, a, COARSE_START_RESIDUAL, COARSE_START_STEPS,
                       self.scratch.dims, level, ws.r, ws.z, ws.c1, ws.v1, ws.d, ws.q)
        return x

    def lattice_bound(self) -> float | None:
        """B from the seed lattice (see LATTICE_PERIODS), or None where it does not apply or
        does not hold: z, tiled from the lattice's own solution, is checked on this phase
        (A z >= c > 0 with the data of this phase, which include the lattice: more data
        only make A^{-1} 1 smaller)."""
        g = int(self.lattice)
        if self.band_mode or not 2 <= g <= LATTICE_MAX_STEP:
            return None
        h, w = self.active.shape
        rows, cols = _lattice_axis(h, g), _lattice_axis(w, g)
        if rows is None or cols is None:
            return None
        (hs, rmap), (ws_, cmap) = rows, cols
        small = _lattice_solution(hs, ws_, g)
        if not (0 <= rmap.min() and rmap.max() < hs and 0 <= cmap.min() and cmap.max() < ws_):
            return None
        ws = self.scratch.workspace(np.float32)
        z = ws.start
        G.tile_field(self.active, small, rmap, cmap, z)
        wp, r0, r1 = self.levels[0, 1:4]
        K.matvec(self.diag, None, None, z, ws.q, wp, self.runs, r0, r1)
        c, zmax = K.min_max_level(self.diag, ws.q, z, self.runs, r0, r1)
        ws.q[:self.n0].fill(0.0)
        ws.zeroed(z)
        if not c >= LATTICE_MIN_C:
            return None
        return float(zmax / c) * CERT_SLACK

    def bound(self) -> float:
        """B >= max-norm of A^{-1}: the error is at most B times the largest residual."""
        if self._bound is None:
            self._bound = self.lattice_bound()
        if self._bound is None:
            # z only has to satisfy A z >= c > 0: float32 vectors do, A z is formed from the
            # stored z in float64 and only its float32 rounding is allowed for (CERT_SLACK)
            ws = self.scratch.workspace(np.float32)
            wp, r0, r1 = self.levels[0, 1:4]
            ones = self.filled(ws.rhs, 1.0)
            if self.factor is None and self.coarse_levels():
                # (a full-multigrid start, as a solve's: two steps fewer at 4096 x 4096)
                z = self.coarse_start(ones, ws.start, 0.0)
            else:
                z = ws.zeroed(ws.start)
            az = ws.q
            thr = CERT_THRESHOLD
            c = zmax = 0.0
            for _ in range(3):
                it, _ = self._iterate(ones, z, thr)
                K.matvec(self.diag, None, None, z, az, wp, self.runs, r0, r1)
                c, zmax = K.min_max_level(self.diag, az, z, self.runs, r0, r1)
                if c > 0.1 or it >= MAX_FCG_ITER:
                    break
                thr *= 0.1
            if c > 0.0:
                # A^{-1} >= 0 and A z >= c give A^{-1} 1 <= z / c
                self._bound = float(zmax / c) * CERT_SLACK
            else:
                # no certificate within the cap (hostile masks): A^{-1} 1 is an expected
                # absorption time of a random walk, below 8 n^2 on n cells of degree <= 4
                self._bound = 8.0 * float(self.count) ** 2
        return self._bound

    def omega(self) -> float:
        """SOR relaxation factor from the bound: Jacobi radius <= 1 - 1 / (4 B)."""
        rho = 1.0 - 1.0 / (4.0 * self.bound())
        return 2.0 / (1.0 + np.sqrt(max(1.0 - rho * rho, 0.0)))

    def precision(self, tol: float, scale: float, method: str) -> type:
        """The vectors' dtype for a certified solve to ``tol`` of data up to ``scale``:
        float32 where its rounding stays well below the residual the certificate needs.
        (Computes the bound, which uses the float32 vectors rhs and start.)"""
        if method == "fast" and tol / self.bound() >= F32_RESIDUAL * max(scale, 1.0):
            return np.float32
        return np.float64

    def solve_refined(self, b: np.ndarray, x: np.ndarray, tol: float, coarse: bool,
                      warn: bool = True, lane: int = 0) -> tuple[np.ndarray, float]:
        """Solve A x = b (float64 fine-level vectors: the refinement's, x holding the start,
        0 off the active cells) to max error <= tol by iterative refinement: the residual
        b - A x in float64, a correction solved for it with the float32 vectors (see
        REFINE_REDUCTION), added to x; until the float64 residual certifies tol or
        MAX_FCG_ITER steps were taken in all.  ``coarse``: the first correction starts from
        the coarse solution (coarse_start).  Returns (x, certified error bound)."""
        bound = self.bound()
        thr = tol / bound
        ws = self.scratch.workspace(np.float32, lane=lane)
        r = self.scratch.refinement(lane).r
        wp, r0, r1 = self.levels[0, 1:4]
        steps = 0
        last = np.inf
        while True:
            res = K.residual_max(self.diag, None, None, b, x, r, wp, self.runs, r0, r1)
            if res <= thr or steps >= MAX_FCG_ITER:
                break
            if res > REFINE_PROGRESS * last:  # float32 gains too little now: float64
                it, res = self._iterate(b, x, thr, MAX_FCG_ITER - steps, lane)
                steps += it
                break
            last = res
            rhs = ws.rhs
            rhs[:self.n0].fill(0.0)
            K.level_copy(r, rhs, self.runs, r0, r1)
            if coarse and steps == 0:
                e = self.coarse_start(rhs, ws.start, 0.0, lane)
            else:
                e = ws.zeroed(ws.start)
            it, _ = self._iterate(rhs, e, max(thr, REFINE_REDUCTION * res),
                                  min(REFINE_ROUND_STEPS, MAX_FCG_ITER - steps), lane)
            steps += max(it, 1)
            K.level_axpy(1.0, e, x, self.runs, r0, r1)
        self.last_iterations = steps
        err = bound * res
        _warn_if_capped(err, tol, warn)
        return x, err

    def solve(self, b: np.ndarray, tol: float, method: str,
              x: np.ndarray | None = None, steps: int | None = None,
              rhs_error: float = 0.0, warn: bool = True,
              lane: int = 0) -> tuple[np.ndarray, float]:
        """Solve A x = b to max error <= tol from the start ``x`` (level 0, zero on inactive
        cells; default 0, overwritten); returns (x, certified error bound).  ``steps``: take
        that many FCG steps instead, uncertified (the bound returned is inf).
        ``rhs_error``: a bound on max |b - b_exact| (b rounded to float32), added in.
        ``warn``: an InpaintWarning if the cap is reached before ``tol`` is certified.
        ``lane``: whose solver vectors to use (see Scratch.workspace)."""
        if x is None:
            ws = self.scratch.workspace(b.dtype, lane=lane)
            x = ws.zeroed(ws.start)
        if steps is not None:
            self.last_iterations, _ = self._iterate(b, x, 0.0, steps, lane)
            return x, np.inf
        bound = self.bound()
        # the residual of float32 vectors is stored rounded: allow for it
        slack = 1.0 + 2.0 ** -22 if b.dtype == np.float32 else 1.0
        thr = max(tol / bound - rhs_error, 0.0) / slack
        if method == "fast":
            it, res = self._iterate(b, x, thr, lane=lane)
        else:
            it, res = self._sor(b, x, thr, lane)
        self.last_iterations = it
        err = bound * (res * slack + rhs_error)
        _warn_if_capped(err, tol, warn)
        return x, err
