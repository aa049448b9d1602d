"""Numba kernels of the inpainting solver (see inpaint.py for the problem and the glue).

Every linear system here is a weighted graph Laplacian on a set of "active" pixels plus a
diagonal Dirichlet term: (A x)_p = diag_p x_p - sum_q c_pq x_q, with couplings c_pq only
between 4-adjacent active cells. It is stored on a zero-padded grid (one ring of empty cells)
so that stencil loops need no border tests; a grid of interior size h x w occupies
(h + 2) * (w + 2) entries of a flat array starting at a level offset:
  cE[p]  coupling between p and its east neighbour p + 1 (float32: small integers, exact),
  cS[p]  coupling between p and its south neighbour p + (w + 2) (float32, exact),
  diag[p] (float32: integers, exact below 2^24, which only the coarse levels of very large
  images pass; read as float64 wherever a residual is formed), idiag[p] = 1 / diag[p] rounded
  to float32 (used by smoothers only); both are 0 on inactive cells, which keeps x = 0 there.
Coarser levels are the Galerkin products P^T A P with P the piecewise-constant prolongation
from 2 x 2 aggregates, which are again of this form: that gives the multigrid preconditioner.
The Python side validates every shape and offset before calling in: numba does no bounds checks.
"""

import numpy as np
from numba import types
from numba.extending import overload

from .._kernel_cache import kernel
from ._grid_kernels import restrict_sum

# ---------------------------------------------------------------- level kernels
# Hot loops index with uint64: numba then skips its negative-index wrap-around test, which
# otherwise blocks vectorisation (about 4x slower). Every index below is >= 0 by construction
# (interior cells of padded grids), so p - 1 and p - wp never wrap.
U = np.uint64
ONE = np.uint64(1)
TWO = np.uint64(2)


# Level kernels take wp (padded width) and r0, r1 (the level's range of runs), all uint64.
# On the fine level every coupling between two active cells is 1 and every other is 0, so
# the kernels there take cE = cS = None and read no coupling arrays (40 % less memory
# traffic in a sweep): a coupling is then 1, and a cell that is not active contributes
# nothing because the vectors hold 0 there (x by the callers' contract; the K-cycle's and
# CG's own vectors because fcg leaves them zero on the fine level). Rows of cells that are
# not active are masked by min(diag, 1), which is 0 there and 1 on active fine cells.
UNIT = np.float32(1.0)
# Sums over a level (dot products) may be reassociated: a strict left-to-right float sum is a
# chain of dependent additions that cannot be vectorised (6 times slower); the order changes
# only the rounding of CG's step lengths, never the certified residual (computed exactly as
# before). The order is fixed by the loop's length, so the results stay reproducible.
SUMS = {"reassoc", "nsz", "contract"}


@kernel(inline="always")
def _coupling(c, p, unit):
    """c[p], or ``unit`` on the fine level (c None; the branch is pruned when compiling)."""
    if c is None:
        return unit
    return c[p]


@kernel(inline="always")
def _row_mask(c, diag, p):
    """Factor of the off-diagonal terms of row p: 1 with coupling arrays (they are 0 on
    rows that are not active), min(diag, 1) on the fine level; float32 like the couplings,
    so that sums of two coupling terms round as they do with the arrays."""
    if c is None:
        return np.float32(min(diag[p], 1.0))
    return UNIT


@kernel()
def rb_half(idiag, cE, cS, b, x, wp, runs, r0, r1, colour):
    """Gauss-Seidel update of the cells of one colour ((row + col) % 2 == colour); cells in
    gaps of runs (idiag = 0) get 0.  Vectorised: each run's updates are computed for all
    its cells into a row buffer (they read only the other colour, which this half-sweep
    does not change), then the cells of the colour take theirs."""
    most = U(0)
    for k in range(r0, r1):
        most = max(most, runs[k, 1] - runs[k, 0])
    tmp = np.empty(most, dtype=x.dtype)
    for k in range(r0, r1):
        p0 = runs[k, 0]
        n = runs[k, 1] - p0
        for t in range(n):
            p = p0 + t
            s = b[p] + _coupling(cE, p, UNIT) * x[p + ONE] \
                + _coupling(cE, p - ONE, UNIT) * x[p - ONE] + _coupling(cS, p, UNIT) * x[p + wp]
            s += _coupling(cS, p - wp, UNIT) * x[p - wp]
            tmp[t] = s * idiag[p]
        first = (runs[k, 2] + runs[k, 3] + colour) & ONE
        for t in range(n):
            p = p0 + t
            x[p] = tmp[t] if (t & ONE) == first else x[p]


