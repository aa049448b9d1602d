"""The decoder's PDE: inpainting of an image from its stored pixels, with 1-D diffusion along edges.

Problem (the definition of the decoded image). Inputs of shape (H, W): `known` (stored pixels),
`values` (their values), `band` (the edge band, lambda = 1). N4(p) are the 4-neighbours of p
inside the image (the border is reflecting: outside neighbours are simply left out).
  known p:                            u_p = values_p
  band p, not known, with a band N4:  sum over band q in N4(p) of (u_p - u_q) = 0  (eq. 10b)
  any other p:                        sum over q in N4(p) of (u_p - u_q) = 0       (eq. 8)
Band rows couple band pixels only, so the band is solved first (a graph Laplacian with the known
band pixels as data), then the remaining pixels (a 5-point Laplace problem with the known and
band pixels as data). A band component that holds no known pixel has no data: its pixels take
the value 0 (where Jacobi, Gauss-Seidel or SOR started at 0 stay). Every other part of the
problem is then uniquely solvable: as soon as one pixel is known, every Laplace region touches
a known or a band pixel. No known pixel at all is an error.

Accuracy: both methods stop on a certified bound, max |u - u_exact| <= tol. For an M-matrix A
(each system above is one), |A^{-1} r| <= |r|_max A^{-1} 1; any z with A z >= c > 0 gives
A^{-1} 1 <= z / c, so B = max(z) / c bounds the error amplification. z comes from a few
multigrid-preconditioned CG steps on A z = 1, and both solvers iterate until B |r|_max is
small enough. Errors of the band values reach the Laplace region at most unamplified (maximum
principle), so the two phases share the tolerance.

Methods: "sor" is the paper's successive over-relaxation (lexicographic, omega from B);
"fast" is flexible conjugate gradients preconditioned by an aggregation multigrid K-cycle
(2 x 2 aggregates, Galerkin coarse levels, red-black Gauss-Seidel smoothing); a phase whose
matrix, numbered breadth first, has a narrow envelope (the band phase: chains along the edges)
is first solved by its Cholesky factor, which the CG then certifies.

Costs: an Inpainter holds about 140 bytes per pixel (two operator hierarchies, the solver
vectors, the runs and a direct solver's numbering; a solve peaks near 180), 37 more once it
has run uncertified solves (their vectors are float32) and 37 more per extra thread of
solve_fields, and a band factor of at most DIRECT_ENVELOPE numbers per band pixel; the
kernels release the GIL, but one Inpainter must not be used by two threads at once (its
vectors are shared), except through solve_fields, which gives each thread its own. Iteration caps bound the running
time for any masks; a solve that hits one returns its best iterate with an InpaintWarning.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np

from . import _kernels as K

METHODS = ("sor", "fast")
# Iteration caps keep the running time bounded whatever the masks.
MAX_FCG_ITER = 300
MAX_SOR_SWEEPS = 50_000
SOR_CHECK = 10
# The error certificate solves A z = 1 until max |1 - A z| <= this.
CERT_THRESHOLD = 0.75
# Share of the tolerance given to the band phase (the Laplace phase gets the rest).
BAND_SHARE = 0.25
# Runs of active cells bridge up to this many inactive cells (loop overhead vs wasted work).
RUN_GAP = 8
# A phase whose Cholesky factor, numbered breadth first, has at most this many numbers per
# cell (envelope) and costs at most DIRECT_COST times its cells to compute is solved directly:
# the band phase nearly always (chains along the edges), never the Laplace phase (2-D).
DIRECT_ENVELOPE = 16
DIRECT_COST = 64
# Precision of the solver vectors in uncertified solves (``steps``): they rank layouts, and
# half the memory traffic of float64 makes them faster when both cores are busy.  Certified
# solves use it too where the residual they need is at least F32_RESIDUAL times the data's
# magnitude (float32 rounds a residual of a stored iterate to about 2^-21 of it), and then
# allow for the right-hand side's rounding, at most RHS_ROUNDING times the magnitude.
ROUGH_DTYPE = np.float32
F32_RESIDUAL = 2.0 ** -17
RHS_ROUNDING = 2.0 ** -20
# The certificate's z is float32: A z is rounded to float32 before its minimum is taken.
CERT_SLACK = 1.0 + 2.0 ** -20
# A reduced solve (solve_reduced) iterates until its residual is this fraction of the largest
# right-hand side: far below what 8-bit output resolves on the level it solves.
REDUCED_RESIDUAL = 1e-5
# ... on this level at most (2 x 2 aggregates; smaller images are averaged from it): larger
# aggregates straddle the thin edge bands and mix the values of both sides (a disk 16 grey
# levels too dark on 4 x 4 aggregates of a test picture, against 0.3 on 2 x 2).
REDUCED_SOLVE_LEVEL = 1
# Largest image side accepted (keeps every allocation bounded and indices in int64).
MAX_SIDE = 1 << 16


class InpaintWarning(RuntimeWarning):
    """The iteration cap was reached before the tolerance could be certified."""


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
        self.d, self.q = np.zeros(n0, dtype), np.zeros(n0, dtype)
        # right-hand side and start vector of a phase's solve: reused, because a fresh large
        # array costs a page fault per 4 KiB on first touch (more than a few solver steps)
        self.rhs, self.start = np.zeros(n0, dtype), np.zeros(n0, dtype)

    @staticmethod
    def zeroed(v: np.ndarray) -> np.ndarray:
        v.fill(0.0)
        return v


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
        total = int(dims[-1, 0]) + 9
        self.n0 = (h + 2) * (w + 2)
        # per phase (band, Laplace): diag, idiag, cE, cS (float32: a sweep moves less
        # memory), each operator built over the last one (every interior cell is written;
        # the padding stays 0)
        self.operators = tuple(tuple(np.zeros(total, dtype=np.float32) for _ in range(4))
                               for _ in range(2))
        # per phase: room for the runs of every level (see K.max_runs)
        most = sum(K.max_runs(int(lh), int(lw), RUN_GAP) for _, lh, lw in dims)
        self.runs = tuple(np.zeros((most, 4), dtype=np.uint64) for _ in range(2))
        # cell numbers of a direct solver's ordering, over the fine level's padded grid
        self.local = np.zeros(self.n0, dtype=np.int64)
        self.owner: object | None = None

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

    def take(self, owner: object) -> None:
        """Hand the memory to ``owner``."""
        self.owner = owner


class _Phase:
    """One linear system (band or Laplace) with its multigrid hierarchy and error certificate."""

    def __init__(self, active: np.ndarray, band_mode: bool, band: np.ndarray, scratch: Scratch,
                 operator: tuple[np.ndarray, ...], runs: np.ndarray, direct: bool = False):
        """``operator``: arrays for diag, idiag, cE, cS (see _inpaint_kernels), zero on the
        padding; ``runs``: room for the runs of every level (K.max_runs rows per level);
        ``direct``: factorise the system if that is cheap (see DIRECT_ENVELOPE)."""
        self.active = active
        self.count = int(active.sum())
        self.scratch = scratch
        self.n0 = scratch.n0
        # solves in several threads (Inpainter.solve_fields) may reach the coarse levels
        # first at the same time: one builds them, the others wait
        self._building = threading.Lock()
        self._bound = None
        self.last_iterations = 0
        #: (order, first, start, L, room) of the direct solver (see K.envelope_order), or None
        self.factor = None
        if self.count == 0:
            return
        dims = scratch.dims
        self.diag, self.idiag, self.cE, self.cS = operator
        n = K.build_fine(active, band_mode, band, self.diag, self.idiag, self.cE, self.cS)
        # links to the data pixels (known, or solved by the other phase): every right-hand
        # side and adjoint goes along them
        self.link_dst, self.link_src = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        K.boundary_links(active, band_mode, band, self.diag, self.cE, self.cS, self.link_dst,
                         self.link_src)
        # kernel table: (offset, padded width, first run, end run); the coarse levels are
        # built on first use (_hierarchy): a factorised phase never needs them to score
        self.levels = np.zeros((len(dims), 4), dtype=np.uint64)
        self.levels[:, 0] = dims[:, 0]
        self.levels[:, 1] = dims[:, 2] + 2
        self._room = runs
        self.levels[0, 3] = K.fill_runs(self.idiag, *dims[0], RUN_GAP, runs, 0)
        self.runs = runs[:int(self.levels[0, 3])]
        self._coarse = len(dims) == 1
        if direct:
            self._factorise()

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
            K.coarsen(self.diag, self.idiag, self.cE, self.cS, *dims[i], *dims[i + 1])
        lv = self.levels
        nruns = int(lv[0, 3])
        for i in range(1, len(dims)):
            lv[i, 2] = nruns
            # room: the rows before hold the earlier levels' runs, at most their max_runs
            nruns = K.fill_runs(self.idiag, *dims[i], RUN_GAP, self._room, nruns)
            lv[i, 3] = nruns
        self.runs = self._room[:nruns]
        self._coarse = True

    def _factorise(self) -> None:
        """Set self.factor if the envelope is small enough."""
        order = np.empty(self.count, dtype=np.int64)
        first = np.empty(self.count, dtype=np.int64)
        wp, r0, r1 = (int(v) for v in self.levels[0, 1:4])
        local = self.scratch.local
        n, size, cost = K.envelope_order(self.diag, self.cE, self.cS, wp, self.runs, r0, r1,
                                         local, order, first)
        if n != self.count or size > DIRECT_ENVELOPE * n or cost > DIRECT_COST * n:
            return
        start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.arange(n) - first + 1, out=start[1:])
        factor = np.empty(size)
        if K.envelope_cholesky(self.diag, self.cE, self.cS, wp, order, first, local, start,
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
            K.envelope_solve(*self.factor, b, x, room)
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

    def bound(self) -> float:
        """B >= max-norm of A^{-1}: the error is at most B times the largest residual."""
        if self._bound is None:
            # z only has to satisfy A z >= c > 0: float32 vectors do, A z is formed from the
            # stored z in float64 and only its float32 rounding is allowed for (CERT_SLACK)
            ws = self.scratch.workspace(np.float32)
            wp, r0, r1 = self.levels[0, 1:4]
            ones = self.filled(ws.rhs, 1.0)
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
        if warn and not err <= tol:
            warnings.warn(
                f"inpaint: iteration cap reached, error bound {err:.3g} > tol {tol:.3g}",
                InpaintWarning,
                stacklevel=4,
            )
        return x, err


def _check_mask(name: str, a: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.bool_:
        raise ValueError(f"inpaint: {name} must be a bool array, not {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"inpaint: {name} must be 2-D, got shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"inpaint: {name} has shape {a.shape}, expected {shape}")
    if not (1 <= a.shape[0] <= MAX_SIDE and 1 <= a.shape[1] <= MAX_SIDE):
        raise ValueError(f"inpaint: image size {a.shape} out of range")
    return np.ascontiguousarray(a)


def _check_field(name: str, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(a)
    if a.shape != shape:
        raise ValueError(f"inpaint: {name} has shape {a.shape}, expected {shape}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"inpaint: {name} must be numeric, not {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _check_steps(steps: int | None, method: str) -> None:
    if steps is None:
        return
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) \
            or not 1 <= steps <= MAX_FCG_ITER:
        raise ValueError(f"inpaint: steps must be an integer in 1..{MAX_FCG_ITER}, "
                         f"not {steps!r}")
    if method != "fast":
        raise ValueError("inpaint: steps applies to the fast method only")


def _check_method(method: str, tol: float) -> None:
    if method not in METHODS:
        raise ValueError(f"inpaint: method must be one of {METHODS}, not {method!r}")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"inpaint: tol must be a positive number, not {tol!r}")


class Inpainter:
    """The inpainting operator for fixed masks; reusable for many value sets (and its adjoint).

    The set-up and the error certificates are done once; later solves only iterate.
    """

    def __init__(self, known: np.ndarray, band: np.ndarray, scratch: Scratch | None = None):
        """``scratch``: memory to build on (taken over; default: fresh)."""
        known = _check_mask("known", known, None)
        band = _check_mask("band", band, known.shape)
        if not known.any():
            raise ValueError("inpaint: no known pixel")
        if scratch is None:
            scratch = Scratch(known.shape)
        elif scratch.shape != known.shape:
            raise ValueError(f"inpaint: scratch is for size {scratch.shape}, not {known.shape}")
        scratch.take(self)
        self._scratch = scratch
        self.known, self.band, self.shape = known, band, known.shape
        h, w = known.shape
        bandrow = np.empty((h, w), dtype=np.bool_)
        K.band_rows(known, band, bandrow)
        grounded = np.empty((h, w), dtype=np.bool_)
        K.ground_band(bandrow, known, band, np.empty(h * w, dtype=np.int64), grounded)
        self.band_phase = _Phase(grounded, True, band, scratch, scratch.operators[0],
                                 scratch.runs[0], direct=True)
        # Laplace rows: neither known nor a band row (isolated band pixels included)
        self.laplace_phase = _Phase(~known & ~bandrow, False, band, scratch,
                                    scratch.operators[1], scratch.runs[1])
        #: certified bound on max |u - u_exact| of the last solve
        self.last_error = 0.0

    def _check_scratch(self) -> None:
        if self._scratch.owner is not self:
            raise RuntimeError("inpaint: this Inpainter's scratch memory was taken over by "
                               "another Inpainter")

    def solve(self, values: np.ndarray, *, tol: float = 1e-3, method: str = "fast",
              guess: np.ndarray | None = None, steps: int | None = None) -> np.ndarray:
        """u (float64, H x W) with max |u - u_exact| <= tol.

        ``guess``: an image near the solution (say, the solution for nearby values) to start
        the iteration from; it saves iterations, never accuracy.
        ``steps``: instead of certifying ``tol``, take exactly this many steps of the fast
        method in each phase (a factorised phase is solved exactly instead): an uncertified
        approximation (last_error is inf) for callers that rank many masks and need speed
        more than a guarantee.
        """
        _check_method(method, tol)
        _check_steps(steps, method)
        values = _check_field("values", values, self.shape)
        if not np.isfinite(values[self.known]).all():
            raise ValueError("inpaint: values at known pixels must be finite")
        if guess is not None:
            guess = _check_field("guess", guess, self.shape)
            if not np.isfinite(guess).all():
                raise ValueError("inpaint: guess must be finite")
        return self.solve_field(np.where(self.known, values, 0.0), tol, method, guess, steps)

    def solve_field(self, u: np.ndarray, tol: float, method: str = "fast",
                    guess: np.ndarray | None = None, steps: int | None = None,
                    warn: bool = True, start: float | None = None) -> np.ndarray:
        """solve() without its array checks, for callers inside the package that built
        the arrays: ``u`` is a C-contiguous float64 H x W array holding the values at the
        known pixels and 0 elsewhere, overwritten with the solution and returned; ``guess``,
        if given, C-contiguous float64 H x W and finite.  ``warn=False``: no InpaintWarning
        when the cap is reached (the caller reads last_error instead).  ``start``: without
        a guess, start from this (finite) constant instead of 0 (say, the mean stored
        value: the first residual is then the spread of the data, not its level)."""
        _check_method(method, tol)
        _check_steps(steps, method)
        self._check_scratch()
        self.last_error = self._solve_both(u, tol, method, guess, steps, warn, start)
        return u

    def _solve_both(self, u: np.ndarray, tol: float, method: str, guess: np.ndarray | None,
                    steps: int | None, warn: bool, start: float | None,
                    lane: int = 0) -> float:
        """solve_field's work; returns the certified error."""
        errors = [0.0, 0.0]
        # every solution value lies within the data's range (maximum principle), up to the
        # band phase's error in the Laplace phase's data
        scale = max(float(u.max()), -float(u.min())) + tol
        # band first (its data: known band pixels), then Laplace (data: known and band pixels);
        # band errors reach the Laplace region at most unamplified (maximum principle)
        errors[0] = self._solve_phase(self.band_phase, u, BAND_SHARE * tol, scale, method,
                                      guess, steps, warn, start, lane)
        # what the band left; its nominal share if it could not be certified
        share = tol - errors[0] if errors[0] < tol else (1.0 - BAND_SHARE) * tol
        errors[1] = self._solve_phase(self.laplace_phase, u, share, scale, method, guess,
                                      steps, warn, start, lane)
        return errors[0] + errors[1]

    def solve_fields(self, fields: list[np.ndarray], tols: list[float],
                     starts: list[float | None], threads: int = 2) -> list[float]:
        """solve_field (certified, fast method, no warning) of several channels at once, in up
        to ``threads`` threads, each with its own solver vectors (the operator, its hierarchy
        and certificates are shared and made first); returns the certified errors.  Channels
        that need float64 vectors (a large bound) are solved one after another."""
        self._check_scratch()
        for t in tols:
            _check_method("fast", t)
        count = len(fields)
        threads = max(1, min(int(threads), count))
        # everything shared is made before the threads start: certificates, coarse levels
        scales = [max(float(u.max()), -float(u.min())) + t
                  for u, t in zip(fields, tols, strict=True)]
        rough = True
        for ph in (self.band_phase, self.laplace_phase):
            if ph.count:
                for scale, t in zip(scales, tols):
                    rough = rough and ph.precision(BAND_SHARE * t, scale, "fast") == np.float32
                if ph.factor is None:
                    ph._hierarchy()
        if threads == 1 or not rough:
            return [self._solve_both(u, t, "fast", None, None, False, s)
                    for u, t, s in zip(fields, tols, starts, strict=True)]
        for lane in range(threads):
            self._scratch.workspace(np.float32, lane=lane)
        errors = [0.0] * count

        def run(lane: int) -> None:
            for i in range(lane, count, threads):
                errors[i] = self._solve_both(fields[i], tols[i], "fast", None, None, False,
                                             starts[i], lane)

        helpers = [threading.Thread(target=run, args=(lane,)) for lane in range(1, threads)]
        for t in helpers:
            t.start()
        try:
            run(0)
        finally:
            for t in helpers:
                t.join()
        return errors

    def _solve_phase(self, ph: _Phase, u: np.ndarray, tol: float, scale: float, method: str,
                     guess: np.ndarray | None, steps: int | None, warn: bool,
                     start: float | None = None, lane: int = 0) -> float:
        """Solve one phase with the data in ``u`` (its other pixels), write its pixels into u;
        returns the certified error (0 for an empty phase)."""
        if not ph.count:
            return 0.0
        dtype = ROUGH_DTYPE if steps is not None else ph.precision(tol, scale, method)
        # float64 vectors are needed where the bound is large (big images, few stored
        # pixels): the float32 ones of the bound then go first (peak memory)
        ws = self._scratch.workspace(dtype, alone=dtype == np.float64 and lane == 0,
                                     lane=lane)
        b = ws.zeroed(ws.rhs)
        K.gather_links(ph.link_dst, ph.link_src, u.ravel(), b)
        # float32 sums of up to 4 data values, each rounding once
        rhs_error = RHS_ROUNDING * scale if dtype == np.float32 else 0.0
        x = None
        if guess is not None:
            x = ws.start
            K.pad_field(ph.active, guess, x)
        elif start is not None and ph.factor is None:
            x = ph.filled(ws.start, start)
        x, err = ph.solve(b, tol, method, x, steps, rhs_error, warn, lane)
        K.unpad_field(ph.active, x, u)
        return err

    def solve_reduced(self, values: np.ndarray, level: int, *, tol: float = 1e-3) -> np.ndarray:
        """The means of u over blocks of 2^level x 2^level pixels (ceil(H / 2^level) x
        ceil(W / 2^level), blocks cut by the border averaged over their pixels): a reduced-size
        decode.  The band phase is solved as in ``solve`` (to ``tol``); the Laplace phase on
        level ``level`` of its multigrid hierarchy (the Galerkin operator of 2^level x 2^level
        aggregates, whose value stands for the mean of the aggregate's Laplace pixels) with the
        same multigrid below it: an approximation, uncertified, of 4^level times fewer cells.
        """
        _check_method("fast", tol)
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level < 0:
            raise ValueError(f"inpaint: level must be an integer >= 0, not {level!r}")
        values = _check_field("values", values, self.shape)
        if not np.isfinite(values[self.known]).all():
            raise ValueError("inpaint: values at known pixels must be finite")
        self._check_scratch()
        u = np.where(self.known, values, 0.0)
        dims = self._scratch.dims
        h, w = self.shape
        level = int(level)
        # the multigrid solve needs a level below the one it starts on
        k = min(level, REDUCED_SOLVE_LEVEL, len(dims) - 2)
        lp = self.laplace_phase
        if k <= 0 or not lp.count:
            u = self.solve_field(u, tol)
            xk = None
        else:
            scale = max(float(u.max()), -float(u.min())) + tol
            self.last_error = self._solve_phase(self.band_phase, u, BAND_SHARE * tol, scale,
                                                "fast", None, None, True)
            xk = self._laplace_on_level(lp, u, k)
        if xk is None:
            return block_means(u, level)
        # u holds 0 on the Laplace pixels: the level's cells stand for their values
        sub = 1 << k
        fine = np.repeat(np.repeat(xk, sub, axis=0), sub, axis=1)[:h, :w]
        return block_means(np.where(lp.active, fine, u), level)

    @staticmethod
    def _laplace_on_level(lp: _Phase, u: np.ndarray, k: int) -> np.ndarray:
        """x of the Laplace phase solved on level k (k >= 1, below the coarsest level) with
        the right-hand side restricted from the fine level; returns its (h_k, w_k) cells."""
        lp._hierarchy()
        dims = lp.scratch.dims
        total = int(dims[-1, 0]) + 9
        b = np.zeros(total)
        K.gather_links(lp.link_dst, lp.link_src, u.ravel(), b)
        for i in range(k):
            K.restrict_sum(b, *dims[i], *dims[i + 1])
        levels = np.ascontiguousarray(lp.levels[k:])
        x, r, z, c1, v1, d, q = (np.zeros(total) for _ in range(7))
        diag, idiag, cE, cS, _, runs = lp._operator()
        wp, r0, r1 = levels[0, 1:4]
        bmax = K.level_abs_max(b, runs, r0, r1)
        K.fcg(diag, idiag, cE, cS, cE, cS, levels, runs, b, x, REDUCED_RESIDUAL * bmax,
              MAX_FCG_ITER, r, z, c1, v1, d, q)
        off, hk, wk = (int(v) for v in dims[k])
        return x[off:off + (hk + 2) * (wk + 2)].reshape(hk + 2, wk + 2)[1:-1, 1:-1]

    def adjoint(self, rhs: np.ndarray, *, tol: float = 1e-3, method: str = "fast",
                steps: int | None = None) -> np.ndarray:
        """S^T rhs, where S is the linear map values -> u; zero off the known pixels.

        The max error of the result is at most tol (in the units of rhs); ``steps`` as in
        ``solve``.
        """
        _check_method(method, tol)
        _check_steps(steps, method)
        g = _check_field("rhs", rhs, self.shape)
        if not np.isfinite(g).all():
            raise ValueError("inpaint: rhs must be finite")
        return np.where(self.known, self.adjoint_field(g.copy(), tol, method, steps), 0.0)

    def adjoint_field(self, t: np.ndarray, tol: float, method: str = "fast",
                      steps: int | None = None, warn: bool = True) -> np.ndarray:
        """adjoint() without its array checks and its last masking, for callers inside the
        package: ``t``, a C-contiguous float64 H x W copy of the (finite) right-hand side,
        is overwritten and returned; S^T rhs is its value at the known pixels (the other
        pixels hold intermediate sums).  ``warn=False``: no InpaintWarning."""
        _check_method(method, tol)
        _check_steps(steps, method)
        self._check_scratch()
        bp, lp = self.band_phase, self.laplace_phase
        # S^T g = g_K + C_LK^T y_L + C_BK^T y_B with y_L = A_L^{-1} g_L and
        # y_B = A_B^{-1} (g_B + C_LB^T y_L). Each pixel has at most 4 neighbours, so with solve
        # errors e_L, e_B the result is off by at most 4 e_L + 4 (e_B + 4 B_band e_L) <= tol.
        b_band = bp.bound() if bp.count and steps is None else 0.0
        e_l = tol / (8.0 + 32.0 * b_band)
        e_b = tol / 8.0
        ws = self._scratch.workspace(ROUGH_DTYPE if steps is not None else np.float64)
        for ph, e in ((lp, e_l), (bp, e_b)):
            if ph.count:
                b = ws.rhs
                K.pad_field(ph.active, t, b)
                y, _ = ph.solve(b, e, method, None, steps, warn=warn)
                K.scatter_links(ph.link_dst, ph.link_src, y, t.ravel())
        return t


