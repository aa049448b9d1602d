"""Tonal optimisation: least-squares stored values, checked against a dense reference."""

import numpy as np
import pytest
from reference_solver import reference_solve

from PIL_ipc.format import sources
from PIL_ipc.encode import tonal


def problem(h=14, w=17):
    """A small image with one edge and a few seeds; the stored positions of that layout."""
    y, x = np.mgrid[0:h, 0:w]
    img = (60 + 3 * x + 2 * y + 40 * np.sin(x / 3.0) + np.where(x > w // 2, 90, 0)).astype(float)
    img = np.clip(img, 0, 255)
    plane = np.zeros((h, w), bool)
    plane[2:h - 2, w // 2 + 1] = True
    seed = np.zeros((h, w), bool)
    seed[3::5, 2::5] = True
    pts = sources.locate(plane, 3, seed)
    return img, pts


def dense_least_squares(img, pts):
    """Stored values minimising ||S v - f||^2, with S built column by column by direct solves."""
    known = pts.known_mask()
    cols = []
    for p in pts.positions:
        unit = np.zeros(img.size)
        unit[p] = 1.0
        cols.append(reference_solve(known, unit.reshape(img.shape), pts.band).ravel())
    s = np.stack(cols, axis=1)
    v, *_ = np.linalg.lstsq(s, img.ravel(), rcond=None)
    return v, s


def test_fit_converges_to_the_least_squares_values():
    img, pts = problem()
    v_ref, s = dense_least_squares(img, pts)
    fit = tonal.Fitter(img, pts.known_mask(), pts.band, pts.positions, tol=1e-6)
    x, u = fit.fit(200)
    err = np.sum((s @ x - img.ravel()) ** 2)
    best = np.sum((s @ v_ref - img.ravel()) ** 2)
    plain = np.sum((s @ img.ravel()[pts.positions] - img.ravel()) ** 2)
    assert best < 0.8 * plain  # the test problem gains from tonal optimisation at all
    assert err == pytest.approx(best, rel=1e-4)
    # the returned image is the inpainting of the returned (unclipped here) values
    assert np.allclose(u.ravel(), s @ x, atol=1e-3)


def test_each_step_lowers_the_error_and_start_is_used():
    img, pts = problem()
    _, s = dense_least_squares(img, pts)
    fit = tonal.Fitter(img, pts.known_mask(), pts.band, pts.positions, tol=1e-6)
    errs = [np.sum((s @ fit.fit(k)[0] - img.ravel()) ** 2) for k in (0, 1, 2, 4)]
    assert errs == sorted(errs, reverse=True) and errs[-1] < errs[0]
    # zero steps from a given start return that start
    start = np.full(pts.count, 100.0)
    assert np.array_equal(fit.fit(0, start)[0], start)
    assert np.array_equal(tonal.optimise(img, pts.known_mask(), pts.band, pts.positions, 0, start),
                          start)


def test_render_matches_the_reference_solver():
    img, pts = problem()
    fit = tonal.Fitter(img, pts.known_mask(), pts.band, pts.positions, tol=1e-6)
    v = np.linspace(0, 255, pts.count)
    field = np.zeros(img.size)
    field[pts.positions] = v
    ref = reference_solve(pts.known_mask(), field.reshape(img.shape), pts.band)
    assert np.allclose(fit.render(v), ref, atol=1e-4)


def test_bad_arguments():
    img, pts = problem()
    with pytest.raises(ValueError):
        tonal.Fitter(img, pts.known_mask(), pts.band, np.array([img.size]))
    with pytest.raises(ValueError):
        tonal.Fitter(img, pts.known_mask(), pts.band, np.array([-1]))
    fit = tonal.Fitter(img, pts.known_mask(), pts.band, pts.positions)
    with pytest.raises(ValueError):
        fit.fit(1, np.zeros(pts.count + 1))
    for tol, steps in ((1e-3, 0), (1e-3, 2.5), (0.0, None), (float("nan"), 2)):
        bad = tonal.Fitter(img, pts.known_mask(), pts.band, pts.positions, tol, steps)
        with pytest.raises(ValueError, match="steps|tol"):
            bad.render(img.ravel()[pts.positions])


def test_trail_holds_the_values_after_each_step_but_the_last():
    img, pts = problem()
    fit = tonal.Fitter(img, pts.known_mask(), pts.band, pts.positions, tol=1e-6)
    trail = []
    x4, _ = fit.fit(4, trail=trail)
    assert len(trail) == 3
    for k, xk in enumerate(trail, start=1):
        assert np.allclose(xk, fit.fit(k)[0], atol=1e-6)
    assert not np.allclose(trail[-1], x4, atol=1e-3)
