"""The quality knob: quality= and psnr= meet a decoded PSNR with the smallest file."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import PIL_ipc  # noqa: F401  (registers the plugin)
from PIL_ipc.format import reader
from PIL_ipc import decode, encode
from PIL_ipc.encode import search
from PIL_ipc.encode.planner import Planner
from PIL_ipc.encode.quality import budget_rung, search_psnr

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kodim23.png"


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    with Image.open(EXAMPLE) as im:
        return np.asarray(im.convert("L").crop((300, 150, 348, 198)))


def psnr(data: bytes, pixels: np.ndarray) -> float:
    d = decode.decode(data).astype(np.float64) - pixels
    mse = float(np.mean(d ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def test_quality_maps_monotonically_to_a_psnr_target():
    targets = [encode.psnr_for_quality(q) for q in range(101)]
    assert all(b > a for a, b in zip(targets, targets[1:], strict=False))
    assert encode.EncodeOptions(quality=80).target_psnr() == encode.psnr_for_quality(80)
    assert encode.EncodeOptions().target_psnr() == \
        encode.psnr_for_quality(encode.DEFAULT_QUALITY)
    assert encode.EncodeOptions(psnr=31.5).target_psnr() == 31.5
    for given in (dict(threshold=24), dict(bpp=0.2), dict(size=500)):
        assert encode.EncodeOptions(**given).target_psnr() is None


def test_decoded_quality_never_falls_as_quality_rises(crop):
    qualities = [0, 20, 40, 60, 80, 100]
    results = []
    for q in qualities:
        data = encode.encode(crop, encode.EncodeOptions(quality=q))
        results.append((len(data), psnr(data, crop)))
        # the target is met (the decoder's own PSNR)
        assert results[-1][1] >= encode.psnr_for_quality(q)
    quality = [p for _, p in results]
    assert quality == sorted(quality), results
    sizes = [n for n, _ in results]
    assert sizes == sorted(sizes), results
    assert sizes[0] < sizes[-1]


def test_quality_80_differs_from_the_default(crop):
    assert encode.DEFAULT_QUALITY != 80
    default = encode.encode(crop)
    assert default != encode.encode(crop, encode.EncodeOptions(quality=80))
    assert default == encode.encode(crop, encode.EncodeOptions(
        quality=encode.DEFAULT_QUALITY))


def test_psnr_target_takes_the_smallest_budget_that_meets_it(crop):
    target = 34.0
    planner = Planner(crop)
    coded = search_psnr(planner, target, 6)
    data = planner.file(coded)
    assert len(data) == coded.size
    assert psnr(data, crop) >= target
    # the next budget down on the ladder misses the target
    k = next(k for k in range(400) if budget_rung(k) >= len(data))
    lower = planner.file(search.search(planner, budget_rung(k - 1), 6))
    assert len(lower) < len(data) or psnr(lower, crop) < target
    assert psnr(lower, crop) < target


def test_a_coarse_psnr_search_brackets_within_its_stride_in_fewer_probes(crop, monkeypatch):
    target, stride = 34.0, 14
    probed = []
    budget_search = search.search
    monkeypatch.setattr("PIL_ipc.encode.quality.search", lambda p, b, *a, **k:
                        probed.append(b) or budget_search(p, b, *a, **k))
    planner = Planner(crop)
    fine = planner.file(search_psnr(planner, target, 6))
    fine_probes, probed[:] = len(probed), []
    data = planner.file(search_psnr(planner, target, 6, stride=stride))
    assert psnr(data, crop) >= target
    assert len(probed) < fine_probes
    # a budget at most a stride of rungs below the one taken misses the target
    k = next(k for k in range(400) if budget_rung(k) >= len(data))
    assert min(len(data), len(fine)) >= budget_rung(k - stride)
    assert any(budget_rung(k - stride) <= b < budget_rung(k) for b in probed)


def test_a_coarse_bracket_far_over_the_target_is_refined_to_one_rung(crop, monkeypatch):
    target = 34.0
    probed = []
    budget_search = search.search
    monkeypatch.setattr("PIL_ipc.encode.quality.search", lambda p, b, *a, **k:
                        probed.append(b) or budget_search(p, b, *a, **k))
    planner = Planner(crop)
    data = planner.file(search_psnr(planner, target, 6, stride=14, slack=0.0))
    assert psnr(data, crop) >= target
    # no slack: the rung below the one taken was probed (and missed)
    k = next(k for k in range(400) if budget_rung(k) >= len(data))
    assert any(budget_rung(k - 2) < b <= budget_rung(k - 1) for b in probed)


def test_psnr_out_of_reach_gives_the_largest_file():
    flat_noise = np.random.default_rng(3).integers(0, 256, (12, 12), dtype=np.uint8)
    data = encode.encode(flat_noise, encode.EncodeOptions(psnr=99))
    assert 40 < psnr(data, flat_noise)


def test_default_save_writes_no_settings_and_a_tiny_image_stays_tiny():
    buf = io.BytesIO()
    Image.new("L", (1, 1), 77).save(buf, "IPC")
    data = buf.getvalue()
    assert reader.parse(data).text == {}
    assert len(data) <= 100  # 328 bytes when every setting was written as text
    with Image.open(io.BytesIO(data)) as im:
        # a decoded PSNR of at least 32.5 dB: the one pixel within 6 grey levels
        assert abs(im.getpixel((0, 0)) - 77) <= 255 / 10 ** (32.5 / 20)


@pytest.mark.parametrize("options", [
    dict(quality=-1), dict(quality=100.5), dict(quality="high"), dict(quality=math.nan),
    dict(psnr=0), dict(psnr=-3), dict(psnr=math.inf), dict(psnr=101),
    dict(quality=50, psnr=30), dict(quality=50, bpp=0.2), dict(psnr=30, size=400),
    dict(threshold=24, size=400), dict(threshold=24, quality=90), dict(bpp=0.1, size=300),
])
def test_bad_or_conflicting_options_raise_valueerror(options, crop):
    with pytest.raises(ValueError):
        encode.EncodeOptions(**options)
    with pytest.raises(ValueError):
        Image.fromarray(crop).save(io.BytesIO(), "IPC", **options)


def test_budget_too_small_names_the_smallest_size_that_fits(crop):
    with pytest.raises(search.BudgetTooSmall) as caught:
        encode.encode(crop, encode.EncodeOptions(size=30))
    smallest = caught.value.smallest
    assert isinstance(smallest, int) and smallest > 30
    assert f"{smallest} bytes" in str(caught.value)
    data = encode.encode(crop, encode.EncodeOptions(size=smallest))
    assert len(data) <= smallest
