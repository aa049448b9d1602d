"""Tests of the inpainting solver against the sparse direct reference and closed-form cases."""

import warnings

import numpy as np
import pytest
from PIL import Image
from reference_solver import block_means, reference_solve
from scipy import ndimage

from PIL_ipc.solver import _grid_kernels as G
from PIL_ipc.solver import _kernels as K
from PIL_ipc.solver import inpaint, phase

TOL = 1e-3
METHODS = ("fast", "sor")


@pytest.fixture
def photo(corpus_src):
    def crop(name: str, size: int) -> np.ndarray:
        """A size x size grey crop from the middle of a photo of the source corpus."""
        im = np.asarray(Image.open(corpus_src / name).convert("L"), dtype=np.float64)
        i0 = (im.shape[0] - size) // 2
        j0 = (im.shape[1] - size) // 2
        return im[i0 : i0 + size, j0 : j0 + size]

    return crop


def edge_masks(img: np.ndarray, thr: float = 240.0, grid: int = 16):
    """Band = non-edge pixels 8-adjacent to a thresholded-Sobel edge; known = every 4th band
    pixel (raster order) plus a sparse grid."""
    g = np.hypot(ndimage.sobel(img, 0), ndimage.sobel(img, 1))
    edge = g > thr
    band = ndimage.binary_dilation(edge, structure=np.ones((3, 3), bool)) & ~edge
    known = np.zeros_like(band)
    known.ravel()[np.flatnonzero(band.ravel())[::4]] = True
    if grid:
        known[::grid, ::grid] = True
    return known, band


def check(known, values, band, method, tol=TOL):
    """Solve, compare with the direct solve, return u."""
    op = inpaint.Inpainter(known, band)
    with warnings.catch_warnings():
        warnings.simplefilter("error", inpaint.InpaintWarning)
        u = op.solve(values, tol=tol, method=method)
    ref = reference_solve(known, values, band)
    err = np.abs(u - ref).max()
    assert err <= tol, f"max error {err} > {tol}"
    # the certificate is a true upper bound of the error (up to the reference's rounding)
    # and within the tolerance
    assert err <= op.last_error + 1e-9 * (1 + np.abs(ref).max())
    assert op.last_error <= tol
    assert np.array_equal(u[known], np.asarray(values, dtype=np.float64)[known])
    return u


# ---------------------------------------------------------------- realistic masks


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "name,size,grid",
    [
        ("sipi/peppers.tiff", 96, 16),
        ("classic/cameraman.tiff", 80, 0),
        ("kodak/kodim23.png", 72, 12),
    ],
)
def test_photo_edge_masks(name, size, grid, method, photo):
    img = photo(name, size)
    known, band = edge_masks(img, grid=grid)
    assert band.any() and known.any()
    check(known, img, band, method)


@pytest.mark.parametrize("method", METHODS)
def test_sparse_random_known(method):
    rng = np.random.default_rng(1)
    known = rng.random((61, 83)) < 0.02
    values = rng.uniform(0, 255, known.shape)
    check(known, values, np.zeros_like(known), method)


@pytest.mark.parametrize("method", METHODS)
def test_random_band_and_known(method):
    rng = np.random.default_rng(7)
    band = rng.random((40, 50)) < 0.3
    known = rng.random((40, 50)) < 0.05
    values = rng.uniform(0, 255, known.shape)
    check(known, values, band, method)


def test_tight_and_loose_tolerance(photo):
    img = photo("sipi/peppers.tiff", 64)
    known, band = edge_masks(img)
    for tol in (1e-6, 0.05, 0.5, 5.0):
        check(known, img, band, "fast", tol=tol)


# ---------------------------------------------------------------- closed forms and edge cases


@pytest.mark.parametrize("method", METHODS)
def test_line_is_linear_between_data(method):
    known = np.zeros((1, 30), bool)
    known[0, [0, 10, 29]] = True
    values = np.zeros((1, 30))
    values[0, [0, 10, 29]] = [0.0, 100.0, 5.0]
    u = check(known, values, np.zeros_like(known), method)
    expect = np.concatenate([np.linspace(0, 100, 11), np.linspace(100, 5, 20)[1:]])
    assert np.allclose(u[0], expect, atol=TOL)