@kernel()
def rb_first(idiag, b, x, runs, r0, r1):
    """The first half-sweep (colour 0) of a red-black sweep from x = 0: colour-0 cells only
    see colour 1, still 0, so x = b * idiag.  Written on every cell of the runs (a contiguous
    loop vectorises; a strided one does not): the colour-1 values are overwritten by the
    half-sweep that follows before anything reads them."""
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            x[p] = b[p] * idiag[p]


@kernel()
def sor_sweep(diag, cE, cS, b, x, wp, runs, r0, r1, omega):
    """One lexicographic SOR sweep (divides by the exact diag: idiag is rounded)."""
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            if diag[p] > 0.0:
                s = b[p] + cE[p] * x[p + ONE] + cE[p - ONE] * x[p - ONE] + cS[p] * x[p + wp]
                s += cS[p - wp] * x[p - wp]
                x[p] += omega * (s / float(diag[p]) - x[p])


@kernel()
def matvec(diag, cE, cS, x, y, wp, runs, r0, r1):
    """y = A x on the active cells of a level."""
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            f = _row_mask(cE, diag, p)
            s = float(diag[p]) * x[p] - _coupling(cE, p, f) * x[p + ONE] \
                - _coupling(cE, p - ONE, f) * x[p - ONE]
            y[p] = s - _coupling(cS, p, f) * x[p + wp] - _coupling(cS, p - wp, f) * x[p - wp]


@kernel()
def residual_max(diag, cE, cS, b, x, r, wp, runs, r0, r1):
    """r = b - A x on the active cells of a level; returns max |r|."""
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            f = _row_mask(cE, diag, p)
            s = b[p] - float(diag[p]) * x[p] + _coupling(cE, p, f) * x[p + ONE] \
                + _coupling(cE, p - ONE, f) * x[p - ONE]
            s += _coupling(cS, p, f) * x[p + wp] + _coupling(cS, p - wp, f) * x[p - wp]
            r[p] = s
    return level_abs_max(r, runs, r0, r1)


@kernel(inline="always")
def _red_residual(diag, cE, cS, b, x, t, wpf):
    """The residual (b - A x)[t] of a fine cell for restrict_residual, 0 on inactive cells
    (their b and x may hold another phase's leftovers)."""
    s = b[t] - float(diag[t]) * x[t] + _coupling(cE, t, UNIT) * x[t + ONE] \
        + _coupling(cE, t - ONE, UNIT) * x[t - ONE]
    s = s + _coupling(cS, t, UNIT) * x[t + wpf] + _coupling(cS, t - wpf, UNIT) * x[t - wpf]
    return s if diag[t] > 0.0 else 0.0


@kernel()
def restrict_residual(diag, cE, cS, b, x, of, wpf, oc, wpc, runs, r0, r1):
    """b[coarse] = P^T (b - A x)[fine] over the coarse runs r0:r1, right after a red-black sweep.

    The sweep ended with the black cells, whose residual is then 0 (up to rounding): only the
    two red children of each 2 x 2 aggregate are summed. Inactive children (diag = 0) are
    skipped: their residual is 0, and b and x there may hold another phase's leftovers (so
    the phases can share the vectors without clearing them).  Vectorised: the residuals of
    both fine rows of a coarse run are computed for all their cells into row buffers (twice
    the arithmetic, none of it strided), then the red ones are summed.
    """
    most = U(0)
    for k in range(r0, r1):
        most = max(most, runs[k, 1] - runs[k, 0])
    top = np.empty(TWO * most, dtype=np.float64)
    bottom = np.empty(TWO * most, dtype=np.float64)
    for k in range(r0, r1):
        ci = runs[k, 2]
        # fine cell (2 ci - 1, 2 cj - 1) is the top-left child of coarse cell (ci, cj)
        p = of + (TWO * ci - ONE) * wpf + TWO * runs[k, 3] - ONE
        q0 = runs[k, 0]
        m = TWO * (runs[k, 1] - q0)
        for t in range(m):
            top[t] = _red_residual(diag, cE, cS, b, x, p + t, wpf)
        for t in range(m):
            bottom[t] = _red_residual(diag, cE, cS, b, x, p + wpf + ONE + t, wpf)
        for t in range(runs[k, 1] - q0):
            b[q0 + t] = (0.0 + top[TWO * t]) + bottom[TWO * t]


