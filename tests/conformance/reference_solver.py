"""Reference solution of the inpainting problem by a sparse direct solve (numpy + scipy only).

Written straight from the equations (see PIL_ipc/inpaint.py), as one H*W x H*W system, without
the two-phase split or any code of the fast solvers:
  known p:                            u_p = values_p
  band p, not known, with a band N4:  sum over band q in N4(p) of (u_p - u_q) = 0
  any other p:                        sum over q in N4(p) of (u_p - u_q) = 0
Unknowns from which no chain of equations leads to a known pixel have no data and are set to 0;
the rest is solved with SuperLU.
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order
from scipy.sparse.linalg import spsolve


def _neighbour_pairs(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs (p, q) of 4-neighbours inside an h x w image, as flat indices."""
    idx = np.arange(h * w).reshape(h, w)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return np.concatenate([a, b]), np.concatenate([b, a])


def reference_solve(known: np.ndarray, values: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Exact (direct) solution u, float64 H x W."""
    known = np.asarray(known, dtype=bool)
    band = np.asarray(band, dtype=bool)
    h, w = known.shape
    n = h * w
    kn, bd = known.ravel(), band.ravel()
    vals = np.asarray(values, dtype=np.float64).ravel()
    p, q = _neighbour_pairs(h, w)

    band_nbrs = np.bincount(p[bd[q]], minlength=n)
    band_row = bd & ~kn & (band_nbrs > 0)
    # which pair (p, q) appears as a term (u_p - u_q) in row p
    term = ~kn[p] & (~band_row[p] | bd[q])
    off = sp.coo_matrix((-np.ones(term.sum()), (p[term], q[term])), shape=(n, n)).tocsr()
    diag = -np.asarray(off.sum(axis=1)).ravel()
    a = (off + sp.diags(diag)).tocsr()

    # grounded unknowns: those that reach a known pixel along (row -> column) dependencies
    dep = off.tocoo()
    src = np.concatenate([dep.col, np.full(kn.sum(), n)])  # reversed edges + a super source
    dst = np.concatenate([dep.row, np.flatnonzero(kn)])
    rev = sp.coo_matrix((np.ones(src.size), (src, dst)), shape=(n + 1, n + 1)).tocsr()
    reach = np.zeros(n + 1, dtype=bool)
    reach[breadth_first_order(rev, n, directed=True, return_predecessors=False)] = True
    grounded = reach[:n] & ~kn

    u = np.where(kn, vals, 0.0)
    g = np.flatnonzero(grounded)
    if g.size:
        rhs = -(a[g][:, np.flatnonzero(kn)] @ vals[kn])
        a_gg = a[g][:, g].tocsc()
        u[g] = np.atleast_1d(spsolve(a_gg, rhs))
    return u.reshape(h, w)


def block_means(a: np.ndarray, s: int) -> np.ndarray:
    """Means of ``a`` over s x s blocks (ceil size; the blocks cut by the border over their
    pixels): what a reduced decode approximates (written out here, independently of the
    package's own)."""
    h, w = a.shape
    out = np.empty((-(-h // s), -(-w // s)))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = a[i * s:(i + 1) * s, j * s:(j + 1) * s].mean()
    return out