@pytest.mark.parametrize("method", METHODS)
def test_column_with_reflecting_border_is_constant(method):
    known = np.zeros((25, 1), bool)
    known[7, 0] = True
    values = np.full((25, 1), 42.0)
    u = check(known, values, np.zeros_like(known), method)
    assert np.allclose(u, 42.0, atol=TOL)


@pytest.mark.parametrize("method", METHODS)
def test_band_is_linear_along_its_path(method):
    """An L-shaped band path: values interpolate linearly in arc length, whatever lies beside."""
    band = np.zeros((12, 12), bool)
    path = [(2, j) for j in range(2, 10)] + [(i, 9) for i in range(3, 10)]
    for p in path:
        band[p] = True
    known = np.zeros_like(band)
    known[path[0]] = known[path[-1]] = True
    known[11, 0] = True  # data off the band must not leak into it
    values = np.zeros((12, 12))
    values[path[0]], values[path[-1]], values[11, 0] = 10.0, 150.0, 255.0
    u = check(known, values, band, method)
    along = np.array([u[p] for p in path])
    assert np.allclose(along, np.linspace(10.0, 150.0, len(path)), atol=TOL)


def test_one_pixel_image():
    u = inpaint.solve(np.ones((1, 1), bool), np.full((1, 1), 7.0), np.zeros((1, 1), bool))
    assert u.shape == (1, 1) and u[0, 0] == 7.0


@pytest.mark.parametrize("shape", [(1, 40), (40, 1)])
def test_thin_images_with_band(shape):
    rng = np.random.default_rng(3)
    known = rng.random(shape) < 0.15
    known.flat[0] = True
    band = rng.random(shape) < 0.4
    check(known, rng.uniform(0, 255, shape), band, "fast")


def test_all_known_returns_values():
    rng = np.random.default_rng(4)
    values = rng.uniform(0, 255, (9, 13))
    known = np.ones((9, 13), bool)
    band = rng.random((9, 13)) < 0.5
    for method in METHODS:
        assert np.array_equal(inpaint.solve(known, values, band, method=method), values)


def test_isolated_band_pixels_follow_laplace():
    """A band pixel with no band neighbour takes the Laplace row: the mean of its 4 neighbours."""
    rng = np.random.default_rng(5)
    known = rng.random((30, 30)) < 0.05
    band = np.zeros((30, 30), bool)
    band[5:25:4, 5:25:4] = True  # isolated points
    values = rng.uniform(0, 255, known.shape)
    u = check(known, values, band, "fast")
    for i, j in zip(*np.nonzero(band & ~known), strict=True):
        mean = (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1]) / 4
        assert abs(u[i, j] - mean) < 4 * TOL


@pytest.mark.parametrize("method", METHODS)
def test_bands_on_the_image_border(method):
    rng = np.random.default_rng(6)
    band = np.zeros((32, 40), bool)
    band[0, :] = band[:, -1] = band[-2:, :] = True
    known = np.zeros_like(band)
    known[0, ::5] = known[-1, ::7] = known[::6, -1] = True
    known[16, 20] = True
    check(known, rng.uniform(0, 255, band.shape), band, method)


@pytest.mark.parametrize("method", METHODS)
def test_band_without_data_is_zero(method):
    """A band component holding no known pixel is defined as 0; the rest is still solved."""
    band = np.zeros((20, 20), bool)
    band[5, 3:15] = True  # no data on it
    band[12:14, 2:18] = True  # with data
    known = np.zeros_like(band)
    known[12, 2] = known[13, 17] = known[0, 0] = known[19, 19] = True
    values = np.where(known, 200.0, 0.0)
    u = check(known, values, band, method)
    assert np.all(u[5, 3:15] == 0.0)
    assert np.all(u[12:14, 2:18] > 150.0)


def spiral(n: int) -> np.ndarray:
    """A 1-pixel wide spiral band filling an n x n image (one long chain)."""
    band = np.zeros((n, n), bool)
    top, left, bottom, right = 0, 0, n - 1, n - 1
    while top <= bottom and left <= right:
        band[top, left : right + 1] = True
        band[top : bottom + 1, right] = True
        band[bottom, left : right + 1] = True
        band[top + 2 : bottom + 1, left] = True
        top, left, bottom, right = top + 2, left + 2, bottom - 2, right - 2
        band[top - 1, left] = True
    return band


