"""Source-point location: the band, the walk, sampling and predictors (spec section 6)."""

import numpy as np
import pytest
from reference_decoder import band_of as band_reference
from reference_decoder import locate

from PIL_ipc import sources


def random_edges(shape, density, seed):
    rng = np.random.default_rng(seed)
    e = rng.random(shape) < density
    # Add a few lines so that long chains and loops occur.
    e[shape[0] // 2, 2:-2] = True
    e[2:-2, shape[1] // 3] = True
    return e


def test_vertical_step_by_hand():
    e = np.zeros((8, 10), bool)
    e[:, 5] = True
    sp = sources.locate(e, 3)
    assert sp.band[:, 4].all() and sp.band[:, 6].all() and sp.band.sum() == 16
    # Left chain rows 0..7: distances 0..7 -> rows 0, 3, 6 and the chain end 7; then the right.
    assert sp.positions.tolist() == [4, 34, 64, 74, 6, 36, 66, 76]
    assert sp.predictors.tolist() == [-1, 0, 1, 2, 3, 4, 5, 6]
    assert sp.n_band == 8


@pytest.mark.parametrize("spacing", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_locate_matches_reference(spacing, seed):
    e = random_edges((23, 31), 0.04, seed)
    band, pos, pred = locate(e, spacing)
    sp = sources.locate(e, spacing)
    assert np.array_equal(sp.band, band)
    assert np.array_equal(band_reference(e), band)
    assert sp.positions.tolist() == pos
    assert sp.predictors.tolist() == pred
    assert sp.n_band == len(pos)


def test_seed_points_follow_band_points_without_duplicates():
    e = random_edges((20, 20), 0.03, 5)
    seed = np.zeros_like(e)
    seed[::4, ::4] = True
    band, pos, pred = locate(e, 4, seed)
    sp = sources.locate(e, 4, seed)
    assert sp.positions.tolist() == pos and sp.predictors.tolist() == pred
    assert len(set(sp.positions.tolist())) == sp.count
    assert sp.known_mask()[seed].all()


def test_spacing_one_stores_whole_band():
    e = random_edges((15, 17), 0.05, 7)
    sp = sources.locate(e, 1)
    assert np.array_equal(sp.known_mask(), sp.band)


def test_every_band_component_has_a_stored_pixel():
    from scipy import ndimage

    e = random_edges((40, 40), 0.02, 9)
    sp = sources.locate(e, 7)
    labels, n = ndimage.label(sp.band)  # 4-connectivity, as the walk
    stored = sp.known_mask()
    assert all(stored[labels == k].any() for k in range(1, n + 1))


def test_predictors_point_backwards():
    sp = sources.locate(random_edges((30, 30), 0.05, 11), 4)
    assert (sp.predictors < np.arange(sp.count)).all()


def test_no_edges_no_points():
    sp = sources.locate(np.zeros((5, 6), bool), 4)
    assert sp.count == 0 and not sp.band.any()


def test_bad_arguments():
    with pytest.raises(ValueError):
        sources.locate(np.zeros((3, 3), bool), 0)
    with pytest.raises(ValueError):
        sources.locate(np.zeros((3, 3), bool), 4, np.zeros((3, 4), bool))
