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
the value 0 (the limit of any iteration started at 0). Every other part of the problem is then
uniquely solvable; in particular every Laplace region touches a known or band pixel as soon as
one pixel is known.

Accuracy: both methods stop on a certified bound, max |u - u_exact| <= tol. For an M-matrix A
(each system above is one), |A^{-1} r| <= |r|_max A^{-1} 1; any z with A z >= c > 0 gives
A^{-1} 1 <= z / c, so B = max(z) / c bounds the error amplification. z comes from a few
multigrid-preconditioned CG steps on A z = 1, and both solvers iterate until B |r|_max is
small enough. Errors of the band values reach the Laplace region at most unamplified (maximum
principle), so the two phases share the tolerance.

Methods: "sor" is the paper's successive over-relaxation (lexicographic, omega from B);
"fast" is conjugate gradients preconditioned by an aggregation multigrid V-cycle.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import _inpaint_kernels as K

METHODS = ("sor", "fast")
# Iteration caps keep the running time bounded whatever the masks.
MAX_PCG_ITER = 500
MAX_SOR_SWEEPS = 200_000
SOR_CHECK = 10
# The error certificate solves A z = 1 until max |1 - A z| <= this.
CERT_THRESHOLD = 0.75
# Share of the tolerance given to the band phase (the Laplace phase gets the rest).
BAND_SHARE = 0.25
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


class _Phase:
    """One linear system (band or Laplace) with its multigrid hierarchy and error certificate."""

    def __init__(self, active: np.ndarray, band_mode: bool, band: np.ndarray):
        self.active = active
        self.count = int(active.sum())
        h, w = active.shape
        self.n0 = (h + 2) * (w + 2)
        self._bound = None
        self.last_iterations = 0
        if self.count == 0:
            return
        dims = _level_dims(h, w)
        self.total = total = int(dims[-1, 0]) + 9
        self.diag = np.zeros(total)
        self.idiag = np.zeros(total)
        self.cE = np.zeros(total)
        self.cS = np.zeros(total)
        K.build_fine(active, band_mode, band, self.diag, self.idiag, self.cE, self.cS)
        for i in range(len(dims) - 1):
            K.coarsen(self.diag, self.idiag, self.cE, self.cS, *dims[i], *dims[i + 1])
        # kernel table: (offset, padded width, first run, end run)
        lv = np.zeros((len(dims), 4), dtype=np.uint64)
        lv[:, 0] = dims[:, 0]
        lv[:, 1] = dims[:, 2] + 2
        nruns = 0
        for i in range(len(dims)):
            lv[i, 2] = nruns
            nruns += K.count_runs(self.idiag, *dims[i])
            lv[i, 3] = nruns
        self.runs = np.zeros((nruns, 4), dtype=np.uint64)
        for i in range(len(dims)):
            K.fill_runs(self.idiag, *dims[i], self.runs, int(lv[i, 2]))
        self.levels = lv
        self.work = np.zeros((6, total))

    def _args(self):
        return self.diag, self.idiag, self.cE, self.cS, self.levels, self.runs

    def _level0(self):
        return self.levels[0, 1], self.runs, self.levels[0, 2], self.levels[0, 3]

    def pcg(self, b: np.ndarray, x: np.ndarray, thr: float) -> tuple[int, float]:
        """Solve A x = b by multigrid-preconditioned CG until max |residual| <= thr."""
        it, res = K.fcg(*self._args(), b, x, thr, MAX_PCG_ITER, self.work)
        return int(it), float(res)

    def sor(self, b: np.ndarray, x: np.ndarray, thr: float) -> tuple[int, float]:
        """Solve A x = b by SOR until max |residual| <= thr."""
        it, res = K.sor(
            *self._args(), b, x, self.omega(), thr, MAX_SOR_SWEEPS, SOR_CHECK, self.work[0]
        )
        return int(it), float(res)

    def bound(self) -> float:
        """B >= max-norm of A^{-1}: the error is at most B times the largest residual."""
        if self._bound is None:
            ones = np.zeros(self.n0)
            K.pad_field(self.active, np.ones(self.active.shape), ones)
            z = np.zeros(self.n0)
            az = np.zeros(self.n0)
            wp, runs, r0, r1 = self._level0()
            thr = CERT_THRESHOLD
            for _ in range(8):
                self.pcg(ones, z, thr)
                K.matvec(self.diag, self.cE, self.cS, z, az, wp, runs, r0, r1)
                c, zmax = K.min_max_level(az, z, runs, r0, r1)
                if c > 0.1:
                    break
                thr *= 0.1
            else:  # pragma: no cover - needs a breakdown of CG on an SPD system
                raise RuntimeError("inpaint: no error certificate")
            # a hair of slack for the rounding in A z
            self._bound = float(zmax / c) * (1.0 + 1e-9)
        return self._bound

    def omega(self) -> float:
        """SOR relaxation factor from the bound: Jacobi radius <= 1 - 1 / (4 B)."""
        rho = 1.0 - 1.0 / (4.0 * self.bound())
        return 2.0 / (1.0 + np.sqrt(max(1.0 - rho * rho, 0.0)))

    def solve(self, b: np.ndarray, tol: float, method: str) -> tuple[np.ndarray, float]:
        """Solve A x = b to max error <= tol; returns (x on level 0, certified error bound)."""
        x = np.zeros(self.n0)
        bound = self.bound()
        thr = tol / bound
        if method == "fast":
            it, res = self.pcg(b, x, thr)
        else:
            it, res = self.sor(b, x, thr)
        self.last_iterations = it
        err = bound * res
        if not err <= tol:
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


