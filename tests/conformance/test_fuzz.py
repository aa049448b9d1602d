"""A short batch of the structure-aware fuzzer (tests/fuzz/structured.py) through Pillow: every
case ends in pixels or Pillow's exceptions for bad files, within its time and memory bounds.
The long runs are documented in tests/fuzz/RESULTS.md.  CI runs this batch a second time with
NUMBA_BOUNDSCHECK=1, where an index out of bounds in a kernel raises IndexError."""

from __future__ import annotations

import random

import numba
import numpy as np
import pytest
from fuzz import structured

from PIL_ipc.format import values

#: small seeds (at most 96 x 96 pixels): a few thousand cases in seconds
SMALL_SEEDS = ["tiny", "v1-tiny", "odd-37x23", "v2-odd-37x23", "lattice-step-1",
               "lattice-over-image", "lattice-empty", "noise-lattice-2", "bounded-noise-levels-2",
               "bounded-comic-levels-4", "v1-smooth-no-edges", "levels-51-half", "photo-g6",
               "cartoon-g8-seeds",
               # version 4: colour and alpha
               "la-graded-alpha", "rgb-odd-37x23", "rgb-chroma-stride-3", "rgba-bilevel-alpha",
               "rgba-graded-alpha"]
CASES = 3000


@pytest.mark.slow
def test_short_structured_fuzz_run():
    pool = structured.seeds(SMALL_SEEDS)
    assert len(pool) == len(SMALL_SEEDS)
    summary = structured.fuzz(CASES, seed=20261203, seed_files=pool)
    assert summary["cases"] == CASES
    assert summary["findings"] == [], summary["findings"][:5]
    outcomes = summary["outcomes"]
    # the mutations reach every stage: head errors, load errors and decoded pixels
    assert outcomes.get("pixels", 0) > CASES // 10
    assert outcomes.get("oserror", 0) > CASES // 10
    assert outcomes.get("unidentified", 0) > CASES // 20
    assert summary["lenient_cases"] > CASES // 8


def test_mutators_keep_the_chunk_structure_they_do_not_target():
    rng = random.Random(1)
    seed = structured.seeds(["tiny"])[0]
    for _ in range(200):
        chunks = structured.split(seed)
        structured.mutate_vals(rng, chunks)
        assert [t for t, _ in chunks] == [t for t, _ in structured.split(seed)]
        assert structured.split(structured.join(chunks)) == chunks  # CRC and lengths rewritten


def test_a_finding_is_reported():
    """The harness can fail: an exception other than Pillow's, or a case over its time, is a
    finding."""
    assert structured.check({"outcome": "exception", "error": "IndexError: x", "cpu": 0.0,
                             "peak": 0, "pixels": 96}, b"") == "IndexError: x"
    assert "hang" in structured.check({"outcome": "pixels", "error": None, "cpu": 1.5,
                                       "peak": 0, "pixels": 512 * 512}, b"")
    assert "memory" in structured.check({"outcome": "pixels", "error": None, "cpu": 0.1,
                                         "peak": 1 << 30, "pixels": 96}, b"")


def test_kernels_are_bounds_checked_when_numba_is_asked_to():
    """Under NUMBA_BOUNDSCHECK=1 the kernels really are compiled with bounds checks (numba's
    cache does not tell checked from unchecked compilations, so that run needs a cache folder of
    its own); otherwise the Python side refuses the same out-of-range predictor first."""
    k = np.zeros(2, np.int64)
    row = np.array([5, -1, -1], np.int64)
    if numba.config.BOUNDSCHECK:
        with pytest.raises(IndexError):
            values.predict(k, row, 0)
    else:
        with pytest.raises(ValueError, match="earlier values"):
            values.decode(b"\x00", row[None, :], 16, 0)
