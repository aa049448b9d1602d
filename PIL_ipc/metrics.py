"""Image quality measures: PSNR and SSIM of 8-bit images, in numpy alone.

SSIM follows Wang, Bovik, Sheikh and Simoncelli (2004) with the 7 x 7 uniform window and the
sample covariance that scikit-image's ``structural_similarity`` uses by default (the measure in
the project's rate-distortion tables), K1 = 0.01, K2 = 0.03, dynamic range 255, averaged over
the window positions that lie wholly inside the image (scikit-image computes the border too
and then crops it, so the two agree). A multi-channel image scores the mean of its channels.
"""

from __future__ import annotations

import math

import numpy as np

PEAK = 255.0
SSIM_WINDOW = 7
_K1, _K2 = 0.01, 0.03


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {x.shape} and {y.shape}")
    if x.ndim not in (2, 3) or x.size == 0:
        raise ValueError(f"expected (H, W) or (H, W, channels) images, got shape {x.shape}")
    return x, y


def psnr_of_mse(mse: float) -> float:
    """PSNR in dB (peak 255) of a mean squared error; inf when it is 0."""
    return math.inf if mse <= 0 else 10.0 * math.log10(PEAK * PEAK / mse)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (peak 255) over all pixels and channels; inf if equal."""
    x, y = _pair(reference, test)
    return psnr_of_mse(float(np.mean((x - y) ** 2)))


def _window_means(plane: np.ndarray, size: int) -> np.ndarray:
    """Mean of every size x size window wholly inside `plane` (summed-area table)."""
    table = np.zeros((plane.shape[0] + 1, plane.shape[1] + 1))
    np.cumsum(np.cumsum(plane, axis=0), axis=1, out=table[1:, 1:])
    sums = table[size:, size:] - table[:-size, size:] - table[size:, :-size] + table[:-size, :-size]
    return sums / (size * size)


def _ssim_plane(x: np.ndarray, y: np.ndarray) -> float:
    n = SSIM_WINDOW * SSIM_WINDOW
    covariance_norm = n / (n - 1)  # sample covariance, as scikit-image by default
    ux, uy = _window_means(x, SSIM_WINDOW), _window_means(y, SSIM_WINDOW)
    vx = covariance_norm * (_window_means(x * x, SSIM_WINDOW) - ux * ux)
    vy = covariance_norm * (_window_means(y * y, SSIM_WINDOW) - uy * uy)
    vxy = covariance_norm * (_window_means(x * y, SSIM_WINDOW) - ux * uy)
    c1, c2 = (_K1 * PEAK) ** 2, (_K2 * PEAK) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s.mean())


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean structural similarity; NaN when a side is shorter than the 7-pixel window."""
    x, y = _pair(reference, test)
    if min(x.shape[:2]) < SSIM_WINDOW:
        return math.nan
    if x.ndim == 2:
        return _ssim_plane(x, y)
    return float(np.mean([_ssim_plane(x[..., c], y[..., c]) for c in range(x.shape[2])]))