def test_long_band_chain_with_one_datum():
    """A hostile mask: a spiral band with a single known end (badly conditioned)."""
    band = spiral(41)
    known = np.zeros_like(band)
    known[0, 0] = True
    values = np.full(band.shape, 77.0)
    u = check(known, values, band, "fast")
    assert np.allclose(u, 77.0, atol=TOL)


def test_hostile_chain_ends_in_bounded_time():
    """Too long a chain to certify: the solver stops at its cap, warns, and is still close."""
    band = spiral(96)
    known = np.zeros_like(band)
    known[0, 0] = True
    with pytest.warns(inpaint.InpaintWarning):
        u = inpaint.solve(known, np.full(band.shape, 77.0), band)
    assert np.abs(u - 77.0).max() < 0.05


def test_reuse_gives_same_result(photo):
    img = photo("sipi/peppers.tiff", 48)
    known, band = edge_masks(img)
    op = inpaint.Inpainter(known, band)
    a = op.solve(img)
    b = op.solve(255 - img)
    assert np.abs(a - inpaint.solve(known, img, band)).max() <= 2 * TOL
    assert np.abs(a + b - 255.0).max() <= 2 * TOL  # linear, and constants are reproduced


@pytest.mark.parametrize("method", METHODS)
def test_a_guess_saves_iterations_not_accuracy(method, photo):
    img = photo("sipi/peppers.tiff", 64)
    known, band = edge_masks(img, grid=8)
    ref = reference_solve(known, img, band)
    op = inpaint.Inpainter(known, band)
    op.solve(img, tol=0.01, method=method)
    cold = op.band_phase.last_iterations + op.laplace_phase.last_iterations
    # from the solution, the image itself and a poor guess: accurate either way, and fewer
    # steps from the solution (the image is no better a start than the solver's own
    # coarse-level start)
    for guess, fewer in ((img, False), (ref, True), (np.full(img.shape, 1e4), False)):
        u = op.solve(img, tol=0.01, method=method, guess=guess)
        assert np.abs(u - ref).max() <= 0.01
        warm = op.band_phase.last_iterations + op.laplace_phase.last_iterations
        if fewer:
            assert warm < cold
    # the guess never changes the stored pixels
    u = op.solve(img, tol=0.01, method=method, guess=np.zeros(img.shape))
    assert np.array_equal(u[known], img[known])


def test_fixed_steps_approach_the_solution_uncertified(photo):
    img = photo("sipi/peppers.tiff", 64)
    known, band = edge_masks(img, grid=8)
    ref = reference_solve(known, img, band)
    op = inpaint.Inpainter(known, band)
    errors = []
    for steps in (1, 2, 4, 8):
        u = op.solve(img, steps=steps)
        assert op.laplace_phase.last_iterations == steps and op.last_error == np.inf
        assert np.array_equal(u[known], img[known])
        errors.append(np.abs(u - ref).max())
    # multigrid-preconditioned CG: each step cuts the error several times
    assert errors[-1] < errors[0] / 100 and errors == sorted(errors, reverse=True)
    g = np.ones(known.shape)
    assert np.abs(op.adjoint(g, steps=8) - op.adjoint(g, tol=1e-6)).max() < 1e-2


@pytest.mark.parametrize("kw", [dict(steps=0), dict(steps=1.5), dict(steps=True),
                                dict(steps=4, method="sor")])
def test_bad_steps_raise(kw):
    known = np.zeros((8, 8), bool)
    known[4, 4] = True
    op = inpaint.Inpainter(known, np.zeros_like(known))
    with pytest.raises(ValueError, match="steps"):
        op.solve(np.ones((8, 8)), **kw)
    with pytest.raises(ValueError, match="steps"):
        op.adjoint(np.ones((8, 8)), **kw)


@pytest.mark.parametrize("guess", [np.zeros((3, 3)), np.full((8, 8), np.nan), "x"])
def test_a_bad_guess_raises(guess):
    known = np.zeros((8, 8), bool)
    known[4, 4] = True
    with pytest.raises(ValueError, match="guess"):
        inpaint.Inpainter(known, np.zeros_like(known)).solve(np.ones((8, 8)), guess=guess)


