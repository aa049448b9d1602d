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
- Seed-plane pixels not already stored follow, in raster order, each predicted from the value
  emitted just before it.  Predictor -1 means "no predictor" (the mid level).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _walk(band: np.ndarray, seed: np.ndarray, spacing: int, positions: np.ndarray,
          predictors: np.ndarray) -> tuple[int, int]:
    """Fill positions/predictors (length >= band count + seed count); return (n_band, n_total)."""
    h, w = band.shape
    n = h * w
    flat_band = band.ravel()
    visited = np.zeros(n, dtype=np.bool_)
    dist = np.zeros(n, dtype=np.int64)
    # Value index each pixel is predicted from (stored ancestor), and for dequeued pixels the
    # value index its children inherit.
    pred_from = np.full(n, -1, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    nvals = 0
    for start in range(n):
        if not flat_band[start] or visited[start]:
            continue
        visited[start] = True
        dist[start] = 0
        pred_from[start] = nvals - 1
        head = 0
        tail = 0
        queue[tail] = start
        tail += 1
        while head < tail:
            p = queue[head]
            head += 1
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
            inherit = pred_from[p]
            if dist[p] % spacing == 0 or degree <= 1:
                positions[nvals] = p
                predictors[nvals] = pred_from[p]
                inherit = nvals
                nvals += 1
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
                    dist[q] = dist[p] + 1
                    pred_from[q] = inherit
                    queue[tail] = q
                    tail += 1
    n_band = nvals
    # Mark band-stored pixels so that seed pixels on them are not emitted twice.
    stored = np.zeros(n, dtype=np.bool_)
    for i in range(n_band):
        stored[positions[i]] = True
    flat_seed = seed.ravel()
    for p in range(n):
        if flat_seed[p] and not stored[p]:
            positions[nvals] = p
            predictors[nvals] = nvals - 1
            nvals += 1
    return n_band, nvals


@dataclass(frozen=True)
class SourcePoints:
    """Stored pixel positions (flat indices, emission order) and their value predictors."""

    shape: tuple[int, int]
    band: np.ndarray  # bool (H, W): lambda = 1 region of the PDE
    positions: np.ndarray  # int64 (count,): flat index y * W + x of each stored value
    predictors: np.ndarray  # int64 (count,): index of the predicting value, or -1
    n_band: int  # the first n_band values lie on the band, the rest come from the seed plane

    @property
    def count(self) -> int:
        return int(self.positions.shape[0])

    def known_mask(self) -> np.ndarray:
        """Boolean (H, W) mask of the stored pixels."""
        mask = np.zeros(self.shape[0] * self.shape[1], dtype=bool)
        mask[self.positions] = True
        return mask.reshape(self.shape)


def edge_band(edges: np.ndarray) -> np.ndarray:
    """Non-edge pixels with an edge pixel among their 8 neighbours."""
    e = np.ascontiguousarray(edges, dtype=np.bool_)
    if e.ndim != 2:
        raise ValueError("edge plane must be 2-D")
    return _band(e)


def locate(edges: np.ndarray, spacing: int, seed: np.ndarray | None = None) -> SourcePoints:
    """Find the stored pixels and their prediction order from the edge and seed planes."""
    e = np.ascontiguousarray(edges, dtype=np.bool_)
    if e.ndim != 2:
        raise ValueError("edge plane must be 2-D")
    if not 1 <= int(spacing) <= 255:
        raise ValueError(f"spacing must be in 1..255, got {spacing}")
    if seed is None:
        s = np.zeros(e.shape, dtype=np.bool_)
    else:
        s = np.ascontiguousarray(seed, dtype=np.bool_)
        if s.shape != e.shape:
            raise ValueError(f"seed plane shape {s.shape} differs from edge plane {e.shape}")
    band = _band(e)
    capacity = int(np.count_nonzero(band)) + int(np.count_nonzero(s))
    positions = np.empty(capacity, dtype=np.int64)
    predictors = np.empty(capacity, dtype=np.int64)
    n_band, total = _walk(band, s, int(spacing), positions, predictors)
    return SourcePoints(e.shape, band, positions[:total].copy(), predictors[:total].copy(),
                        int(n_band))
