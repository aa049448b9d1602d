"""Denoising, Sobel scale, thresholding and thinning of the encoder front end."""

import numpy as np
import pytest
from scipy import ndimage

from PIL_ipc.encode import analysis


def step_image(h=16, w=20, col=10, lo=40, hi=200):
    img = np.full((h, w), lo, dtype=np.float64)
    img[:, col:] = hi
    return img


def test_denoise_keeps_constant_image():
    img = np.full((9, 7), 77.0)
    assert np.array_equal(analysis.denoise(img, 8.0), img)


def test_denoise_reduces_noise_and_keeps_strong_step():
    rng = np.random.default_rng(1)
    clean = step_image(64, 64, 32, 50, 200)
    noisy = clean + rng.normal(0, 3, clean.shape)
    out = analysis.denoise(noisy, contrast=10.0, iterations=30)
    flat = (slice(8, 56), slice(4, 26))
    assert out[flat].std() < 0.5 * noisy[flat].std()
    # The 150-level step is far above K: it must stay a sharp step.
    assert out[:, 33].mean() - out[:, 30].mean() > 140


def test_denoise_zero_iterations_is_identity():
    img = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(analysis.denoise(img, 5.0, iterations=0), img)


@pytest.mark.parametrize("steps", [1, 4])
def test_denoise_matches_explicit_formula(steps):
    rng = np.random.default_rng(2)
    u = rng.uniform(0, 255, (6, 5))
    k = 20.0
    expected = u
    for _ in range(steps):
        p = np.pad(expected, 1, mode="edge")  # replicated border = zero flux
        flux = np.zeros_like(u)
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            d = p[1 + dy:1 + dy + 6, 1 + dx:1 + dx + 5] - expected
            flux += np.exp(-(d / k) ** 2) * d
        expected = expected + analysis.PM_TIME_STEP * flux
    out = analysis.denoise(u, k, iterations=steps)
    assert out.dtype == np.float32
    # (float32: a few units in the last place of 8-bit data per step)
    assert np.allclose(out, expected, rtol=0, atol=1e-3)
    assert not np.allclose(out, u, rtol=0, atol=1e-2)


def test_sobel_matches_scipy_scaled():
    rng = np.random.default_rng(3)
    u = rng.uniform(0, 255, (11, 13))
    gx, gy = analysis.sobel(u)
    # (float32: grey levels to about 1e-5)
    assert np.allclose(gx, ndimage.sobel(u, axis=1, mode="nearest") / 4, rtol=0, atol=1e-3)
    assert np.allclose(gy, ndimage.sobel(u, axis=0, mode="nearest") / 4, rtol=0, atol=1e-3)
    assert np.allclose(analysis.gradient_magnitude(u), np.hypot(gx, gy), rtol=1e-6, atol=1e-4)


def test_step_height_is_the_threshold_scale():
    mag = analysis.gradient_magnitude(step_image(lo=40, hi=200))
    assert np.allclose(mag[:, 9], 160) and np.allclose(mag[:, 10], 160)
    assert np.allclose(mag[:, :8], 0)


def test_detect_thin_step_gives_one_pixel_column():
    e = analysis.detect(step_image(lo=40, hi=200), threshold=100)
    assert e.sum() == 16
    assert e[:, 10].all()


def test_detect_unthinned_step_gives_two_columns():
    e = analysis.detect(step_image(lo=40, hi=200), threshold=100, thin=False)
    assert e[:, 9].all() and e[:, 10].all() and e.sum() == 32


def test_threshold_above_step_height_finds_nothing():
    assert not analysis.detect(step_image(lo=40, hi=200), threshold=160).any()


def test_diagonal_step_is_thin():
    y, x = np.mgrid[0:32, 0:32]
    img = np.where(x > y, 220.0, 30.0)
    e = analysis.detect(img, threshold=50)
    # One pixel per row along the diagonal (away from the corners).
    assert all(1 <= e[r].sum() <= 2 for r in range(2, 30))
    assert e.sum() < 2 * 32


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (2, 2)])
def test_tiny_images(shape):
    img = np.zeros(shape)
    assert analysis.detect(analysis.denoise(img, 8.0), 10).shape == shape


def ramp_line_image():
    """A long edge whose step height fades from 120 to 20 grey levels, plus a short strong stub."""
    img = np.zeros((40, 60))
    heights = np.linspace(120, 20, 60)
    img[20:, :] = heights[None, :]
    img[5:8, 10:13] = 200  # a 3x3 blob: a short, strong chain
    return img


def test_hysteresis_extends_strong_edges_into_weaker_parts():
    img = ramp_line_image()
    plain = analysis.detect(img, threshold=60)
    hyst = analysis.detect(img, threshold=60, hysteresis=0.25)
    row = 20
    # Without hysteresis the edge stops where the step drops below 60; with it, the connected
    # part continues down to 15 grey levels.
    assert plain[row, :].sum() < hyst[row, :].sum()
    assert hyst[row, 5:55].all()
    assert np.all(plain <= hyst)


def test_min_length_drops_short_chains():
    img = ramp_line_image()
    keep_all = analysis.detect(img, threshold=60)
    long_only = analysis.detect(img, threshold=60, min_length=15)
    blob = (slice(3, 10), slice(8, 15))
    assert keep_all[blob].any() and not long_only[blob].any()
    assert long_only[20].sum() == keep_all[20].sum()


def test_hysteresis_out_of_range():
    with pytest.raises(ValueError):
        analysis.detect(np.zeros((4, 4)), 10, hysteresis=0.0)


def test_edge_deviation_matches_the_formula_on_random_planes():
    rng = np.random.default_rng(3)
    f = rng.integers(0, 256, (23, 31)).astype(np.uint8)
    plane = rng.random(f.shape) < 0.45
    plane[5:8, 5:8] = True  # a pixel whose neighbours are all on the plane
    dev = analysis.edge_deviation(f, plane)
    g = np.pad(f.astype(float), 1)
    off = np.pad(~plane, 1)  # outside the image counts as on the plane: never a neighbour
    expected = np.zeros(f.shape)
    for i, j in zip(*np.nonzero(plane), strict=True):
        vals = [g[i + 1 + di, j + 1 + dj] for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1))
                if off[i + 1 + di, j + 1 + dj]]
        if vals:
            expected[i, j] = abs(float(f[i, j]) - sum(vals) / len(vals))
    assert dev[6, 6] == 0.0 and plane[6, 6]
    assert np.array_equal(dev, expected)
    assert (dev > 0).sum() > 100


def test_denoising_in_threads_gives_the_same_bits(monkeypatch):
    """Rows split between threads (each step's fluxes, then its update) compute exactly what
    one thread does, on sizes that do not split evenly."""
    rng = np.random.default_rng(3)
    u = rng.uniform(0, 255, (67, 45))
    monkeypatch.setattr(analysis, "PM_THREAD_PIXELS", u.size + 1)
    one = analysis.denoise(u, 8.0, 7)
    for threads in (2, 3, 5):
        monkeypatch.setattr(analysis, "PM_THREAD_PIXELS", 0)
        monkeypatch.setattr(analysis, "PM_THREADS", threads)
        assert np.array_equal(analysis.denoise(u, 8.0, 7), one)
    assert not np.array_equal(one, u)