def solve(
    known: np.ndarray,
    values: np.ndarray,
    band: np.ndarray,
    *,
    tol: float = 1e-3,
    method: str = "fast",
) -> np.ndarray:
    """Inpaint: the solution u (float64, H x W) of the problem above, max error <= tol."""
    _check_method(method, tol)
    return Inpainter(known, band).solve(values, tol=tol, method=method)


def solve_adjoint(
    known: np.ndarray,
    band: np.ndarray,
    rhs: np.ndarray,
    *,
    tol: float = 1e-3,
    method: str = "fast",
) -> np.ndarray:
    """Adjoint of the map values -> u applied to rhs (H x W); nonzero only on known pixels."""
    _check_method(method, tol)
    return Inpainter(known, band).adjoint(rhs, tol=tol, method=method)


def block_means(a: np.ndarray, level: int) -> np.ndarray:
    """Means of a 2-D array over blocks of 2^level x 2^level (ceil size; the blocks cut by
    the border over their own pixels): the reduced image."""
    s = 1 << level
    h, w = a.shape
    hs, ws = -(-h // s), -(-w // s)
    sums = np.zeros((hs * s, ws * s))
    sums[:h, :w] = a
    count = np.zeros((hs * s, ws * s))
    count[:h, :w] = 1.0
    return sums.reshape(hs, s, ws, s).sum((1, 3)) / count.reshape(hs, s, ws, s).sum((1, 3))


def to_uint8(u: np.ndarray) -> np.ndarray:
    """Decoded grey levels: floor(u + 0.5) clamped to 0..255 (NaN gives 0)."""
    v = np.add(u, 0.5, dtype=np.float64)
    np.floor(v, out=v)
    # fmax takes the number where one side is NaN: the cast of NaN would be undefined
    np.fmax(v, 0.0, out=v)
    np.minimum(v, 255.0, out=v)
    return v.astype(np.uint8)
