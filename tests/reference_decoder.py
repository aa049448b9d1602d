"""An independent decoder, built from spec/FORMAT.md and peers, for the golden corpus.

It shares only the container parser and the QM coder primitive (checked against T.82's own
test sequence) with PIL_ipc.  The bi-level planes are decoded by JBIG-KIT's ``jbgtopbm``, the
source points found by a plain-Python transcription of section 6, the values decoded decision by
decision as section 7 lists them, and the PDE of section 8 solved by a sparse direct solver.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from jbigkit import jbgtopbm
from reference_solver import reference_solve

from PIL_ipc import container, qm


def jbigkit_decode(bie: bytes) -> np.ndarray:
    """Decode a BIE with JBIG-KIT's jbgtopbm; returns a bool array (True = 1 = black)."""
    return jbgtopbm(bie)


def band_of(edges: np.ndarray) -> np.ndarray:
    """Section 6.1: non-edge pixels with an edge among their 8 neighbours."""
    h, w = edges.shape
    p = np.pad(edges, 1)
    near = np.zeros((h, w), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            near |= p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
    return near & ~edges


def locate(edges: np.ndarray, spacing: int, seed: np.ndarray | None = None):
    """Sections 6.2-6.5: (band, positions, predictors) in plain Python."""
    h, w = edges.shape
    band = band_of(edges)
    seen = np.zeros((h, w), bool)
    positions, predictors = [], []
    for y0 in range(h):
        for x0 in range(w):
            if not band[y0, x0] or seen[y0, x0]:
                continue
            seen[y0, x0] = True
            queue = deque([(y0, x0, 0, len(positions) - 1)])
            while queue:
                y, x, d, pred = queue.popleft()
                nbrs = [(y + dy, x + dx) for dy, dx in ((-1, 0), (0, -1), (0, 1), (1, 0))
                        if 0 <= y + dy < h and 0 <= x + dx < w and band[y + dy, x + dx]]
                inherit = pred
                if d % spacing == 0 or len(nbrs) <= 1:
                    positions.append(y * w + x)
                    predictors.append(pred)
                    inherit = len(positions) - 1
                for yy, xx in nbrs:
                    if not seen[yy, xx]:
                        seen[yy, xx] = True
                        queue.append((yy, xx, d + 1, inherit))
    if seed is not None:
        stored = set(positions)
        for p in np.flatnonzero(seed):
            if int(p) not in stored:
                positions.append(int(p))
                predictors.append(len(positions) - 2)
    return band, positions, predictors


def decode_values(payload: bytes, predictors: list[int], levels: int) -> list[int]:
    """Section 7, one QM decision at a time, in the order the table lists them."""
    data = np.frombuffer(payload, dtype=np.uint8)
    state = qm.dec_init(data)
    st = np.zeros(104, np.uint8)
    mps = np.zeros(104, np.uint8)

    def bit(cx: int) -> int:
        return int(qm.dec_bit(state, data, st, mps, cx))

    out: list[int] = []
    c = 0
    for j in predictors:
        pred = (levels - 1) // 2 if j < 0 else out[j]
        m = 0
        r = 0
        if bit(c):
            negative = bit(4 + c)
            n = 1
            while n < 8 and bit(8 + 8 * c + n):
                n += 1
            m = 1
            for b in range(n - 2, -1, -1):
                m = 2 * m + bit(40 + 8 * (n - 1) + b)
            r = -m if negative else m
        k = pred + r
        if not 0 <= k < levels:
            raise ValueError(f"value {len(out)} out of range")
        out.append(k)
        c = 0 if m == 0 else 1 if m <= 2 else 2 if m <= 6 else 3
    return out


def reference_decode(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Decode a file; returns (uint8 image, bool mask of stored pixels)."""
    f = container.parse(data)
    h = f.header
    edges = jbigkit_decode(f.edge)
    seed = jbigkit_decode(f.seed) if f.seed else None
    assert edges.shape == (h.height, h.width)
    band, positions, predictors = locate(edges, h.spacing, seed)
    assert len(positions) == f.values_count
    ks = decode_values(f.values_payload, predictors, h.levels)
    known = np.zeros(h.width * h.height, bool)
    values = np.zeros(h.width * h.height)
    known[positions] = True
    values[positions] = np.array(ks, dtype=np.float64) * 255.0 / (h.levels - 1)
    u = reference_solve(known.reshape(edges.shape), values.reshape(edges.shape), band)
    return np.clip(np.floor(u + 0.5), 0, 255).astype(np.uint8), known.reshape(edges.shape)
