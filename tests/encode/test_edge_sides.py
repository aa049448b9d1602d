"""The encoder's edge sides (encode.sides): chosen on the decoded file, kept only where the
decoder's result is better, within the budget; grey images only."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from PIL_ipc import decode, encode, metrics
from PIL_ipc.encode import search, sides
from PIL_ipc.format import container, reader
from PIL_ipc.format import sides as side_format


@pytest.fixture(scope="module")
def synthetic(corpus):
    path = corpus.parents[1] / "benchmarks" / "synthetic.py"
    spec = importlib.util.spec_from_file_location("synthetic", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_choose_takes_a_side_only_for_more_than_the_margin():
    u = np.array([[100.0, 10.0, 200.0, 0.0]])
    pixels = np.array([[0, 10, 200, 0]], np.uint8)
    positions = np.array([0, 3])
    candidates = np.array([[1, 2, -1, -1], [-1, 2, -1, -1]])
    # pixel 0: mean 100 against 0 (error 10000), its darkest candidate 10 (error 100)
    assert sides.choose(u, pixels, positions, candidates, margin=100.0).tolist() == \
        [side_format.LOW, side_format.MEAN]
    assert sides.choose(u, pixels, positions, candidates, margin=1e5).tolist() == \
        [side_format.MEAN, side_format.MEAN]
    pixels[0, 0] = 190
    assert sides.choose(u, pixels, positions, candidates, margin=100.0)[0] == side_format.HIGH


def test_a_budget_search_of_rendered_shapes_takes_sides_and_gains(synthetic, monkeypatch):
    img = synthetic.make("shapes", size=192)
    options = encode.EncodeOptions(bpp=0.25)
    budget = options.budget_bytes(192, 192)
    data = encode.encode(img, options)
    f = reader.parse(data)
    assert f.sides is not None and f.header.version == container.SIDE_VERSION
    assert len(data) <= budget
    monkeypatch.setattr(search.sides, "improve", lambda planner, coded, *a: coded)
    plain = encode.encode(img, options)
    assert reader.parse(plain).sides is None
    gain = metrics.psnr(img, decode.decode(data)) - metrics.psnr(img, decode.decode(plain))
    assert gain > 1.0, gain


def test_colour_images_and_pictures_without_edges_take_no_sides(synthetic):
    rgb = synthetic.make("shapes", size=96, colour=True)
    f = reader.parse(encode.encode(rgb, encode.EncodeOptions(bpp=0.5)))
    assert f.sides is None and f.header.version == 4
    y, x = np.mgrid[0:64, 0:64]
    smooth = (80 + x + 0.5 * y).astype(np.uint8)
    f = reader.parse(encode.encode(smooth, encode.EncodeOptions(bpp=0.3)))
    assert f.sides is None and f.header.version == 3


def test_sides_are_kept_only_where_the_decoder_does_better(synthetic, monkeypatch):
    """With a margin of 0 every edge pixel nearer a side takes it (a third of the file on
    these shapes): the file that results is never kept if it decodes worse or misses the
    budget, whatever the margin."""
    img = synthetic.make("blobs", size=128)
    options = encode.EncodeOptions(bpp=0.3)
    budget = options.budget_bytes(128, 128)
    seen = []
    real = sides._within

    def spy(planner, coded, budget_, refit, margin, base_mse):
        found = real(planner, coded, budget_, refit, margin, base_mse)
        seen.append((found, base_mse))
        return found

    monkeypatch.setattr(sides, "_within", spy)
    monkeypatch.setattr(sides, "SIDE_MARGINS", (0.0, 1e9))
    data = encode.encode(img, options)
    assert len(data) <= budget and seen
    for found, base_mse in seen:
        assert found is None or (found.mse < base_mse and found.size <= budget)
    decoded_mse = float(np.mean((decode.decode(data).astype(float) - img) ** 2))
    assert decoded_mse <= min(base for _, base in seen) + 1e-9
