"""Numba kernels of the solver's direct method for thin systems (see phase.Phase._factorise):
a breadth-first numbering with a narrow envelope, the Cholesky factor in that envelope and
its solve.  Storage as in _kernels.py; the Python side validates every shape and offset
before calling in: numba does no bounds checks.
"""

import numpy as np

from .._kernel_cache import kernel

# The band phase couples band pixels only: chains a few pixels wide along the edges, often
# single pixels between stored ones. The 2 x 2 aggregates of multigrid coarsen such graphs
# badly (a level keeps about 2/3 of its cells, and every level costs its loop overheads);
# numbered along the chains, breadth first, the matrix has an envelope a few cells wide and
# a Cholesky factor in that envelope costs a few numbers per cell. These kernels work on the
# fine level (offset 0) of an operator.


@kernel(inline="always")
def _coupled(cE, cS, q, k, wp):
    """Neighbour k (0..3: E, W, S, N) of padded cell q and the coupling to it."""
    if k == 0:
        return q + 1, cE[q]
    if k == 1:
        return q - 1, cE[q - 1]
    if k == 2:
        return q + wp, cS[q]
    return q - wp, cS[q - wp]


@kernel()
def envelope_order(diag, cE, cS, wp, runs, r0, r1, local, order, first):
    """Breadth-first numbering of the active cells of the fine level, component by component
    (each from its first cell in row-major order), and each row's envelope start.

    order[i] = padded index of cell i, local[q] = i (local spans the padded grid; written on
    active cells only), first[i] = the smallest number among i and its coupled neighbours.
    order and first must have room for every active cell. Returns (cells numbered, envelope
    size = sum(i - first[i] + 1), factor cost = sum((i - first[i])^2)).
    """
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            local[p] = -1
    n = 0
    for k in range(r0, r1):
        for p in range(runs[k, 0], runs[k, 1]):
            if diag[p] > 0.0 and local[p] < 0:
                local[p] = n
                order[n] = p
                head = n
                n += 1
                while head < n:  # order doubles as the queue
                    q = order[head]
                    head += 1
                    for t in range(4):
                        r, c = _coupled(cE, cS, q, t, wp)
                        if c != 0.0 and local[r] < 0:
                            local[r] = n
                            order[n] = r
                            n += 1
    size = 0
    cost = 0
    for i in range(n):
        f = i
        for t in range(4):
            r, c = _coupled(cE, cS, order[i], t, wp)
            if c != 0.0:
                f = min(f, local[r])
        first[i] = f
        size += i - f + 1
        cost += (i - f) * (i - f)
    return n, size, cost


@kernel()
def envelope_cholesky(diag, cE, cS, wp, order, first, local, start, L):
    """Cholesky factor L (A = L L^T) of the fine level in the envelope: row i holds columns
    first[i]..i at L[start[i]:start[i + 1]]. Returns False if a pivot is not positive."""
    n = order.shape[0]
    for i in range(n):
        fi = first[i]
        si = start[i] - fi  # L[si + k] is column k of row i
        for t in range(start[i], start[i + 1]):
            L[t] = 0.0
        q = order[i]
        for t in range(4):
            r, c = _coupled(cE, cS, q, t, wp)
            if c != 0.0 and local[r] < i:
                L[si + local[r]] = -c
        for j in range(fi, i):
            fj = first[j]
            sj = start[j] - fj
            s = L[si + j]
            for k in range(max(fi, fj), j):
                s -= L[si + k] * L[sj + k]
            L[si + j] = s / L[sj + j]
        s = float(diag[q])
        for k in range(fi, i):
            s -= L[si + k] * L[si + k]
        if not s > 0.0:
            return False
        L[si + i] = np.sqrt(s)
    return True


@kernel()
def envelope_solve(order, first, start, L, b, x, y):
    """x = A^{-1} b on the fine level's active cells from the factor (y: n numbers of room)."""
    n = order.shape[0]
    for i in range(n):
        si = start[i] - first[i]
        s = float(b[order[i]])
        for k in range(first[i], i):
            s -= L[si + k] * y[k]
        y[i] = s / L[si + i]
    for i in range(n - 1, -1, -1):
        si = start[i] - first[i]
        xi = y[i] / L[si + i]
        y[i] = xi
        for k in range(first[i], i):
            y[k] -= L[si + k] * xi
    for i in range(n):
        x[order[i]] = y[i]
