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
multigrid-preconditioned CG steps on A z = 1 (or, where the data include a seed lattice,
from the lattice's own A^{-1} 1, solved once on a small image and repeated: Phase.lattice_bound;
more data only lower A^{-1} 1, and A z >= c is checked on the real grid), and both solvers
iterate until B |r|_max is small enough. Errors of the band values reach the Laplace region
at most unamplified (maximum principle), so the two phases share the tolerance.

Methods: "sor" is the paper's successive over-relaxation (lexicographic, omega from B);
"fast" is flexible conjugate gradients preconditioned by an aggregation multigrid K-cycle
(2 x 2 aggregates, Galerkin coarse levels, red-black Gauss-Seidel smoothing); a phase whose
matrix, numbered breadth first, has a narrow envelope (the band phase: chains along the edges)
is first solved by its Cholesky factor, which the CG then certifies.  A certified solve
without a guess starts from the solution of its problem restricted to the first coarse level
(full multigrid: the fine CG then starts with the smooth part of the error gone).

Costs: an Inpainter holds about 110 bytes per pixel (two operator hierarchies, the float32
solver vectors, the runs and a direct solver's numbering), 24 more once a certified solve
needed more than float32 (its residual, iterate and data in float64 on the fine level: see
phase.REFINE_REDUCTION; 85 instead where refining stalls and the solve takes float64
vectors), 43 more per extra thread of solve_fields, and a band factor of at most
DIRECT_ENVELOPE numbers per band pixel (the numbering can go once it is set up:
Scratch.drop_numbering); the kernels release the GIL, but one Inpainter must not be used by
two threads at once (its vectors are shared), except through solve_fields, which gives each
thread its own. Iteration caps bound the running time for any masks; a solve that hits one
returns its best iterate with an InpaintWarning.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from . import _grid_kernels as G
from . import _kernels as K
from .phase import MAX_FCG_ITER, MAX_SIDE, InpaintWarning, Phase, Scratch

__all__ = ["METHODS", "InpaintWarning", "Inpainter", "Scratch", "block_means", "solve",
           "solve_adjoint", "to_uint8"]

METHODS = ("sor", "fast")
# Share of the tolerance given to the band phase (the Laplace phase gets the rest).
BAND_SHARE = 0.25
# Precision of the solver vectors in uncertified solves (``steps``): they rank layouts, and
# half the memory traffic of float64 makes them faster when both cores are busy.  Certified
# solves use it too where phase.F32_RESIDUAL allows, and then allow for the right-hand
# side's rounding, at most RHS_ROUNDING times the magnitude; elsewhere they refine float32
# corrections in float64 (Phase.solve_refined).
ROUGH_DTYPE = np.float32
RHS_ROUNDING = 2.0 ** -20
# A reduced solve (solve_reduced) iterates until its residual is this fraction of the largest
# right-hand side: far below the error of the level's approximation (on 512 x 512 photos at
# 0.2 bpp the same block means as 1e-5 to 0.01 grey levels, and 1e-3 moves them by 1).
REDUCED_RESIDUAL = 1e-4
# ... on this level at most (2 x 2 aggregates; smaller images are averaged from it): larger
# aggregates straddle the thin edge bands and mix the values of both sides (a disk 16 grey
# levels too dark on 4 x 4 aggregates of a test picture, against 0.3 on 2 x 2).
REDUCED_SOLVE_LEVEL = 1


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

    def __init__(self, known: np.ndarray, band: np.ndarray, scratch: Scratch | None = None,
                 lattice: int = 0, overlap: bool = False, certify: bool = True,
                 derive: Callable[[np.ndarray], None] | None = None,
                 derive_adjoint: Callable[[np.ndarray], None] | None = None):
        """``scratch``: memory to build on (taken over; default: fresh).  ``lattice``: the
        step of a seed lattice whose pixels are all known (0: none), a hint that makes the
        error certificate cheaper (it is checked, and ignored where it does not hold).
        ``overlap``: build the Laplace phase, its hierarchy and its certificate in a second
        thread while this one builds and factorises the band phase (for a caller with a
        core to spare; the two share no memory until the solves); ``certify=False``: the
        certificate is left out (for reduced solves, which do not use it).  ``derive``: for
        known pixels whose values are made from the band phase's solution (edge-pixel sides):
        called with the field (flat, float64) after the band phase and before the Laplace
        phase, it writes those values; it may only read known pixels and band rows, and must
        move no value by more than the largest error of the values it reads (max, min and
        copies do), so that the certificate holds.  ``derive_adjoint``: its transpose, for
        adjoint solves where ``derive`` is linear (copies): called with the adjoint's field
        (flat) between its Laplace and band phases."""
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
        padded = np.empty((h + 2, w + 2), dtype=np.uint8)
        # (the direct solver's numbering, made later, is room enough for the search; the
        # band phase is built from it before that)
        nband = G.classify(known, band, scratch.local, padded)
        kind = padded[1:-1, 1:-1]
        # Laplace rows: neither known nor a band row (isolated band pixels included)
        laplace = kind == G.LAPLACE
        built: list = []

        def build_laplace() -> None:
            try:
                ph = Phase(laplace, False, band, scratch, scratch.operators[1], scratch.runs[1])
                ph.lattice = int(lattice)
                if overlap and ph.count:
                    if certify:
                        ph.bound()  # (builds the hierarchy if the lattice does not certify)
                    ph._hierarchy()
                built.append(ph)
            except BaseException as exc:  # re-raised in the building thread
                built.append(exc)

        helper = threading.Thread(target=build_laplace) if overlap else None
        if helper is not None:
            helper.start()
        try:
            self.band_phase = Phase(kind == G.BAND, True, band, scratch, scratch.operators[0],
                                     scratch.runs[0], direct=True,
                                     cells=(padded, scratch.local[:nband].copy()))
        finally:
            if helper is not None:
                helper.join()
        if helper is None:
            build_laplace()
        if isinstance(built[0], BaseException):
            raise built[0]
        self.laplace_phase = built[0]
        self.derive, self.derive_adjoint = derive, derive_adjoint
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
        if self.derive is not None:
            self.derive(u.reshape(-1))
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
        that float32 cannot certify alone (a large bound: refined in float64) are solved one
        after another."""
        self._check_scratch()
        for t in tols:
            _check_method("fast", t)
        count = len(fields)
        threads = max(1, min(int(threads), count))
        # everything shared is made before the threads start: certificates, coarse levels
        scales = [max(float(u.max()), -float(u.min())) + t
                  for u, t in zip(fields, tols, strict=True)]
        rough = True
        # each phase's least share of a channel's tolerance (_solve_both: the Laplace phase
        # gets at least the rest of it)
        for ph, share in ((self.band_phase, BAND_SHARE), (self.laplace_phase, 1 - BAND_SHARE)):
            if ph.count:
                for scale, t in zip(scales, tols, strict=True):
                    rough = rough and ph.precision(share * t, scale, "fast") == np.float32
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

    def _solve_phase(self, ph: Phase, u: np.ndarray, tol: float, scale: float, method: str,
                     guess: np.ndarray | None, steps: int | None, warn: bool,
                     start: float | None = None, lane: int = 0) -> float:
        """Solve one phase with the data in ``u`` (its other pixels), write its pixels into u;
        returns the certified error (0 for an empty phase)."""
        if not ph.count:
            return 0.0
        dtype = ROUGH_DTYPE if steps is not None else ph.precision(tol, scale, method)
        if dtype == np.float64 and method == "fast":
            return self._solve_refined(ph, u, tol, guess, warn, start, lane)
        # (float64 vectors: the SOR method; the float32 ones of the bound then go first)
        ws = self._scratch.workspace(dtype, alone=dtype == np.float64 and lane == 0,
                                     lane=lane)
        b = ws.rhs
        ph.gather(u, b)
        # float32 sums of up to 4 data values, each rounding once
        rhs_error = RHS_ROUNDING * scale if dtype == np.float32 else 0.0
        x = None
        if guess is not None:
            x = ws.start
            G.pad_field(ph.active, guess, x)
        elif ph.factor is None and ph.coarse_levels() and steps is None and method == "fast":
            x = ph.coarse_start(b, ws.start, 0.0 if start is None else start, lane)
        elif start is not None and ph.factor is None:
            x = ph.filled(ws.start, start)
        x, err = ph.solve(b, tol, method, x, steps, rhs_error, warn, lane)
        G.unpad_field(ph.active, x, u)
        return err

    def _solve_refined(self, ph: Phase, u: np.ndarray, tol: float, guess: np.ndarray | None,
                       warn: bool, start: float | None, lane: int) -> float:
        """_solve_phase where float32 vectors alone cannot certify ``tol``: float64 data and
        iterate on the fine level, float32 corrections (Phase.solve_refined)."""
        vec = self._scratch.refinement(lane)
        b, x = vec.rhs, vec.x
        ph.gather(u, b)
        if guess is not None:
            G.pad_field(ph.active, guess, x)
        elif start is not None and ph.factor is None:
            ph.filled(x, start)
        else:
            x.fill(0.0)
        coarse = guess is None and ph.factor is None and ph.coarse_levels()
        x, err = ph.solve_refined(b, x, tol, coarse, warn, lane)
        G.unpad_field(ph.active, x, u)
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
        return self.reduced_field(np.where(self.known, values, 0.0), int(level), tol)

    def reduced_field(self, u: np.ndarray, level: int, tol: float,
                      start: float | None = None) -> np.ndarray:
        """solve_reduced() without its checks, for callers inside the package that built the
        arrays: ``u`` as in solve_field (overwritten: the band phase's solution is written
        into it), ``level`` >= 0; ``start``: the Laplace phase's start value (see
        solve_field)."""
        _check_method("fast", tol)
        self._check_scratch()
        dims = self._scratch.dims
        # the multigrid solve needs a level below the one it starts on
        k = min(level, REDUCED_SOLVE_LEVEL, len(dims) - 2)
        lp = self.laplace_phase
        if k <= 0 or not lp.count:
            return block_means(self.solve_field(u, tol, warn=False, start=start), level)
        scale = max(float(u.max()), -float(u.min())) + tol
        # a factorised band phase is solved exactly, its certificate skipped (the reduced
        # image is an uncertified approximation anyway)
        steps = 1 if self.band_phase.factor is not None else None
        self._solve_phase(self.band_phase, u, BAND_SHARE * tol, scale, "fast", None, steps,
                          False)
        if self.derive is not None:
            self.derive(u.reshape(-1))
        self.last_error = np.inf
        xk = self._laplace_on_level(lp, u, k, start)
        # u holds 0 on the Laplace pixels: the level's cells stand for their values
        h, w = self.shape
        s = 1 << level
        out = np.zeros((-(-h // s), -(-w // s)))
        off, _, wk = dims[k]
        G.reduced_means(lp.active, u, xk, int(off), int(wk) + 2, k, level, out)
        return out

    @staticmethod
    def _laplace_on_level(lp: Phase, u: np.ndarray, k: int,
                          start: float | None) -> np.ndarray:
        """x of the Laplace phase solved on level k (k >= 1, below the coarsest level) with
        the right-hand side restricted from the fine level, from the solution on level k + 1
        (Phase.coarse_start) where there is a level below that; returns the solver's vector
        of all levels (float32 workspace), level k holding x."""
        diag, idiag, cE, cS, levels, runs = lp._operator()
        dims = lp.scratch.dims
        ws = lp.scratch.workspace(ROUGH_DTYPE)
        b, x = ws.rhs, ws.start
        lp.gather(u, b)
        for i in range(k):
            G.restrict_sum(b, *dims[i], *dims[i + 1])
        a = 0.0 if start is None else start
        if k + 2 < len(dims):
            lp.coarse_start(b, x, a, level=k)
        else:
            x.fill(0.0)
            K.fill_active(idiag, x, a, runs, levels[k, 2], levels[k, 3])
        sub = np.ascontiguousarray(levels[k:])
        bmax = K.level_abs_max(b, runs, sub[0, 2], sub[0, 3])
        K.fcg_on_level(diag, idiag, cE, cS, sub, runs, b, x, REDUCED_RESIDUAL * bmax,
                       MAX_FCG_ITER, ws.r, ws.z, ws.c1, ws.v1, ws.d, ws.q)
        return x

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
                G.pad_field(ph.active, t, b)
                y, _ = ph.solve(b, e, method, None, steps, warn=warn)
                G.scatter_links(*ph.links(), y, t.ravel())
            if ph is lp and self.derive_adjoint is not None:
                self.derive_adjoint(t.ravel())
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
    u = np.ascontiguousarray(u, dtype=np.float64)
    out = np.empty(u.shape, dtype=np.uint8)
    G.round_to_uint8(u.reshape(-1), out.reshape(-1))
    return out
