"""The peers' search for their best file under a byte budget."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from PIL_ipc.tools import peers


@pytest.mark.parametrize("seed", range(12))
def test_best_under_budget_is_the_largest_setting_that_fits(seed):
    rng = np.random.default_rng(seed)
    sizes = np.cumsum(rng.integers(0, 50, size=200)) + 10  # grows with the setting (ties too)
    budget = int(rng.integers(5, sizes[-1] + 20))
    calls = []

    def size_at(v: int) -> int:
        calls.append(v)
        return int(sizes[v])

    found = peers.best_under_budget(size_at, {}, 0, 199, budget, guess=int(rng.integers(0, 200)),
                                    step=8)
    fitting = [v for v in range(200) if sizes[v] <= budget]
    assert found == (max(fitting) if fitting else None)
    assert len(calls) < 40  # a search, not a sweep


def test_jpeg_quality_search_against_pillow():
    y, x = np.mgrid[0:64, 0:64]
    im = Image.fromarray(((x * 3 + y * 5) % 256).astype(np.uint8))
    jpeg = peers.peer_codecs()["jpeg"]
    budget = 700
    q = jpeg.best("ramp", im, budget)

    def size(quality: int) -> int:
        buffer = BytesIO()
        im.save(buffer, "JPEG", quality=quality, optimize=True)
        return len(buffer.getvalue())

    assert q is not None and 1 < q < 95 and size(q) <= budget < size(q + 1)
    assert jpeg.encode("ramp", im, q).data[:2] == b"\xff\xd8"