def test_mixed_use_of_one_inpainter(photo):
    """Methods and adjoints interleaved on one operator (it shares its vectors between phases)."""
    img = photo("classic/cameraman.tiff", 64)
    known, band = edge_masks(img, grid=0)
    ref = reference_solve(known, img, band)
    g = np.ones(known.shape)
    op = inpaint.Inpainter(known, band)
    fresh = op.solve(img)
    adj = op.adjoint(g)
    for method in ("sor", "fast", "sor", "fast"):
        # leftovers of another phase or method must not change a fast solve, not even a bit
        assert np.abs(op.solve(img, method=method) - ref).max() <= TOL
        assert np.array_equal(op.adjoint(g), adj)
        assert np.abs(op.adjoint(g, method=method) - adj).max() <= 2 * TOL
        assert np.array_equal(op.solve(img), fresh)


def test_iteration_cap_warns(monkeypatch, photo):
    img = photo("sipi/peppers.tiff", 48)
    known, band = edge_masks(img, grid=0)
    op = inpaint.Inpainter(known, band)
    op.laplace_phase.bound()
    monkeypatch.setattr(inpaint, "MAX_FCG_ITER", 1)
    monkeypatch.setattr(phase, "MAX_FCG_ITER", 1)
    with pytest.warns(inpaint.InpaintWarning):
        u = op.solve(img, tol=1e-9)
    assert np.isfinite(u).all()


# ---------------------------------------------------------------- adjoint


def explicit_operator(known, band):
    """The matrix of values -> u (columns: known pixels), from the reference solver."""
    cols = []
    for p in np.flatnonzero(known.ravel()):
        v = np.zeros(known.size)
        v[p] = 1.0
        cols.append(reference_solve(known, v.reshape(known.shape), band).ravel())
    return np.array(cols).T


def test_adjoint_matches_explicit_transpose():
    rng = np.random.default_rng(8)
    shape = (11, 13)
    band = rng.random(shape) < 0.35
    known = rng.random(shape) < 0.12
    known[0, 0] = True
    s = explicit_operator(known, band)
    g = rng.normal(size=shape) * 10
    for method in METHODS:
        got = inpaint.solve_adjoint(known, band, g, method=method, tol=TOL)
        assert np.all(got[~known] == 0.0)
        assert np.abs(got[known] - s.T @ g.ravel()).max() <= TOL


def test_adjoint_dot_product_on_photo_mask(photo):
    img = photo("kodak/kodim23.png", 64)
    known, band = edge_masks(img)
    op = inpaint.Inpainter(known, band)
    rng = np.random.default_rng(9)
    v = np.where(known, rng.uniform(0, 255, known.shape), 0.0)
    g = rng.normal(size=known.shape)
    lhs = float(np.sum(op.solve(v, tol=1e-7) * g))
    rhs = float(np.sum(v * op.adjoint(g, tol=1e-7)))
    assert abs(lhs - rhs) <= 1e-6 * abs(lhs) + 1e-3


def test_derived_pixels_between_the_phases_and_their_adjoint(photo):
    """Pixels made from the band phase's solution (edge sides): ``derive`` writes them before
    the Laplace phase reads them as data, as a direct solve with those values given does;
    ``derive_adjoint`` is its transpose (the dot-product test through the whole operator)."""
    from reference_solver import reference_solve

    img = photo("kodak/kodim23.png", 64)
    known, band = edge_masks(img, thr=120.0)
    rng = np.random.default_rng(10)
    # copies into some Laplace pixels from band rows (a band pixel with a band 4-neighbour)
    pb = np.pad(band, 1)
    row = band & ~known & (pb[:-2, 1:-1] | pb[2:, 1:-1] | pb[1:-1, :-2] | pb[1:-1, 2:])
    src = rng.choice(np.flatnonzero(row), 12, replace=False)
    free = np.flatnonzero(~known.ravel() & ~band.ravel())
    dst = rng.choice(free, 12, replace=False)

    def copy(u):
        u[dst] = u[src]

    def copy_adjoint(t):
        np.add.at(t, src, t[dst])
        t[dst] = 0.0

    data = known.copy()
    data.ravel()[dst] = True
    op = inpaint.Inpainter(data, band, derive=copy, derive_adjoint=copy_adjoint)
    v = np.where(known, rng.uniform(0, 255, known.shape), 0.0)
    u = op.solve_field(v.copy(), 1e-7)
    # the same problem solved directly: the band, then the copies as given values
    first = reference_solve(known, v, band)
    given = v.copy()
    given.ravel()[dst] = first.ravel()[src]
    assert np.abs(u - reference_solve(data, given, band)).max() < 1e-5
    g = rng.normal(size=known.shape)
    lhs = float(np.sum(op.solve_field(v.copy(), 1e-9) * g))
    t = op.adjoint_field(g.copy(), 1e-9)
    rhs = float(np.sum(v[known] * t[known]))
    assert abs(lhs - rhs) <= 1e-6 * abs(lhs) + 1e-3


