"""Source-point location: the band, the walk, sampling, the seed lattice and the predictor table
(spec sections 5 and 6)."""

import numpy as np
import pytest
from reference_decoder import band_of as band_reference
from reference_decoder import locate

from PIL_ipc.format import sources

NO = [-1, -1]  # the unused columns of a 1-D predictor row


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
    assert sp.predictors.tolist() == [[a, *NO] for a in [-1, 0, 1, 2, 3, 4, 5, 6]]
    assert sp.n_band == 8


def lattice_case():
    """8 x 12 image: an edge column 6 and an isolated edge pixel (1, 1); lattice step 3 (rows
    and columns 1, 4, 7, 10); seed plane pixels (4, 4) (also on the lattice), (3, 5) (stored on
    the band anyway), (5, 2) and the edge pixel (2, 6)."""
    e = np.zeros((8, 12), bool)
    e[:, 6] = True
    e[1, 1] = True
    s = np.zeros_like(e)
    for y, x in ((4, 4), (3, 5), (5, 2), (2, 6)):
        s[y, x] = True
    return e, s


def test_lattice_predictors_by_hand():
    e, s = lattice_case()
    sp = sources.locate(e, 3, s, 3)
    w = 12
    # Band parts in raster order of their first pixel:
    # - the ring around (1, 1), from (0, 0): distance 0 at (0, 0), 3 at (1, 2) and (2, 1)
    #   (breadth first: (0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1), (2, 2); no chain end);
    # - column 5, from (0, 5): rows 0, 3, 6 and the chain end 7;
    # - column 7, from (0, 7): the same rows.  (7, 7) is a lattice pixel stored on the band.
    band = [(0, 0), (1, 2), (2, 1), (0, 5), (3, 5), (6, 5), (7, 5), (0, 7), (3, 7), (6, 7),
            (7, 7)]
    band_pred = [-1, 0, 0, 2, 3, 4, 5, 6, 7, 8, 9]
    # Then the lattice and seed pixels not yet stored, in raster order (value index: pixel).
    seeds = [
        ((1, 1), [10, *NO]),  # 11: first lattice pixel (an edge pixel): the value before it
        ((1, 4), [11, *NO]),  # 12: first row: left neighbour (1, 1)
        ((1, 7), [12, *NO]),  # 13: on the band but not stored there: left neighbour (1, 4)
        ((1, 10), [13, *NO]),  # 14
        ((2, 6), [14, *NO]),  # 15: seed plane, an edge pixel off the lattice: the value before
        ((4, 1), [11, *NO]),  # 16: first column: upper neighbour (1, 1)
        ((4, 4), [16, 12, 11]),  # 17: 2-D from (4, 1), (1, 4), (1, 1); also in the seed plane
        ((4, 7), [17, 13, 12]),  # 18: on the band, not stored there
        ((4, 10), [18, 14, 13]),  # 19
        ((5, 2), [19, *NO]),  # 20: seed plane
        ((7, 1), [16, *NO]),  # 21: first column
        ((7, 4), [21, 17, 16]),  # 22
        # (7, 7) is value 10 (band); (3, 5) of the seed plane is value 4 (band)
        ((7, 10), [10, 19, 18]),  # 23: its left neighbour is the band value 10
    ]
    pixels = band + [p for p, _ in seeds]
    assert sp.positions.tolist() == [y * w + x for y, x in pixels]
    assert sp.predictors.tolist() == [[a, *NO] for a in band_pred] + [r for _, r in seeds]
    assert sp.n_band == 11 and sp.count == 24
    known = sp.known_mask()
    assert known[sources.lattice_plane((8, 12), 3)].all() and known[s].all()
    # the independent transcription of the spec agrees
    _, pos, pred = locate(e, 3, s, 3)
    assert (pos, pred) == (sp.positions.tolist(), sp.predictors.tolist())


def test_lattice_of_step_one_stores_every_pixel():
    h, w = 5, 7
    sp = sources.locate(np.zeros((h, w), bool), 4, None, 1)
    assert sp.positions.tolist() == list(range(h * w)) and sp.n_band == 0
    expected = []
    for y in range(h):
        for x in range(w):
            i = y * w + x
            if y == 0 and x == 0:
                expected.append([-1, *NO])
            elif y == 0:
                expected.append([i - 1, *NO])
            elif x == 0:
                expected.append([i - w, *NO])
            else:
                expected.append([i - 1, i - w, i - w - 1])
    assert sp.predictors.tolist() == expected


def test_lattice_larger_than_the_image():
    e = np.zeros((8, 12), bool)
    e[:, 6] = True
    plain = sources.locate(e, 3)
    # step 20: rows and columns 10, 30, ...: row 10 lies outside 8 rows, so no lattice pixel
    empty = sources.locate(e, 3, None, 20)
    assert empty.positions.tolist() == plain.positions.tolist()
    assert empty.predictors.tolist() == plain.predictors.tolist()
    # step 14: the single pixel (7, 7), already stored on the band (chain end)
    assert sources.locate(e, 3, None, 14).positions.tolist() == plain.positions.tolist()
    # step 12 on 8 x 12: the single pixel (6, 6), an edge pixel: one value after the band
    one = sources.locate(e, 3, None, 12)
    assert one.positions.tolist() == plain.positions.tolist() + [6 * 12 + 6]
    assert one.predictors.tolist()[-1] == [plain.count - 1, *NO]
    # the lattice alone: one value predicted from the mid level
    alone = sources.locate(np.zeros((8, 12), bool), 3, None, 65535)
    assert alone.count == 0
    alone = sources.locate(np.zeros((30, 30), bool), 3, None, 40)
    assert alone.positions.tolist() == [20 * 30 + 20] and alone.predictors.tolist() == [[-1, *NO]]


