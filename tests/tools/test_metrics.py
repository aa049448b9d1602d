"""PSNR and SSIM against scikit-image's implementations (an independent peer)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from PIL_ipc import metrics


def noisy_pair(shape, seed, amount=20):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    ramp = (3 * x + 2 * y) % 256
    a = np.broadcast_to(ramp.reshape(*shape[:2], *([1] * (len(shape) - 2))), shape)
    a = a.astype(np.uint8)
    noise = rng.integers(-amount, amount + 1, size=shape)
    return a, np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(7, 7), (9, 31), (40, 33), (24, 20, 3), (16, 17, 2)])
@pytest.mark.parametrize("amount", [2, 40])
def test_ssim_matches_scikit_image(shape, amount):
    a, b = noisy_pair(shape, seed=sum(shape) + amount, amount=amount)
    channel_axis = 2 if len(shape) == 3 else None
    expected = structural_similarity(a, b, data_range=255, channel_axis=channel_axis)
    assert metrics.ssim(a, b) == pytest.approx(expected, abs=1e-9)
    assert metrics.ssim(a, a) == pytest.approx(1.0)


@pytest.mark.parametrize("shape", [(5, 9), (33, 20, 4)])
def test_psnr_matches_scikit_image(shape):
    a, b = noisy_pair(shape, seed=3)
    expected = peak_signal_noise_ratio(a, b, data_range=255)
    assert metrics.psnr(a, b) == pytest.approx(expected, abs=1e-9)
    assert metrics.psnr(a, a) == math.inf


def test_ssim_of_a_small_image_is_undefined_and_shapes_must_agree():
    a, b = noisy_pair((6, 40), seed=1)
    assert math.isnan(metrics.ssim(a, b))
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(a, b[:, :-1])