# ---------------------------------------------------------------- validation, rounding


def test_no_known_pixel_raises():
    z = np.zeros((4, 4), bool)
    with pytest.raises(ValueError, match="no known"):
        inpaint.solve(z, np.zeros((4, 4)), z)


@pytest.mark.parametrize(
    "known,values,band,kw",
    [
        (np.ones((4, 4), np.uint8), np.zeros((4, 4)), np.zeros((4, 4), bool), {}),
        (np.ones((4, 4), bool), np.zeros((4, 5)), np.zeros((4, 4), bool), {}),
        (np.ones((4, 4), bool), np.zeros((4, 4)), np.zeros((4, 3), bool), {}),
        (np.ones(16, bool), np.zeros(16), np.zeros(16, bool), {}),
        (np.ones((4, 4), bool), np.full((4, 4), np.nan), np.zeros((4, 4), bool), {}),
        (np.ones((4, 4), bool), np.zeros((4, 4), complex), np.zeros((4, 4), bool), {}),
        (np.ones((4, 4), bool), np.zeros((4, 4)), np.zeros((4, 4), bool), {"method": "jacobi"}),
        (np.ones((4, 4), bool), np.zeros((4, 4)), np.zeros((4, 4), bool), {"tol": 0.0}),
        (np.ones((4, 4), bool), np.zeros((4, 4)), np.zeros((4, 4), bool), {"tol": np.nan}),
        (np.ones((0, 4), bool), np.zeros((0, 4)), np.zeros((0, 4), bool), {}),
    ],
)
def test_bad_input_raises(known, values, band, kw):
    with pytest.raises(ValueError):
        inpaint.solve(known, values, band, **kw)


def test_to_uint8_rounds_half_up_and_clamps():
    u = np.array([[-3.0, 0.49999, 0.5, 1.5, 2.5, 254.5, 300.0, np.nan, np.inf, -np.inf]])
    assert inpaint.to_uint8(u).tolist() == [[0, 0, 1, 2, 3, 255, 255, 0, 255, 0]]
    assert inpaint.to_uint8(u).dtype == np.uint8


# ---------------------------------------------------------------- reused memory


def test_operators_built_on_one_scratch_match_fresh_ones_exactly(photo):
    """An operator built on memory that held another one's hierarchy (the new one must
    overwrite every cell), and whose solver vectors still hold the other's leftovers (garbage
    included), solves exactly as one built on fresh memory, in both directions.  The
    exception is the
    fine level of the K-cycle's and CG's own vectors z and d, which every solve must leave at
    zero (the fine-level kernels read them without coupling arrays)."""
    img = photo("sipi/peppers.tiff", 64)
    dense = edge_masks(img, thr=120.0, grid=4)
    sparse = edge_masks(img, thr=300.0, grid=16)
    scratch = inpaint.Scratch(img.shape)
    first = inpaint.Inpainter(*dense, scratch)
    first.solve(img, steps=3)
    first.adjoint(img, tol=0.01)
    for dtype in (np.float64, inpaint.ROUGH_DTYPE):
        ws = scratch.workspace(dtype)
        assert not ws.z[:ws.n0].any() and not ws.d[:ws.n0].any()
        for name, v in vars(ws).items():
            if isinstance(v, np.ndarray) and v.dtype == dtype:
                garbage = np.random.default_rng(1).uniform(-1e6, 1e6, v.shape)
                if name in ("z", "d"):
                    garbage[:ws.n0] = 0.0
                v[:] = garbage
    reused = inpaint.Inpainter(*sparse, scratch)
    fresh = inpaint.Inpainter(*sparse)
    for kwargs in ({"steps": 2}, {"tol": 0.01}):
        assert np.array_equal(reused.solve(img, **kwargs), fresh.solve(img, **kwargs))
        assert np.array_equal(reused.adjoint(img, **kwargs), fresh.adjoint(img, **kwargs))
    for dtype in (np.float64, inpaint.ROUGH_DTYPE):
        ws = scratch.workspace(dtype)
        assert not ws.z[:ws.n0].any() and not ws.d[:ws.n0].any()