@pytest.mark.parametrize("shape", [(1, 1), (8, 12), (20, 31), (31, 20)])
@pytest.mark.parametrize("step", [0, 1, 2, 3, 7, 12, 30, 65535])
def test_lattice_plane_and_count(shape, step):
    plane = sources.lattice_plane(shape, step)
    expected = np.zeros(shape, bool)
    if step:
        for y in range(shape[0]):
            for x in range(shape[1]):
                expected[y, x] = y % step == step // 2 and x % step == step // 2
    assert np.array_equal(plane, expected)
    assert sources.lattice_count(shape, step) == expected.sum()


def test_lattice_plane_by_hand():
    ys, xs = np.nonzero(sources.lattice_plane((20, 30), 6))
    assert set(ys) == {3, 9, 15} and set(xs) == {3, 9, 15, 21, 27} and ys.size == 15


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


def test_one_walk_serves_every_spacing_and_lattice():
    """locate with a walk made once (as rate control does) matches the reference for every
    spacing, seed plane and lattice; a walk of another plane size is refused."""
    e = random_edges((29, 37), 0.05, 7)
    s = np.random.default_rng(7).random(e.shape) < 0.02
    walk = sources.walk_band(e)
    for spacing, seeds, lattice in ((1, None, 0), (4, s, 5), (7, None, 3), (2, s, 0)):
        band, pos, pred = locate(e, spacing, seeds, lattice)
        sp = sources.locate(e, spacing, seeds, lattice, walk)
        assert sp.positions.tolist() == pos and sp.predictors.tolist() == pred
    with pytest.raises(ValueError, match="band walk"):
        sources.locate(e[:, :-1], 3, walk=walk)
    with pytest.raises(ValueError, match="band walk"):
        sources.locate(e, 3, walk=sources.BandWalk(walk.band, walk.order, walk.parent[:-1],
                                                    walk.end))
    with pytest.raises(ValueError, match="band walk"):
        sources.locate(e, 3, walk=(walk.band, walk.order, walk.parent, walk.end))


@pytest.mark.parametrize("lattice", [1, 2, 3, 4, 7, 16, 23, 40])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_locate_with_lattice_matches_reference(lattice, seed):
    rng = np.random.default_rng(100 + seed)
    e = random_edges((23, 31), 0.04, seed)
    s = rng.random(e.shape) < 0.03 if seed else None
    spacing = 1 + seed * 2
    band, pos, pred = locate(e, spacing, s, lattice)
    sp = sources.locate(e, spacing, s, lattice)
    assert np.array_equal(sp.band, band)
    assert sp.positions.tolist() == pos
    assert sp.predictors.tolist() == pred
    assert sp.n_band == len(locate(e, spacing)[1])
    assert len(set(pos)) == len(pos)
    assert sp.known_mask()[sources.lattice_plane(e.shape, lattice)].all()
    if lattice <= 7:
        assert (sp.predictors[:, 1] >= 0).any()  # some 2-D rows


def test_seed_points_follow_band_points_without_duplicates():
    e = random_edges((20, 20), 0.03, 5)
    seed = np.zeros_like(e)
    seed[::4, ::4] = True
    band, pos, pred = locate(e, 4, seed)
    sp = sources.locate(e, 4, seed)
    assert sp.positions.tolist() == pos and sp.predictors.tolist() == pred
    assert len(set(sp.positions.tolist())) == sp.count
    assert sp.known_mask()[seed].all()
    # a seed plane holds no lattice: its points are all predicted from the value before
    assert sp.predictors[sp.n_band:].tolist() == [[i - 1, *NO]
                                                  for i in range(sp.n_band, sp.count)]


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


@pytest.mark.parametrize("lattice", [0, 1, 3, 8])
def test_predictors_point_backwards(lattice):
    sp = sources.locate(random_edges((30, 30), 0.05, 11), 4, None, lattice)
    pred = sp.predictors
    assert pred.shape == (sp.count, 3) and pred.dtype == np.int64
    i = np.arange(sp.count)
    one_d = pred[:, 1] < 0
    assert (pred[one_d, 2] == -1).all() and (pred[one_d, 0] >= -1).all()
    assert (pred[one_d, 0] < i[one_d]).all()
    assert ((pred[~one_d] >= 0) & (pred[~one_d] < i[~one_d, None])).all()


def test_no_edges_no_points():
    sp = sources.locate(np.zeros((5, 6), bool), 4)
    assert sp.count == 0 and not sp.band.any() and sp.predictors.shape == (0, 3)


def test_bad_arguments():
    with pytest.raises(ValueError):
        sources.locate(np.zeros((3, 3), bool), 0)
    with pytest.raises(ValueError):
        sources.locate(np.zeros((3, 3), bool), 4, np.zeros((3, 4), bool))
    for lattice in (-1, 65536):
        with pytest.raises(ValueError, match="lattice"):
            sources.locate(np.zeros((3, 3), bool), 4, None, lattice)
