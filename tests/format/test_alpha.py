"""The alpha plane's coder: bi-level (a T.82 plane) or graded (median-predicted residuals,
deflated), lossless, and refused at the wrong size."""

import zlib

import numpy as np
import pytest

from PIL_ipc.format import alpha


@pytest.mark.parametrize("plane", [
    np.where(np.arange(35 * 17).reshape(17, 35) % 7 < 3, 255, 0).astype(np.uint8),
    np.random.default_rng(2).integers(0, 256, (17, 35), dtype=np.uint8),
    np.full((5, 4), 255, np.uint8)])
def test_alpha_is_lossless(plane):
    coding, payload = alpha.encode(plane)
    bilevel = bool(np.all((plane == 0) | (plane == 255)))
    assert coding == (alpha.BILEVEL if bilevel else alpha.GRADED)
    assert np.array_equal(alpha.decode(coding, payload, plane.shape), plane)


def test_graded_alpha_residuals_are_median_predicted():
    """An independent check of the graded coding: columns of constant alpha, rising to the
    right, are predicted exactly below the first row (upper-left = left <= upper, so the median
    edge detector takes the upper sample), and the first row holds left differences."""
    row = np.sort(np.random.default_rng(5).integers(1, 256, 7)).astype(np.uint8)
    plane = np.tile(row, (6, 1))
    coding, payload = alpha.encode(plane)
    res = np.frombuffer(zlib.decompress(payload), np.uint8).reshape(6, 7)
    assert coding == alpha.GRADED and not res[1:].any()
    assert res[0].tolist() == np.diff(row.astype(int), prepend=0).tolist()


@pytest.mark.parametrize("payload", [zlib.compress(b"\0" * 19), zlib.compress(b"\0" * 21),
                                     zlib.compress(b"\0" * 20)[:-3], b"junk"])
def test_graded_alpha_of_the_wrong_size_is_refused(payload):
    with pytest.raises(alpha.AlphaError):
        alpha.decode(alpha.GRADED, payload, (4, 5))


def test_bilevel_alpha_of_the_wrong_size_is_refused():
    _, payload = alpha.encode(np.full((4, 6), 255, np.uint8))
    with pytest.raises(alpha.AlphaError, match="header says"):
        alpha.decode(alpha.BILEVEL, payload, (4, 5))