def test_an_operator_whose_scratch_was_taken_over_refuses_to_solve(photo):
    img = photo("sipi/peppers.tiff", 32)
    known, band = edge_masks(img, grid=4)
    scratch = inpaint.Scratch(img.shape)
    old = inpaint.Inpainter(known, band, scratch)
    new = inpaint.Inpainter(known, band, scratch)
    with pytest.raises(RuntimeError, match="taken over"):
        old.solve(img)
    with pytest.raises(RuntimeError, match="taken over"):
        old.adjoint(img)
    new.solve(img)
    with pytest.raises(ValueError, match="scratch is for size"):
        inpaint.Inpainter(known[:16], band[:16], scratch)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fine_level_kernels_without_coupling_arrays_match_the_arrays_exactly(dtype):
    """On the fine level the kernels take unit couplings instead of reading cE and cS; with
    vectors that vanish off the active cells they must give the same bits in both phases."""
    rng = np.random.default_rng(5)
    known = rng.random((45, 52)) < 0.08
    band = rng.random(known.shape) < 0.35
    op = inpaint.Inpainter(known, band)
    for ph in (op.band_phase, op.laplace_phase):
        diag, idiag, cE, cS, levels, runs = ph._operator()
        wp, r0, r1 = levels[0, 1], levels[0, 2], levels[0, 3]
        on = np.zeros(ph.n0, dtype=dtype)
        G.pad_field(ph.active, np.ones(known.shape), on)
        x = (rng.uniform(-50, 50, ph.n0) * on).astype(dtype)
        b = (rng.uniform(-50, 50, ph.n0) * on).astype(dtype)
        out = []
        for c in ((cE, cS), (None, None)):
            y, r, xs = np.zeros(ph.n0, dtype), np.zeros(ph.n0, dtype), x.copy()
            K.matvec(diag, *c, x, y, wp, runs, r0, r1)
            m = K.residual_max(diag, *c, b, x, r, wp, runs, r0, r1)
            K.rb_half(idiag, *c, b, xs, wp, runs, r0, r1, np.uint64(1))
            out.append((y, r, m, xs))
        for a, e in zip(*out, strict=True):
            assert np.array_equal(a, e)
        assert np.abs(out[0][0]).max() > 0


def test_thin_band_phases_are_factorised_and_solved_exactly(photo):
    """The band phase of edge masks (chains along edges) is solved by its envelope Cholesky
    factor: an uncertified solve is then the exact solution, which multigrid steps reach only
    in the limit; the Laplace phase never is."""
    img = photo("sipi/peppers.tiff", 96)
    known, band = edge_masks(img, grid=16)
    op = inpaint.Inpainter(known, band)
    assert op.band_phase.factor is not None and op.laplace_phase.factor is None
    order, first, start, factor = op.band_phase.factor
    i, j = np.nonzero(op.band_phase.active)
    assert np.array_equal(np.sort(order), np.sort((i + 1) * (known.shape[1] + 2) + j + 1))
    assert np.all(first <= np.arange(order.size)) and start[-1] == factor.size
    assert factor.size <= phase.DIRECT_ENVELOPE * op.band_phase.count
    exact = reference_solve(known, img.astype(float), band)
    rough = op.solve(img, steps=1)
    assert not op.band_phase._coarse  # scoring never builds its multigrid levels
    bp = op.band_phase.active
    assert np.abs(rough[bp] - exact[bp]).max() < 1e-3
    # the same certified answers as without the factor
    plain = inpaint.Inpainter(known, band)
    plain.band_phase.factor = None
    for tol in (0.5, 1e-3):
        a, b = op.solve(img, tol=tol), plain.solve(img, tol=tol)
        assert np.abs(a - exact).max() <= tol and np.abs(b - exact).max() <= tol
        g = op.adjoint(img, tol=tol)
        assert np.abs(g - plain.adjoint(img, tol=tol)).max() <= 2 * tol


