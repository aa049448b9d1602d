"""Where the source points are: derived from the edge plane (and seed plane) alone.

Encoder and decoder both call :func:`locate`, so the positions and the order of the stored
values are defined once, here (spec/FORMAT.md section 6 says the same in prose):

- The *band* (the paper's region epsilon, lambda = 1) is every non-edge pixel that has an edge
  pixel among its 8 neighbours: the pixels on both sides of each edge.  Band pixels are linked
  to their 4-neighbours in the band; along a thin edge this makes one closed chain around it,
  the paper's path Gamma from source point mu1 round to mu2.
- Each 4-connected part of the band is walked breadth first from its first pixel in raster
  order, visiting neighbours in the order up, left, right, down.  A band pixel is stored when its
  walk distance from the start is a multiple of ``spacing`` or when it has at most one band
  neighbour (a chain end).  The values in between are recovered by 1-D diffusion along the band.
- Each stored band value is predicted from the nearest stored pixel on its walk path back to the
  start (its stored ancestor); the first pixel of a part is predicted from the value emitted just
  before it.  Values are emitted in walk order, part after part.
- Seed pixels not already stored follow, in raster order: those of the seed plane and those of
  the regular seed lattice of step g (every pixel whose row and column are both = g // 2
  modulo g).  A lattice pixel is predicted from its lattice neighbours to the left, above and
  above-left (a 2-D prediction; whichever of them exist, each stored on the band or as a seed
  before it), any other seed from the value emitted just before it.  Predictor -1 means
  "no predictor" (the mid level).

Predictors form an (N, 3) table: (a, -1, -1) is a 1-D prediction from value a, (a, b, c) the
2-D prediction of a lattice value from its left (a), upper (b) and upper-left (c) neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._kernel_cache import kernel


@kernel("boolean[:, ::1]")
def _band(edges: np.ndarray) -> np.ndarray:
    h, w = edges.shape
    band = np.zeros((h, w), dtype=np.bool_)
    for y in range(h):
        for x in range(w):
            if not edges[y, x]:
                continue
            for dy in range(-1, 2):
                yy = y + dy
                if yy < 0 or yy >= h:
                    continue
                for dx in range(-1, 2):
                    xx = x + dx
                    if 0 <= xx < w and not edges[yy, xx]:
                        band[yy, xx] = True
    return band


@kernel("boolean[:, ::1], int64[::1], int64[::1], boolean[::1]")
def _walk(band: np.ndarray, order: np.ndarray, parent: np.ndarray, end: np.ndarray) -> int:
    """Walk each 4-connected part of the band breadth first, parts in raster order of their
    first pixel: order[i] = the i-th pixel visited, parent[i] = the visit it was reached
    from (-1: the first of a part), end[i] = it has at most one band neighbour (a chain
    end).  Returns the number of band pixels (the room of the arrays must hold them)."""
    h, w = band.shape
    n = h * w
    flat_band = band.ravel()
    visited = np.zeros(n, dtype=np.bool_)
    tail = 0
    for start in range(n):
        if not flat_band[start] or visited[start]:
            continue
        visited[start] = True
        order[tail] = start
        parent[tail] = -1
        head = tail
        tail += 1
        while head < tail:  # order[head:tail] is the queue
            p = order[head]
            y = p // w
            x = p - y * w
            degree = 0
            if y > 0 and flat_band[p - w]:
                degree += 1
            if x > 0 and flat_band[p - 1]:
                degree += 1
            if x < w - 1 and flat_band[p + 1]:
                degree += 1
            if y < h - 1 and flat_band[p + w]:
                degree += 1
            end[head] = degree <= 1
            # Neighbour order: up, left, right, down.
            for k in range(4):
                if k == 0:
                    if y == 0:
                        continue
                    q = p - w
                elif k == 1:
                    if x == 0:
                        continue
                    q = p - 1
                elif k == 2:
                    if x == w - 1:
                        continue
                    q = p + 1
                else:
                    if y == h - 1:
                        continue
                    q = p + w
                if flat_band[q] and not visited[q]:
                    visited[q] = True
                    order[tail] = q
                    parent[tail] = head
                    tail += 1
            head += 1
    return tail


@kernel("int64[::1], int64[::1], boolean[::1], int64, int64[::1], int64[:, ::1]")
def _store_band(order: np.ndarray, parent: np.ndarray, end: np.ndarray, spacing: int,
                positions: np.ndarray, predictors: np.ndarray) -> int:
    """The stored band pixels of a walk: fill positions and predictors (rows (a, -1, -1));
    return their count."""
    nb = order.shape[0]
    # walk distance modulo spacing, counted along the walk (a division per pixel would
    # cost a sixth of the walk)
    phase = np.empty(nb, dtype=np.int64)
    # value index each visit's children are predicted from (its stored ancestor)
    inherit = np.empty(nb, dtype=np.int64)
    nvals = 0
    for i in range(nb):
        par = parent[i]
        if par < 0:
            ph = 0
            pred = nvals - 1  # the first of a part: the value emitted just before
        else:
            ph = phase[par] + 1
            if ph == spacing:
                ph = 0
            pred = inherit[par]
        phase[i] = ph
        if ph == 0 or end[i]:
            positions[nvals] = order[i]
            predictors[nvals, 0] = pred
            predictors[nvals, 1] = -1
            predictors[nvals, 2] = -1
            inherit[i] = nvals
            nvals += 1
        else:
            inherit[i] = pred
    return nvals


@kernel("UniTuple(int64, 2), boolean[:, ::1], int64, int64, int64[::1], int64[:, ::1]")
def _store_seeds(shape: tuple[int, int], seed: np.ndarray, lattice: int, n_band: int,
                 positions: np.ndarray, predictors: np.ndarray) -> int:
    """Append the seed plane's and the lattice's pixels not stored on the band (positions
    and predictors after the n_band band values); return the total count."""
    h, w = shape
    n = h * w
    nvals = n_band
    # Value index of every stored pixel (valid where stored), so that seed pixels on the band
    # are not emitted twice and lattice values find their neighbours' indices.
    stored = np.zeros(n, dtype=np.bool_)
    index_of = np.empty(n, dtype=np.int64)
    for i in range(n_band):
        stored[positions[i]] = True
        index_of[positions[i]] = i
    flat_seed = seed.ravel()
    has_seed = flat_seed.any()
    half = lattice // 2
    for y in range(h):
        # (row by row: a modulo per pixel would cost more than the rest of the walk)
        lattice_row = lattice > 0 and y % lattice == half
        if not (has_seed or lattice_row):
            continue
        # without a seed plane only the lattice columns can hold a seed
        x0, dx = (0, 1) if has_seed else (half, lattice)
        for x in range(x0, w, dx):
            p = y * w + x
            on_lattice = lattice_row and x % lattice == half
            if not (flat_seed[p] or on_lattice):
                continue
            if stored[p]:
                continue  # stored on the band, where it keeps its band predictor
            i = nvals
            stored[p] = True
            index_of[p] = i
            positions[i] = p
            nvals += 1
            # Lattice neighbours precede p in raster order: they are stored already.
            predictors[i, 1] = -1
            predictors[i, 2] = -1
            if on_lattice and x >= lattice and y >= lattice:
                predictors[i, 0] = index_of[p - lattice]
                predictors[i, 1] = index_of[p - lattice * w]
                predictors[i, 2] = index_of[p - lattice * w - lattice]
            elif on_lattice and x >= lattice:
                predictors[i, 0] = index_of[p - lattice]
            elif on_lattice and y >= lattice:
                predictors[i, 0] = index_of[p - lattice * w]
            else:
                predictors[i, 0] = i - 1
    return nvals


@dataclass(frozen=True)
class SourcePoints:
    """Stored pixel positions (flat indices, emission order) and their value predictors."""

    shape: tuple[int, int]
    band: np.ndarray  # bool (H, W): lambda = 1 region of the PDE
    positions: np.ndarray  # int64 (count,): flat index y * W + x of each stored value
    predictors: np.ndarray  # int64 (count, 3): predictor table rows (a, -1, -1) or (a, b, c)
    n_band: int  # the first n_band values lie on the band, the rest come from the seed plane

    @property
    def count(self) -> int:
        return int(self.positions.shape[0])

    def known_mask(self) -> np.ndarray:
        """Boolean (H, W) mask of the stored pixels."""
        mask = np.zeros(self.shape[0] * self.shape[1], dtype=bool)
        mask[self.positions] = True
        return mask.reshape(self.shape)


def _checked_edges(edges: np.ndarray) -> np.ndarray:
    e = np.ascontiguousarray(edges, dtype=np.bool_)
    if e.ndim != 2:
        raise ValueError("edge plane must be 2-D")
    return e


def edge_band(edges: np.ndarray) -> np.ndarray:
    """Non-edge pixels with an edge pixel among their 8 neighbours."""
    return _band(_checked_edges(edges))


def lattice_count(shape: tuple[int, int], step: int) -> int:
    """Number of pixels of the seed lattice of ``step`` (0: none) in an image of ``shape``."""
    if step <= 0:
        return 0
    h, w = shape
    half = step // 2
    rows = 0 if half >= h else (h - 1 - half) // step + 1
    cols = 0 if half >= w else (w - 1 - half) // step + 1
    return rows * cols


def lattice_plane(shape: tuple[int, int], step: int) -> np.ndarray:
    """The seed lattice of ``step`` as a boolean plane (all False for step 0)."""
    plane = np.zeros(shape, dtype=bool)
    if step > 0:
        plane[step // 2::step, step // 2::step] = True
    return plane


@dataclass(frozen=True)
class BandWalk:
    """The band of an edge plane and its walk (see _walk): what the source points of every
    spacing, seed plane and lattice derive from (rate control reuses it across them)."""

    band: np.ndarray  # bool (H, W)
    order: np.ndarray  # int64: band pixels (flat indices) in walk order
    parent: np.ndarray  # int64: walk index each was reached from, -1 for the first of a part
    end: np.ndarray  # bool: at most one band neighbour


def walk_band(edges: np.ndarray) -> BandWalk:
    """The band of an edge plane and its breadth-first walk."""
    band = _band(_checked_edges(edges))
    nb = int(np.count_nonzero(band))
    order = np.empty(nb, dtype=np.int64)
    parent = np.empty(nb, dtype=np.int64)
    end = np.empty(nb, dtype=np.bool_)
    _walk(band, order, parent, end)
    return BandWalk(band, order, parent, end)


def locate(edges: np.ndarray, spacing: int, seed: np.ndarray | None = None,
           lattice: int = 0, walk: BandWalk | None = None) -> SourcePoints:
    """Find the stored pixels and their predictors from the edge plane, the seed plane and the
    seed lattice step (0: none).  ``walk``: walk_band(edges), if already made (it must be
    that: its arrays are trusted)."""
    e = _checked_edges(edges)
    if not 1 <= int(spacing) <= 255:
        raise ValueError(f"spacing must be in 1..255, got {spacing}")
    if not 0 <= int(lattice) <= 65535:
        raise ValueError(f"lattice must be in 0..65535, got {lattice}")
    if seed is None:
        s = np.zeros(e.shape, dtype=np.bool_)
    else:
        s = np.ascontiguousarray(seed, dtype=np.bool_)
        if s.shape != e.shape:
            raise ValueError(f"seed plane shape {s.shape} differs from edge plane {e.shape}")
    if walk is None:
        walk = walk_band(e)
    elif not isinstance(walk, BandWalk) or walk.band.shape != e.shape \
            or not walk.order.shape == walk.parent.shape == walk.end.shape:
        # (the kernels index with the walk's arrays unchecked: take only walk_band's output
        # for this plane's shape)
        raise ValueError(f"not a band walk of an edge plane of shape {e.shape}")
    # every pixel is stored at most once
    capacity = min(e.size, walk.order.shape[0] + int(np.count_nonzero(s))
                   + lattice_count(e.shape, int(lattice)))
    positions = np.empty(capacity, dtype=np.int64)
    predictors = np.empty((capacity, 3), dtype=np.int64)  # the kernels write whole rows
    n_band = _store_band(walk.order, walk.parent, walk.end, int(spacing), positions,
                         predictors)
    total = _store_seeds(e.shape, s, int(lattice), n_band, positions, predictors)
    return SourcePoints(e.shape, walk.band, positions[:total].copy(),
                        predictors[:total].copy(), int(n_band))