@kernel()
def prolong_red(idiag, x, oc, wpc, runs, r0, r1):
    """x[fine] += P x[coarse] on the red cells of the fine runs r0:r1 (P: copy to children).

    The black cells are skipped: the black half-sweep that follows overwrites them. Cells
    that are not active (idiag = 0) keep x = 0, which the fine level's sweeps rely on.
    """
    for k in range(r0, r1):
        i = runs[k, 2]
        j0 = runs[k, 3]
        # coarse cell of fine (i, j) is ((i + 1) // 2, (j + 1) // 2)
        cb = oc + ((i + ONE) // TWO) * wpc
        first = (i + j0) & ONE
        p0 = runs[k, 0]
        for p in range(p0 + first, runs[k, 1], TWO):
            x[p] += np.float32(idiag[p] > 0.0) * x[cb + (j0 + (p - p0) + ONE) // TWO]


@kernel()
def prolong_all(idiag, x, oc, wpc, runs, r0, r1):
    """x[fine] = P x[coarse] on the active cells of the fine runs r0:r1 (0 on the cells in
    their gaps): a start on the fine level from a coarse solution."""
    for k in range(r0, r1):
        i = runs[k, 2]
        j0 = runs[k, 3]
        cb = oc + ((i + ONE) // TWO) * wpc
        p0 = runs[k, 0]
        for p in range(p0, runs[k, 1]):
            x[p] = np.float32(idiag[p] > 0.0) * x[cb + (j0 + (p - p0) + ONE) // TWO]


def _magnitude_bits(x):
    """x (float32 or float64) viewed as integers of its width, and the mask of all bits but
    the sign: for numbers that are not NaN the masked bits order as the magnitudes do."""
    return x, 0


@overload(_magnitude_bits, jit_options={"cache": True, "nogil": True})
def _magnitude_bits_impl(x):
    if x.dtype == types.float32:
        return lambda x: (x.view(np.int32), np.int32(0x7FFFFFFF))
    return lambda x: (x.view(np.int64), np.int64(0x7FFFFFFFFFFFFFFF))


@kernel()
def level_abs_max(x, runs, r0, r1):
    """Max |x| over the active cells of a level (x not NaN).

    A floating-point max reduction is not vectorised (NaN rules); the same max taken on the
    bit patterns, as integers, is, and is exact: 4 to 20 times faster.
    """
    bits, mask = _magnitude_bits(x)
    m = bits.dtype.type(0)
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            m = max(m, bits[p] & mask)
    out = np.empty(1, dtype=bits.dtype)
    out[0] = m
    return float(out.view(x.dtype)[0])


@kernel(fastmath=SUMS)
def level_dot(x, y, runs, r0, r1):
    """Sum of x * y over the active cells of a level."""
    s = 0.0
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            s += x[p] * y[p]
    return s


@kernel(fastmath=SUMS)
def _dots(d, q, r, runs, r0, r1):
    """(d . q, d . r) over the active cells of a level."""
    dq = 0.0
    dr = 0.0
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            dq += d[p] * q[p]
            dr += d[p] * r[p]
    return dq, dr


@kernel(fastmath=SUMS)
def flat_dot(x, y):
    """Sum of x * y over two 1-D arrays (numpy's dot would wake BLAS threads that spin)."""
    s = 0.0
    for p in range(x.shape[0]):
        s += x[p] * y[p]
    return s


@kernel()
def level_axpy(a, x, y, runs, r0, r1):
    """y += a * x over the active cells of a level."""
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            y[p] += a * x[p]


@kernel()
def level_fill(x, a, runs, r0, r1):
    """x = a over the active cells of a level (and the gaps of its runs)."""
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            x[p] = a


@kernel()
def fill_active(idiag, x, a, runs, r0, r1):
    """x = a on the active cells of a level (idiag > 0), 0 in the gaps of its runs."""
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            x[p] = a if idiag[p] > 0.0 else 0.0


@kernel()
def level_copy(x, y, runs, r0, r1):
    """y = x over the active cells of a level."""
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            y[p] = x[p]


# ---------------------------------------------------------------- multigrid


@kernel(fastmath=SUMS)
def _krylov_first(diag, cE, cS, b, x, wp, runs, c0, ce, c1, v1):
    """First coarse Krylov step: c1 = x, v1 = A c1, b -= f1 v1 with f1 energy-optimal.

    Returns (f1, rho1 = c1.A c1, whether a second step is worth it).
    """
    rho1 = 0.0
    xb = 0.0
    bb = 0.0
    for k in range(c0, ce):
        for p in range(runs[k, 0], runs[k, 1]):
            xp = x[p]
            s = float(diag[p]) * xp - cE[p] * x[p + ONE] - cE[p - ONE] * x[p - ONE]
            s -= cS[p] * x[p + wp] + cS[p - wp] * x[p - wp]
            v1[p] = s
            c1[p] = xp
            rho1 += xp * s
            xb += xp * b[p]
            bb += b[p] * b[p]
    if not rho1 > 0.0:
        return 1.0, 0.0, False
    f1 = xb / rho1
    rr = 0.0
    for k in range(c0, ce):
        for p in range(runs[k, 0], runs[k, 1]):
            bp = b[p] - f1 * v1[p]
            b[p] = bp
            rr += bp * bp
    # a second step only if the first did not cut the residual by 4
    return f1, rho1, rr > 0.0625 * bb


@kernel(fastmath=SUMS)
def _krylov_second(diag, cE, cS, b, x, wp, runs, c0, ce, c1, v1, f1, rho1):
    """Second step: x = f1' c1 + f2 c2, c2 = x A-orthogonalised against c1."""
    gam = 0.0
    xax = 0.0
    xb = 0.0
    for k in range(c0, ce):
        for p in range(runs[k, 0], runs[k, 1]):
            xp = x[p]
            s = float(diag[p]) * xp - cE[p] * x[p + ONE] - cE[p - ONE] * x[p - ONE]
            s -= cS[p] * x[p + wp] + cS[p - wp] * x[p - wp]
            gam += xp * v1[p]
            xax += xp * s
            xb += xp * b[p]
    rho2 = xax - gam * gam / rho1
    f2 = 0.0
    if rho2 > 0.0:
        f2 = xb / rho2
        f1 -= gam * f2 / rho1
    for k in range(c0, ce):
        for p in range(runs[k, 0], runs[k, 1]):
            x[p] = f1 * c1[p] + f2 * x[p]


@kernel()
def _smooth_restrict(diag, idiag, cE, cS, b, x, o, wp, oc, wpc, runs, r0, r1, c0, ce):
    """Second half of the pre-smoothing sweep, then the residual restricted to level oc."""
    rb_half(idiag, cE, cS, b, x, wp, runs, r0, r1, ONE)
    restrict_residual(diag, cE, cS, b, x, o, wp, oc, wpc, runs, c0, ce)


@kernel()
def _smooth_back(idiag, cE, cS, b, x, wp, runs, r0, r1):
    """The post-smoothing sweep (colours reversed)."""
    rb_half(idiag, cE, cS, b, x, wp, runs, r0, r1, ONE)
    rb_half(idiag, cE, cS, b, x, wp, runs, r0, r1, U(0))


@kernel()
def kcycle(diag, idiag, cE, cS, cEt, cSt, levels, runs, b, x, c1, v1, stage, fs):
    """x[0] ~= A^{-1} b[0] by one K-cycle (Notay and Vassilevski's Krylov-accelerated cycle).

    On each level one red-black Gauss-Seidel sweep before and one (reversed) after the coarse
    correction; the coarse problem is solved by at most two flexible-CG steps, each
    preconditioned by the cycle one level down; the 1 x 1 bottom level is solved exactly.
    levels[l] = (offset, padded width, first run, end run), uint64; b, x, c1, v1, v2 span all
    levels (b above level 0 is overwritten); x must be 0 on the cells of level 0 outside its
    runs. The recursion is unrolled (numba cannot cache recursive code): stage[l] is where
    level l resumes, fs[l] = (f1, rho1) of its first step. cEt, cSt: the couplings of
    levels[0], None when that is the fine level (unit couplings, see above), else cE, cS
    (a reduced solve starts on a coarse level).
    """
    nl = levels.shape[0]
    lv = 0
    stage[0] = 0
    while True:
        o, wp, r0, r1 = levels[lv, 0], levels[lv, 1], levels[lv, 2], levels[lv, 3]
        if lv == nl - 1:
            # 1 x 1 padded to 3 x 3: the single cell is at o + 4
            x[o + U(4)] = b[o + U(4)] * idiag[o + U(4)]
            lv -= 1
            continue
        oc, wpc, c0, ce = levels[lv + 1, 0], levels[lv + 1, 1], levels[lv + 1, 2], levels[lv + 1, 3]
        st = stage[lv]
        if st == 0:
            rb_first(idiag, b, x, runs, r0, r1)
            if lv == 0:
                _smooth_restrict(diag, idiag, cEt, cSt, b, x, o, wp, oc, wpc, runs, r0, r1,
                                 c0, ce)
            else:
                _smooth_restrict(diag, idiag, cE, cS, b, x, o, wp, oc, wpc, runs, r0, r1,
                                 c0, ce)
            stage[lv] = 1
            lv += 1
            stage[lv] = 0
            continue
        if st == 1 and lv + 2 < nl:
            f1, rho1, again = _krylov_first(diag, cE, cS, b, x, wpc, runs, c0, ce, c1, v1)
            fs[lv, 0] = f1
            fs[lv, 1] = rho1
            if again:
                stage[lv] = 2
                lv += 1
                stage[lv] = 0
                continue
            # x[lv + 1] still equals c1
            level_axpy(f1 - 1.0, c1, x, runs, c0, ce)
        elif st == 2:
            _krylov_second(diag, cE, cS, b, x, wpc, runs, c0, ce, c1, v1, fs[lv, 0], fs[lv, 1])
        prolong_red(idiag, x, oc, wpc, runs, r0, r1)
        if lv == 0:
            _smooth_back(idiag, cEt, cSt, b, x, wp, runs, r0, r1)
            return
        _smooth_back(idiag, cE, cS, b, x, wp, runs, r0, r1)
        lv -= 1


# ---------------------------------------------------------------- solvers


@kernel()
def fcg(diag, idiag, cE, cS, cEt, cSt, levels, runs, b, x, thr, maxit, r, z, c1, v1, d, q):
    """Flexible CG preconditioned by the K-cycle, on level 0, until max |b - A x| <= thr.

    x holds the start vector and the result (0 on cells that are not active). Scratch: r, z,
    c1, v1 span all levels (r and z are the right-hand side and result of the K-cycle), d and
    q level 0; z and d must be 0 on level 0, and are left so (see the level kernels).
    The final test uses the true residual (CG restarts from it if rounding drifted); with
    thr <= 0 (maxit steps, uncertified) the recurrence residual is returned instead.
    cEt, cSt: see kcycle (None: levels[0] is the fine level, as in every full solve).
    Returns (iterations, max |residual|).
    """
    wp, r0, r1 = levels[0, 1], levels[0, 2], levels[0, 3]
    stage = np.zeros(levels.shape[0], dtype=np.int64)
    fs = np.zeros((levels.shape[0], 2))
    it = 0
    rmax = residual_max(diag, cEt, cSt, b, x, r, wp, runs, r0, r1)
    while rmax > thr and it < maxit:
        kcycle(diag, idiag, cE, cS, cEt, cSt, levels, runs, r, z, c1, v1, stage, fs)
        level_copy(z, d, runs, r0, r1)
        while it < maxit:
            it += 1
            matvec(diag, cEt, cSt, d, q, wp, runs, r0, r1)
            dq, dr = _dots(d, q, r, runs, r0, r1)
            if not dq > 0.0:
                break
            alpha = dr / dq
            for k in range(r0, r1):
                for p in range(runs[k, 0], runs[k, 1]):
                    x[p] += alpha * d[p]
                    r[p] -= alpha * q[p]
            rmax = level_abs_max(r, runs, r0, r1)
            if rmax <= thr or it >= maxit:
                break  # (the next direction would go unused)
            kcycle(diag, idiag, cE, cS, cEt, cSt, levels, runs, r, z, c1, v1, stage, fs)
            beta = -level_dot(z, q, runs, r0, r1) / dq
            for k in range(r0, r1):
                for p in range(runs[k, 0], runs[k, 1]):
                    d[p] = z[p] + beta * d[p]
        if thr <= 0.0 and it >= maxit:
            break  # a fixed number of steps (uncertified): the true residual is not needed
        rmax = residual_max(diag, cEt, cSt, b, x, r, wp, runs, r0, r1)
    level_fill(z, 0.0, runs, r0, r1)
    level_fill(d, 0.0, runs, r0, r1)
    return it, rmax


@kernel()
def fcg_on_level(diag, idiag, cE, cS, levels, runs, b, x, thr, maxit, r, z, c1, v1, d, q):
    """fcg on a coarse level (levels[0] is not the fine level: its couplings are the arrays
    cE, cS), for reduced solves: a kernel of its own, so that fcg keeps one signature per
    precision (the fine level's, without coupling arrays)."""
    return fcg(diag, idiag, cE, cS, cE, cS, levels, runs, b, x, thr, maxit, r, z, c1, v1, d, q)


@kernel()
def coarse_start(diag, idiag, cE, cS, levels, sub, runs, b, x, a, rel, maxit, dims, k, r, z,
                 c1, v1, d, q):
    """The full-multigrid start of a solve on level k (see phase.Phase.coarse_start): b
    restricted to level k + 1 (dims: the levels' (offset, h, w)), solved there by fcg from
    the constant a until the residual is rel times the largest restricted datum (at most
    maxit steps; sub = levels[k + 1:], C-contiguous), and x on level k set to its
    prolongation."""
    restrict_sum(b, dims[k, 0], dims[k, 1], dims[k, 2], dims[k + 1, 0], dims[k + 1, 1],
                 dims[k + 1, 2])
    c0, ce = sub[0, 2], sub[0, 3]
    for p in range(x.shape[0]):
        x[p] = 0.0
    fill_active(idiag, x, a, runs, c0, ce)
    thr = rel * level_abs_max(b, runs, c0, ce)
    fcg(diag, idiag, cE, cS, cE, cS, sub, runs, b, x, thr, maxit, r, z, c1, v1, d, q)
    prolong_all(idiag, x, sub[0, 0], sub[0, 1], runs, levels[k, 2], levels[k, 3])


@kernel()
def sor(diag, idiag, cE, cS, levels, runs, b, x, omega, thr, maxit, check, r):
    """Lexicographic SOR until max |b - A x| <= thr (tested every `check` sweeps).

    Returns (sweeps, max |residual|).
    """
    wp, r0, r1 = levels[0, 1], levels[0, 2], levels[0, 3]
    it = 0
    rmax = residual_max(diag, cE, cS, b, x, r, wp, runs, r0, r1)
    while rmax > thr and it < maxit:
        k = min(check, maxit - it)
        for _ in range(k):
            sor_sweep(diag, cE, cS, b, x, wp, runs, r0, r1, omega)
        it += k
        rmax = residual_max(diag, cE, cS, b, x, r, wp, runs, r0, r1)
    return it, rmax


@kernel()
def min_max_level(diag, y, z, runs, r0, r1):
    """(min of y, max of z) over the active cells of a level."""
    lo = np.inf
    hi = 0.0
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            if diag[p] > 0.0:
                lo = min(lo, y[p])
                hi = max(hi, z[p])
    return lo, hi