def test_thick_band_phases_stay_with_multigrid():
    """A band that is a solid block has a wide envelope: no factor (memory and time would
    grow with the block's width), and the solve is still right."""
    rng = np.random.default_rng(4)
    known = rng.random((90, 90)) < 0.002
    known[45, 45] = True
    band = np.zeros_like(known)
    band[5:85, 5:85] = True
    op = inpaint.Inpainter(known, band)
    assert op.band_phase.count > 5000 and op.band_phase.factor is None
    values = rng.uniform(0, 255, known.shape)
    exact = reference_solve(known, values, band)
    assert np.abs(op.solve(values, tol=1e-2) - exact).max() <= 1e-2


@pytest.mark.parametrize("steps", [None, 2])
def test_unchecked_entry_points_match_the_checked_ones(steps):
    """solve_field and adjoint_field (the tonal fitter's) give solve's and adjoint's
    results bit for bit, at the known pixels for the adjoint."""
    rng = np.random.default_rng(11)
    known = rng.random((40, 50)) < 0.05
    band = (rng.random((40, 50)) < 0.2) & ~known
    values = rng.random((40, 50)) * 255
    rhs = rng.random((40, 50)) - 0.5
    guess = rng.random((40, 50)) * 255
    op = inpaint.Inpainter(known, band)
    expected = op.solve(values, tol=1e-3, guess=guess, steps=steps)
    got = op.solve_field(np.where(known, values, 0.0), 1e-3, guess=guess, steps=steps)
    assert np.array_equal(got, expected)
    expected = op.adjoint(rhs, tol=1e-3, steps=steps)
    got = op.adjoint_field(rhs.copy(), 1e-3, steps=steps)
    assert np.array_equal(got[known], expected[known]) and not expected[~known].any()


# ---------------------------------------------------------------- reduced solves


@pytest.mark.parametrize("shape", [(96, 96), (75, 83)])
def test_reduced_solves_approach_the_block_means_of_the_exact_solution(shape, photo):
    """solve_reduced(level) against the direct solve averaged over 2^level blocks: level 0 is
    the solve itself, each coarser level an approximation that stays close."""
    img = photo("sipi/peppers.tiff", 96)[:shape[0], :shape[1]]
    known, band = edge_masks(img, grid=8)
    exact = reference_solve(known, img, band)
    op = inpaint.Inpainter(known, band)
    assert np.abs(op.solve_reduced(img, 0, tol=0.01) - exact).max() <= 0.01
    for level, limit in ((1, 2.0), (2, 2.0), (3, 2.0)):
        got = op.solve_reduced(img, level, tol=0.01)
        ref = block_means(exact, 1 << level)
        assert got.shape == ref.shape
        assert np.abs(got - ref).mean() < limit, level
    with pytest.raises(ValueError, match="level"):
        op.solve_reduced(img, -1)


def test_reduced_solves_of_tiny_images():
    """Fewer multigrid levels than asked for: still the right shape and close."""
    known = np.zeros((3, 5), bool)
    known[0, 0] = known[2, 4] = True
    values = np.where(known, 90.0, 0.0)
    values[2, 4] = 30.0
    band = np.zeros_like(known)
    exact = reference_solve(known, values, band)
    op = inpaint.Inpainter(known, band)
    for level in (1, 2, 3):
        got = op.solve_reduced(values, level)
        ref = block_means(exact, 1 << level)
        assert got.shape == ref.shape and np.abs(got - ref).max() < 5


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_channels_solved_at_once_match_the_direct_solver_and_separate_solves(threads, photo):
    """solve_fields (several channels, each thread with its own vectors) gives every channel
    within its tolerance of scipy's direct solve, certified, and the same pixels as solving
    the channels one after another with solve_field."""
    img = photo("sipi/peppers.tiff", 96)
    known, band = edge_masks(img, grid=16)
    rng = np.random.default_rng(11)
    channels = [img, 255.0 - img, 128.0 + rng.normal(0, 20, img.shape)]
    tols = [0.15, 0.2, 0.3]
    op = inpaint.Inpainter(known, band)
    fields = [np.where(known, v, 0.0) for v in channels]
    starts = [float(v[known].mean()) for v in channels]
    errors = op.solve_fields(fields, tols, starts, threads=threads)
    one = inpaint.Inpainter(known, band)
    for v, u, e, t, s in zip(channels, fields, errors, tols, starts):
        ref = reference_solve(known, v, band)
        err = np.abs(u - ref).max()
        assert err <= e + 1e-9 and e <= t
        alone = one.solve_field(np.where(known, v, 0.0), t, start=s)
        assert np.array_equal(alone, u)


