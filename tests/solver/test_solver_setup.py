"""The solver's fast set-up kernels against plain definitions: pixel classes, the Laplace
operator and its right-hand side, on random and border-heavy masks of many shapes."""

import numpy as np
import pytest
from scipy import ndimage

from PIL_ipc.solver import _grid_kernels as G
from PIL_ipc.solver import inpaint

SHAPES = [(1, 1), (1, 7), (7, 1), (2, 2), (3, 5), (16, 9), (33, 64)]


def masks(shape, seed, p_band=0.4, p_known=0.1):
    rng = np.random.default_rng(seed)
    band = rng.random(shape) < p_band
    known = rng.random(shape) < p_known
    return known, band


def neighbours(i, j, h, w):
    for ni, nj in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
        if 0 <= ni < h and 0 <= nj < w:
            yield ni, nj


def reference_classes(known, band):
    """classify's classes from their definitions (inpaint.py's docstring)."""
    h, w = known.shape
    rows = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            rows[i, j] = band[i, j] and not known[i, j] and any(
                band[q] for q in neighbours(i, j, h, w))
    # band rows grounded: a band-linked path of band rows to a known band pixel
    labels, n = ndimage.label(rows, structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    grounded = np.zeros(n + 1, bool)
    for i in range(h):
        for j in range(w):
            if rows[i, j] and any(known[q] and band[q] for q in neighbours(i, j, h, w)):
                grounded[labels[i, j]] = True
    kind = np.full((h, w), G.LAPLACE, np.uint8)
    kind[rows] = G.FLOATING
    kind[rows & grounded[labels]] = G.BAND
    kind[known] = G.KNOWN
    kind[known & band] = G.KNOWN_BAND
    return kind


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", range(4))
def test_classes_match_their_definition(shape, seed):
    known, band = masks(shape, seed)
    h, w = shape
    kind = np.empty((h + 2, w + 2), np.uint8)
    queue = np.empty((h + 2) * (w + 2), np.int64)
    n = G.classify(known, band, queue, kind)
    assert (kind[0] == G.OUTSIDE).all() and (kind[-1] == G.OUTSIDE).all()
    assert (kind[:, 0] == G.OUTSIDE).all() and (kind[:, -1] == G.OUTSIDE).all()
    inner = kind[1:-1, 1:-1]
    assert np.array_equal(inner, reference_classes(known, band))
    assert n == (inner == G.BAND).sum()
    assert sorted(queue[:n]) == sorted(np.flatnonzero(kind == G.BAND))


# (a 1 x 1 Laplace phase cannot occur: its pixel would be the image's only one, unknown)
@pytest.mark.parametrize("shape", SHAPES[1:])
@pytest.mark.parametrize("seed", range(3))
def test_laplace_operator_and_rhs_match_the_general_builder(shape, seed):
    rng = np.random.default_rng(seed)
    active = rng.random(shape) < 0.7
    h, w = shape
    n0 = (h + 2) * (w + 2)
    fast = [np.full(n0, 7.0, np.float32) for _ in range(4)]
    for a in fast:  # the padding is zero in a real operator; the interior is overwritten
        a.reshape(h + 2, w + 2)[0] = a.reshape(h + 2, w + 2)[-1] = 0.0
        a.reshape(h + 2, w + 2)[:, 0] = a.reshape(h + 2, w + 2)[:, -1] = 0.0
    plain = [np.zeros(n0, np.float32) for _ in range(4)]
    G.build_laplace(active, *fast)
    n = G.build_fine(active, False, np.zeros(shape, bool), *plain)
    for f, p in zip(fast, plain, strict=True):
        assert np.array_equal(f, p)
    assert G.link_count(active, False, np.zeros(shape, bool)) == n
    dst, src = np.empty(n, np.int64), np.empty(n, np.int64)
    G.boundary_links(active, False, np.zeros(shape, bool), plain[0], plain[2], plain[3], dst,
                     src)
    u = np.where(active, 0.0, rng.normal(100.0, 50.0, shape))
    b_links = np.zeros(n0)
    G.gather_links(dst, src, u.ravel(), b_links)
    b = np.full(n0, 5.0)
    G.laplace_rhs(active, u, b)
    assert np.allclose(b.reshape(h + 2, w + 2)[1:-1, 1:-1],
                       b_links.reshape(h + 2, w + 2)[1:-1, 1:-1], rtol=1e-14, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_solves_on_random_masks_match_the_direct_solver(seed):
    from reference_solver import reference_solve

    known, band = masks((40, 37), seed, p_band=0.5, p_known=0.05)
    values = np.random.default_rng(seed).uniform(0, 255, known.shape)
    op = inpaint.Inpainter(known, band)
    u = op.solve(values, tol=1e-3)
    assert np.abs(u - reference_solve(known, values, band)).max() <= 1e-3
    # the adjoint builds the Laplace phase's links on first use
    g = np.random.default_rng(seed + 10).normal(size=known.shape)
    a = op.adjoint(g, tol=1e-6)
    e = np.zeros(known.shape)
    i = np.flatnonzero(known.ravel())[0]
    e.ravel()[i] = 1.0
    assert abs(a.ravel()[i] - (op.solve(e, tol=1e-9) * g).sum()) <= 1e-5


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k, level", [(0, 0), (1, 1), (1, 2), (1, 3), (2, 3)])
def test_reduced_means_match_block_means_of_the_level_values(shape, k, level):
    """reduced_means: block means of the image whose active pixels take their level-k cell's
    value (the reduced decode's last step), against numpy."""
    rng = np.random.default_rng(sum(shape) + k)
    h, w = shape
    active = rng.random(shape) < 0.6
    u = rng.uniform(0, 255, shape)
    hk, wk = -(-h // (1 << k)), -(-w // (1 << k))
    off = 5
    x = np.zeros(off + (hk + 2) * (wk + 2) + 3)
    cells = rng.uniform(0, 255, (hk, wk))
    x[off:off + (hk + 2) * (wk + 2)].reshape(hk + 2, wk + 2)[1:-1, 1:-1] = cells
    out = np.zeros((-(-h // (1 << level)), -(-w // (1 << level))))
    G.reduced_means(active, u, x, off, wk + 2, k, level, out)
    fine = np.repeat(np.repeat(cells, 1 << k, 0), 1 << k, 1)[:h, :w]
    assert np.allclose(out, inpaint.block_means(np.where(active, fine, u), level), rtol=1e-13)


@pytest.mark.parametrize("shape, step", [((61, 83), 5), ((40, 40), 4), ((130, 47), 6),
                                         ((9, 200), 5), ((300, 12), 8)])
def test_lattice_certificate_bounds_the_error_and_a_wrong_hint_is_ignored(shape, step):
    """With a seed lattice among the data, the certificate is taken from the lattice's own
    solution (no CG): it still bounds max A^{-1} 1 of the real phase, and the solve stays
    within its tolerance of the direct solver; a hint of a lattice that is not there
    gives the CG certificate."""
    from reference_solver import reference_solve

    from PIL_ipc.format.sources import lattice_plane
    from PIL_ipc.solver import phase

    rng = np.random.default_rng(step)
    known, band = masks(shape, step, p_band=0.2, p_known=0.01)
    known |= lattice_plane(shape, step)
    values = rng.uniform(0, 255, shape)
    op = inpaint.Inpainter(known, band, lattice=step)
    lp = op.laplace_phase
    b = lp.bound()
    assert b == lp.lattice_bound()
    ones = np.where(lp.active, 1.0, 0.0)
    # A^{-1} 1 on the Laplace phase: the solution with data 0 and a unit source everywhere
    z = np.zeros(lp.scratch.n0 * 2)
    rhs = np.zeros_like(z)
    G.pad_field(lp.active, ones, rhs)
    lp._fcg(rhs, z, 1e-10)
    exact = np.zeros(shape)
    G.unpad_field(lp.active, z, exact)
    assert exact.max() <= b
    u = op.solve(values, tol=0.1)
    assert np.abs(u - reference_solve(known, values, band)).max() <= op.last_error <= 0.1
    wrong = inpaint.Inpainter(known & ~lattice_plane(shape, step), band, lattice=step + 1)
    assert wrong.laplace_phase.lattice_bound() is None
    phase._lattice_solution.cache_clear()


@pytest.mark.parametrize("lattice", [0, 4])
def test_overlapped_set_up_solves_exactly_as_the_plain_one(lattice):
    """Inpainter(overlap=True) builds the Laplace phase in a second thread: the same
    solution, bit for bit, and the same certificate."""
    from PIL_ipc.format.sources import lattice_plane

    known, band = masks((70, 90), 7, p_band=0.3, p_known=0.02)
    known |= lattice_plane(known.shape, lattice)
    values = np.random.default_rng(3).uniform(0, 255, known.shape)
    plain = inpaint.Inpainter(known, band, lattice=lattice)
    both = inpaint.Inpainter(known, band, lattice=lattice, overlap=True)
    assert np.array_equal(plain.solve(values, tol=0.25), both.solve(values, tol=0.25))
    assert plain.last_error == both.last_error


def test_an_error_in_the_overlapped_set_up_reaches_the_caller(monkeypatch):
    from PIL_ipc.solver import phase

    def broken(self):
        raise MemoryError("test")

    monkeypatch.setattr(phase.Phase, "bound", broken)
    known, band = masks((40, 40), 1)
    with pytest.raises(MemoryError):
        inpaint.Inpainter(known, band, overlap=True)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", range(4))
def test_band_operator_from_the_classes_matches_the_general_builder(shape, seed):
    """build_band (from classify's classes and cells) against build_fine and boundary_links
    (from the masks), on arrays that held another operator."""
    known, band = masks(shape, seed, p_band=0.6, p_known=0.15)
    h, w = shape
    kind = np.empty((h + 2, w + 2), np.uint8)
    queue = np.empty((h + 2) * (w + 2), np.int64)
    n = G.classify(known, band, queue, kind)
    active = kind[1:-1, 1:-1] == G.BAND
    n0 = (h + 2) * (w + 2)
    fast = [np.full(n0, 3.0, np.float32) for _ in range(4)]
    plain = [np.zeros(n0, np.float32) for _ in range(4)]
    dst, src = np.empty(4 * n, np.int64), np.empty(4 * n, np.int64)
    links = G.build_band(kind, queue[:n], *fast, dst, src, True)
    assert links == G.build_fine(active, True, band, *plain)
    for f, p in zip(fast, plain, strict=True):
        assert np.array_equal(f, p)
    # on arrays still all zero it writes the band's cells only, with the same result
    zero = [np.zeros(n0, np.float32) for _ in range(4)]
    assert G.build_band(kind, queue[:n], *zero, np.empty_like(dst), np.empty_like(src),
                        False) == links
    for z, p in zip(zero, plain, strict=True):
        assert np.array_equal(z, p)
    dst, src = dst[:links], src[:links]
    pdst, psrc = np.empty(links, np.int64), np.empty(links, np.int64)
    G.boundary_links(active, True, band, *plain[:1], *plain[2:], pdst, psrc)
    assert sorted(zip(dst, src, strict=True)) == sorted(zip(pdst, psrc, strict=True))