def _check_method(method: str, tol: float) -> None:
    if method not in METHODS:
        raise ValueError(f"inpaint: method must be one of {METHODS}, not {method!r}")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"inpaint: tol must be a positive number, not {tol!r}")


class Inpainter:
    """The inpainting operator for fixed masks; reusable for many value sets (and its adjoint)."""

    def __init__(self, known: np.ndarray, band: np.ndarray):
        known = _check_mask("known", known, None)
        band = _check_mask("band", band, known.shape)
        if not known.any():
            raise ValueError("inpaint: no known pixel")
        self.known, self.band, self.shape = known, band, known.shape
        h, w = known.shape
        bandrow = np.empty((h, w), dtype=np.bool_)
        K.band_rows(known, band, bandrow)
        grounded = np.empty((h, w), dtype=np.bool_)
        K.ground_band(bandrow, known, band, np.empty(h * w, dtype=np.int64), grounded)
        self.band_active = grounded
        # Laplace rows: everything neither known nor a band row (isolated band pixels included)
        self.laplace_active = ~known & ~bandrow
        self.band_phase = _Phase(grounded, True, band)
        self.laplace_phase = _Phase(self.laplace_active, False, band)
        self.last_error = 0.0

    def solve(self, values: np.ndarray, *, tol: float = 1e-3, method: str = "fast") -> np.ndarray:
        """u (float64, H x W) with max |u - u_exact| <= tol."""
        _check_method(method, tol)
        values = _check_field("values", values, self.shape)
        if not np.isfinite(values[self.known]).all():
            raise ValueError("inpaint: values at known pixels must be finite")
        u = np.where(self.known, values, 0.0)
        zero = np.zeros(self.shape)
        err_b = 0.0
        bp, lp = self.band_phase, self.laplace_phase
        if bp.count:
            b = np.zeros(bp.n0)
            K.gather_rhs(bp.active, True, self.band, u, zero, b)
            x, err_b = bp.solve(b, BAND_SHARE * tol, method)
            K.unpad_field(bp.active, x, u)
        err_l = 0.0
        if lp.count:
            b = np.zeros(lp.n0)
            K.gather_rhs(lp.active, False, self.band, u, zero, b)
            x, err_l = lp.solve(b, tol - err_b, method)
            K.unpad_field(lp.active, x, u)
        self.last_error = err_b + err_l
        return u

    def adjoint(self, rhs: np.ndarray, *, tol: float = 1e-3, method: str = "fast") -> np.ndarray:
        """S^T rhs, where S is the linear map values -> u (zero off the known pixels)."""
        _check_method(method, tol)
        g = _check_field("rhs", rhs, self.shape)
        if not np.isfinite(g).all():
            raise ValueError("inpaint: rhs must be finite")
        bp, lp = self.band_phase, self.laplace_phase
        # error split (see docs): result error <= 4 eL + 4 (eB + 4 B_band eL) <= tol
        b_band = bp.bound() if bp.count else 0.0
        e_l = tol / (8.0 + 32.0 * b_band)
        e_b = tol / 8.0
        t = np.zeros(self.shape)
        if lp.count:
            b = np.zeros(lp.n0)
            K.pad_field(lp.active, g, b)
            y, _ = lp.solve(b, e_l, method)
            K.scatter_adjoint(lp.active, False, self.band, y, t)
        if bp.count:
            b = np.zeros(bp.n0)
            K.pad_field(bp.active, g + t, b)
            y, _ = bp.solve(b, e_b, method)
            K.scatter_adjoint(bp.active, True, self.band, y, t)
        return np.where(self.known, g + t, 0.0)


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
    """Adjoint of values -> u applied to rhs (H x W); nonzero only on known pixels."""
    _check_method(method, tol)
    return Inpainter(known, band).adjoint(rhs, tol=tol, method=method)


def to_uint8(u: np.ndarray) -> np.ndarray:
    """Decoded grey levels: floor(u + 0.5) clamped to 0..255."""
    u = np.asarray(u, dtype=np.float64)
    # NaN would make the cast undefined; map it to 0
    v = np.floor(np.nan_to_num(u, nan=0.0) + 0.5)
    return np.clip(v, 0, 255).astype(np.uint8)