def test_constant_start_saves_steps_never_accuracy(photo):
    """A constant start (the decoder's mean stored value) for a channel far from 0 takes no
    more steps than the start at 0 (the coarse-level start absorbs most of the difference)
    and stays within the tolerance of the direct solve."""
    img = photo("sipi/peppers.tiff", 96)
    known, band = edge_masks(img, grid=16)
    chroma = 128.0 + 0.2 * (img - img.mean())
    ref = reference_solve(known, chroma, band)
    op = inpaint.Inpainter(known, band)
    its = []
    for start in (None, float(chroma[known].mean())):
        u = op.solve_field(np.where(known, chroma, 0.0), 0.15, start=start)
        assert np.abs(u - ref).max() <= op.last_error + 1e-9 <= 0.15 + 1e-9
        its.append(op.laplace_phase.last_iterations)
    assert its[1] <= its[0]


def test_an_inpainter_and_its_memory_go_without_the_garbage_collector():
    # the memory holds its owner weakly: no cycle keeps gigabytes until a collection
    import gc
    import weakref

    known = np.zeros((40, 40), bool)
    known[::5, ::5] = True
    gc.disable()
    try:
        scratch = inpaint.Scratch(known.shape)
        op = inpaint.Inpainter(known, np.zeros_like(known), scratch)
        op.solve(np.where(known, 100.0, 0.0))
        assert scratch.owner is op
        gone = weakref.ref(scratch), weakref.ref(op)
        del scratch, op
        assert [r() for r in gone] == [None, None]
    finally:
        gc.enable()


def _float64_workspaces(op: inpaint.Inpainter) -> list:
    return [key for key in op._scratch._workspaces if key[0] == np.float64]


def test_a_large_bound_refines_in_mixed_precision(photo):
    """Tolerances float32 cannot certify alone are met by float64 residuals and float32
    corrections, without the float64 solver vectors (half the memory and traffic)."""
    img = photo("sipi/peppers.tiff", 160)
    known = np.zeros(img.shape, dtype=bool)
    known[::40, ::40] = True  # big holes: a large bound
    op = inpaint.Inpainter(known, np.zeros_like(known))
    tol = 0.05
    assert op.laplace_phase.precision(tol, 255.0, "fast") == np.float64
    u = op.solve(img, tol=tol)
    err = np.abs(u - reference_solve(known, img, np.zeros_like(known))).max()
    assert err <= op.last_error <= tol
    assert _float64_workspaces(op) == []
    assert op.laplace_phase.last_iterations < 40


def test_a_refinement_that_stalls_hands_over_to_float64(monkeypatch, photo):
    img = photo("sipi/peppers.tiff", 96)
    known, band = edge_masks(img)
    # corrections asked for a tenth of the residual, progress asked for a millionth: the
    # second correction hands over
    monkeypatch.setattr(phase, "REFINE_REDUCTION", 0.1)
    monkeypatch.setattr(phase, "REFINE_PROGRESS", 1e-6)
    op = inpaint.Inpainter(known, band)
    u = op.solve(img, tol=TOL)
    assert np.abs(u - reference_solve(known, img, band)).max() <= op.last_error <= TOL
    assert _float64_workspaces(op)


def test_an_inpainter_solves_without_its_scratch_numbering_and_the_next_remakes_it(photo):
    img = photo("sipi/peppers.tiff", 64)
    known, band = edge_masks(img)
    scratch = inpaint.Scratch(known.shape)
    op = inpaint.Inpainter(known, band, scratch)
    assert op.band_phase.factor is not None  # (the numbering was used)
    scratch.drop_numbering()
    assert scratch._local is None
    ref = reference_solve(known, img, band)
    assert np.abs(op.solve(img, tol=TOL) - ref).max() <= TOL
    again = inpaint.Inpainter(known, band, scratch)
    assert np.abs(again.solve(img, tol=TOL) - ref).max() <= TOL
