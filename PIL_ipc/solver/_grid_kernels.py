"""Numba kernels that build the inpainting operator on padded grids (see _kernels.py for the
storage and phase.py for the glue): classifying pixels, the fine operator and its links to the
data, coarse levels by 2 x 2 aggregation, and the runs of active cells the solvers loop over.
The Python side validates every shape and offset before calling in: numba does no bounds checks.
"""

import numpy as np

from .._kernel_cache import kernel

# ---------------------------------------------------------------- classification, set-up


@kernel()
def _neighbour(i, j, k, h, w):
    """The k-th 4-neighbour (k = 0..3: N, S, W, E) of (i, j) and whether it is in the image."""
    ni = i - 1 if k == 0 else (i + 1 if k == 1 else i)
    nj = j - 1 if k == 2 else (j + 1 if k == 3 else j)
    return ni, nj, 0 <= ni < h and 0 <= nj < w


@kernel()
def _linked(band_mode, band, i, j, k, h, w):
    """Neighbour k of (i, j), and whether the phase's equations link the two pixels.

    Laplace phase: any two 4-neighbours in the image. Band phase: two band pixels.
    """
    ni, nj, inside = _neighbour(i, j, k, h, w)
    ok = inside and (not band_mode or (band[i, j] and band[ni, nj]))
    return ni, nj, ok


# Pixel classes of classify (one byte per pixel): a known pixel (KNOWN_BAND: a known band
# pixel), a Laplace row, a band row grounded by a known band pixel, one that is not
# (FLOATING), and OUTSIDE the image (the padding).
KNOWN, LAPLACE, BAND, FLOATING, KNOWN_BAND, OUTSIDE = 0, 1, 2, 3, 4, 5

# Row loops index with uint64 (see _kernels.U): numba then skips its negative-index test,
# which otherwise blocks vectorisation.
U = np.uint64
ONE = np.uint64(1)
TWO = np.uint64(2)


@kernel()
def _band_rows(kn, up, row, dn, fu, fd, out):
    """One row of classify's first pass: out = KNOWN, KNOWN_BAND, FLOATING (a band row) or
    LAPLACE from the row's known and band pixels and the band rows above and below (fu, fd:
    1 where those are in the image, else 0)."""
    w = U(row.shape[0])
    for j in range(w):
        # the row's own east and west neighbours are added below
        out[j] = np.uint8(row[j]) * ((np.uint8(up[j]) & fu) | (np.uint8(dn[j]) & fd))
    for j in range(ONE, w):
        pair = np.uint8(row[j]) & np.uint8(row[j - ONE])
        out[j] |= pair
        out[j - ONE] |= pair
    for j in range(w):
        k = np.uint8(kn[j])
        out[j] = (np.uint8(1) - k) * (np.uint8(LAPLACE) + out[j] * np.uint8(2)) \
            + k * np.uint8(KNOWN_BAND) * np.uint8(row[j])


@kernel()
def classify(known, band, queue, kind):
    """kind (H + 2 x W + 2, padded with OUTSIDE) = each pixel's class: KNOWN or KNOWN_BAND;
    BAND, a band row (band, unknown, with a band 4-neighbour) linked through band rows to a
    known band pixel; FLOATING, any other band row (its band component holds no known pixel:
    it takes the value 0 and is in no phase); LAPLACE, every other pixel (isolated band
    pixels included).  Returns the number of BAND pixels; queue (room for (H + 2) x (W + 2))
    holds their padded indices, breadth first.

    A branch-free pass (row by row, vectorised) marks the band rows and the known pixels,
    then a breadth-first search from the band rows next to a known band pixel grounds them
    (on the padded grid: no border tests)."""
    h, w = known.shape
    wp = U(w + 2)
    flat = kind.ravel()
    for p in range(U(flat.shape[0])):
        flat[p] = np.uint8(OUTSIDE)
    for i in range(h):
        fu = np.uint8(i > 0)
        fd = np.uint8(i < h - 1)
        _band_rows(known[i], band[max(i - 1, 0)], band[i], band[min(i + 1, h - 1)], fu, fd,
                   kind[i + 1, 1:w + 1])
    n = 0
    for p in range(wp + ONE, U(h + 1) * wp - ONE):
        if flat[p] == FLOATING and (flat[p - ONE] == KNOWN_BAND or flat[p + ONE] == KNOWN_BAND
                                    or flat[p - wp] == KNOWN_BAND
                                    or flat[p + wp] == KNOWN_BAND):
            flat[p] = np.uint8(BAND)
            queue[n] = p
            n += 1
    head = 0
    while head < n:
        p = U(queue[head])
        head += 1
        for q in (p - ONE, p + ONE, p - wp, p + wp):
            if flat[q] == FLOATING:
                flat[q] = np.uint8(BAND)
                queue[n] = q
                n += 1
    return n


@kernel()
def build_band(kind, queue, diag, idiag, cE, cS, dst, src, clear):
    """build_fine and boundary_links of the band phase from classify's classes (kind,
    padded) and the padded indices of its cells (queue, all of them BAND): a BAND cell is
    linked to its BAND 4-neighbours (couplings) and to its KNOWN_BAND ones (data; a band
    neighbour of a band row is one of the two).  ``clear``: the fine level of the arrays is
    cleared first (they may hold another operator; else they are all zero).  The links to
    data go to dst (padded index of the cell) and src (flat index of the unpadded data
    pixel), cell by cell in the order of queue, each cell's in boundary_links's order
    (N, S, W, E); dst and src need room for 4 per cell.  Returns the number of links."""
    hp, wp = kind.shape
    if clear:
        for p in range(U(hp * wp)):
            diag[p] = idiag[p] = cE[p] = cS[p] = 0.0
    flat = kind.ravel()
    w = U(wp)
    n = 0
    for t in range(queue.shape[0]):
        p = U(queue[t])
        d = 0
        for q in (p - w, p + w, p - ONE, p + ONE):
            k = flat[q]
            d += int(k == BAND)
            if k == KNOWN_BAND:
                d += 1
                i = q // w
                dst[n] = p
                src[n] = (i - ONE) * (w - TWO) + (q - i * w) - ONE
                n += 1
        diag[p] = d
        idiag[p] = 1.0 / d
        cE[p] = 1.0 if flat[p + ONE] == BAND else 0.0
        cS[p] = 1.0 if flat[p + w] == BAND else 0.0
    return n


@kernel()
def _laplace_row(row, south, fs, vert, diag, idiag, cE, cS):
    """One row of build_laplace: diag .. cS are the row's slices of the padded arrays."""
    w = U(row.shape[0])
    for j in range(w):
        a = np.float32(row[j])
        d = np.float32(vert + 2)
        diag[j] = a * d
        idiag[j] = a * np.float32(1.0 / d)
        cS[j] = a * fs * np.float32(south[j])
        cE[j] = np.float32(0.0)
    for j in range(ONE, w):
        cE[j - ONE] = np.float32(row[j - ONE]) * np.float32(row[j])
    # the first and last pixels have a neighbour fewer (both in a row of one pixel)
    for j in (U(0), w - ONE):
        a = np.float32(row[j])
        d = np.float32(vert + int(j > 0) + int(j < w - ONE))
        diag[j] = a * d
        idiag[j] = a * np.float32(1.0 / max(d, np.float32(1.0)))


@kernel()
def build_laplace(active, diag, idiag, cE, cS):
    """build_fine of the Laplace phase (every 4-neighbour in the image linked), vectorised
    row by row; returns nothing (the links to the data are made when needed: see
    link_count).  Every interior cell is written."""
    h, w = active.shape
    wp = w + 2
    for i in range(h):
        vert = int(i > 0) + int(i < h - 1)
        s = (i + 1) * wp + 1
        e = s + w
        _laplace_row(active[i], active[min(i + 1, h - 1)], np.float32(i < h - 1), vert,
                     diag[s:e], idiag[s:e], cE[s:e], cS[s:e])


@kernel()
def _rhs_row(au, ar, ad, uu, ur, ud, fu, fd, b):
    """One row of laplace_rhs (b: the row's slice of the padded vector)."""
    w = U(ar.shape[0])
    for j in range(w):
        s = fu * (1.0 - np.float64(au[j])) * uu[j] + fd * (1.0 - np.float64(ad[j])) * ud[j]
        b[j] = s
    for j in range(ONE, w):
        b[j] += (1.0 - np.float64(ar[j - ONE])) * ur[j - ONE]
        b[j - ONE] += (1.0 - np.float64(ar[j])) * ur[j]
    for j in range(w):
        b[j] *= np.float64(ar[j])


@kernel()
def laplace_rhs(active, u, b):
    """b[padded p] = the sum of u over the 4-neighbours in the image that are not active,
    on active pixels (the Laplace phase's data: known and band pixels), 0 on the other
    interior cells (the padding is not touched).  The same as gather_links along the
    Laplace phase's links.  u must be finite."""
    h, w = active.shape
    wp = w + 2
    for i in range(h):
        iu = max(i - 1, 0)
        idn = min(i + 1, h - 1)
        s = (i + 1) * wp + 1
        _rhs_row(active[iu], active[i], active[idn], u[iu], u[i], u[idn],
                 1.0 if i > 0 else 0.0, 1.0 if i < h - 1 else 0.0, b[s:s + w])


@kernel()
def build_fine(active, band_mode, band, diag, idiag, cE, cS):
    """Fine-level operator of one phase on the padded grid (level offset 0), written on every
    interior cell (the arrays may hold another operator); returns the number of links from
    active pixels to data pixels (see boundary_links)."""
    h, w = active.shape
    wp = w + 2
    n = 0
    # cleared in one contiguous (vectorised) pass: a phase with few active pixels (the band)
    # then writes only those
    for p in range((h + 2) * wp):
        diag[p] = idiag[p] = cE[p] = cS[p] = 0.0
    for i in range(h):
        for j in range(w):
            if not active[i, j]:
                continue
            p = (i + 1) * wp + j + 1
            d = 0.0
            if band_mode:
                for k in range(4):
                    ni, nj, ok = _linked(band_mode, band, i, j, k, h, w)
                    if ok:
                        d += 1.0
                        if not active[ni, nj]:
                            n += 1
                        elif k == 3:
                            cE[p] = 1.0
                        elif k == 1:
                            cS[p] = 1.0
            else:
                # Laplace rows link every neighbour inside the image (the same as above,
                # without the per-neighbour tests: most pixels are active here)
                up, down, left, right = i > 0, i < h - 1, j > 0, j < w - 1
                east = right and active[i, j + 1]
                south = down and active[i + 1, j]
                west = left and active[i, j - 1]
                north = up and active[i - 1, j]
                linked = int(up) + int(down) + int(left) + int(right)
                n += linked - int(east) - int(south) - int(west) - int(north)
                d = float(linked)
                cE[p] = 1.0 if east else 0.0
                cS[p] = 1.0 if south else 0.0
            diag[p] = d
            idiag[p] = 1.0 / d
    return n


@kernel()
def link_count(active, band_mode, band):
    """The number of links boundary_links finds (what build_fine returns)."""
    h, w = active.shape
    n = 0
    for i in range(h):
        for j in range(w):
            if active[i, j]:
                for k in range(4):
                    ni, nj, ok = _linked(band_mode, band, i, j, k, h, w)
                    if ok and not active[ni, nj]:
                        n += 1
    return n


@kernel()
def boundary_links(active, band_mode, band, diag, cE, cS, dst, src):
    """The links from active pixels p to linked pixels q that are not active (their data),
    in the order (p row-major, neighbour k): dst = padded index of p, src = flat index of q.

    diag, cE, cS: the fine-level operator build_fine wrote for the same masks; dst and src
    must have the length it returned (the caller checks). Solves gather their right-hand
    sides along these links instead of testing every neighbour of every pixel again.
    """
    h, w = active.shape
    wp = w + 2
    n = 0
    for i in range(h):
        for j in range(w):
            p = (i + 1) * wp + j + 1
            # a pixel whose links all go to active pixels (most of them) has none to data:
            # its diagonal is the sum of its couplings
            if not active[i, j] or diag[p] == cE[p] + cE[p - 1] + cS[p] + cS[p - wp]:
                continue
            for k in range(4):
                ni, nj, ok = _linked(band_mode, band, i, j, k, h, w)
                if ok and not active[ni, nj]:
                    dst[n] = p
                    src[n] = ni * w + nj
                    n += 1


@kernel()
def gather_links(dst, src, ufix, b):
    """b[dst] += ufix[src] along the links (ufix flat): the data of each active pixel."""
    for t in range(dst.shape[0]):
        b[dst[t]] += ufix[src[t]]


@kernel()
def scatter_links(dst, src, x, out):
    """Transpose of gather_links: out[src] += x[dst] (out flat)."""
    for t in range(dst.shape[0]):
        out[src[t]] += x[dst[t]]


@kernel()
def pad_field(active, src, b):
    """b[padded p] = src[i, j] on active pixels, 0 on the other interior cells (the padding
    is not touched)."""
    h, w = active.shape
    wp = w + 2
    for i in range(h):
        for j in range(w):
            b[(i + 1) * wp + j + 1] = src[i, j] if active[i, j] else 0.0


@kernel()
def _unpad_row(active, x, out):
    """One row of unpad_field (x: the row's slice of the padded vector)."""
    for j in range(U(active.shape[0])):
        out[j] = x[j] if active[j] else out[j]


@kernel()
def unpad_field(active, x, out):
    """out[i, j] = x[padded p] on active pixels; other pixels untouched (row by row, a
    select that vectorises)."""
    h, w = active.shape
    wp = w + 2
    for i in range(h):
        s = (i + 1) * wp + 1
        _unpad_row(active[i], x[s:s + w], out[i])


@kernel()
def coarsen(diag, idiag, cE, cS, of, hf, wf, oc, hc, wc):
    """Galerkin coarse level oc (hc x wc) from fine level of (hf x wf), 2 x 2 aggregates."""
    wpf = wf + 2
    wpc = wc + 2
    for ci in range(hc):
        for cj in range(wc):
            q = oc + (ci + 1) * wpc + cj + 1
            # padded fine index of the aggregate's top-left cell
            p = of + (2 * ci + 1) * wpf + 2 * cj + 1
            # cells past the fine interior are padding: zero diag and couplings
            d = float(diag[p]) + diag[p + 1] + diag[p + wpf] + diag[p + wpf + 1]
            inner = cE[p] + cE[p + wpf] + cS[p] + cS[p + 1]
            d -= 2.0 * inner
            # every interior cell is written: the arrays may hold another operator
            diag[q] = idiag[q] = 0.0
            if d > 0.0:
                diag[q] = d
                idiag[q] = 1.0 / d
            cE[q] = cE[p + 1] + cE[p + wpf + 1]
            cS[q] = cS[p + wpf] + cS[p + wpf + 1]


@kernel()
def restrict_sum(v, of, hf, wf, oc, hc, wc):
    """v[coarse level oc] = P^T v[fine level of]: the sum over each 2 x 2 aggregate (v must be
    0 on the fine level's padding, which covers the missing children of odd sizes)."""
    wpf = wf + 2
    wpc = wc + 2
    for ci in range(hc):
        for cj in range(wc):
            p = of + (2 * ci + 1) * wpf + 2 * cj + 1
            v[oc + (ci + 1) * wpc + cj + 1] = v[p] + v[p + 1] + v[p + wpf] + v[p + wpf + 1]


# ---------------------------------------------------------------- runs of active cells
def max_runs(h, w, gap):
    """Most runs fill_runs can find on a level of h x w: a run has at least one cell and
    runs are more than ``gap`` cells apart, so a row holds at most (w + gap + 1) // (gap + 2)."""
    return h * ((w + gap + 1) // (gap + 2))


@kernel()
def fill_runs(idiag, o, h, w, gap, runs, k):
    """Runs of level (o, h, w) written from row k of runs (which must have max_runs rows
    free); returns the end row.

    A run is (first index, end index, row, first column), in padded coordinates, indices with
    the level offset. It starts and ends on active cells (idiag > 0) and may bridge gaps of up
    to `gap` inactive cells: the kernels leave those at x = 0 (zero coefficients, idiag = 0,
    b = 0), and fewer, longer runs cost less loop overhead on thin, broken masks.
    """
    wp = w + 2
    for i in range(1, h + 1):
        base = o + i * wp
        j = 1
        while j <= w:
            if idiag[base + j] > 0.0:
                j0 = j
                end = j + 1
                j += 1
                while j <= w and j - end <= gap:
                    if idiag[base + j] > 0.0:
                        end = j + 1
                    j += 1
                runs[k, 0] = base + j0
                runs[k, 1] = base + end
                runs[k, 2] = i
                runs[k, 3] = j0
                k += 1
                j = end
            else:
                j += 1
    return k


@kernel()
def round_to_uint8(u, out):
    """out = floor(u + 0.5) clamped to 0..255 (NaN gives 0), u and out flat."""
    for p in range(U(u.shape[0])):
        v = np.floor(u[p] + 0.5)
        # (a NaN fails the test and gives 0)
        v = v if v >= 0.0 else 0.0
        out[p] = np.uint8(min(v, 255.0))


@kernel()
def reduced_means(active, u, x, off, wpk, k, level, out):
    """out (ceil(H / 2^level) x ceil(W / 2^level), zero on entry) = the means over blocks
    of 2^level x 2^level pixels (cut by the border: over their own pixels) of u, where u's
    active pixels take the value of their cell on level k of the vector x (offset off,
    padded width wpk: the cell of pixel (i, j) is (i >> k, j >> k)), k <= level."""
    h, w = active.shape
    for i in range(h):
        base = off + ((i >> k) + 1) * wpk + 1
        oi = i >> level
        for j in range(w):
            v = x[base + (j >> k)] if active[i, j] else u[i, j]
            out[oi, j >> level] += v
    s = 1 << level
    hs, ws = out.shape
    for oi in range(hs):
        rows = min(s, h - oi * s)
        for oj in range(ws):
            out[oi, oj] /= rows * min(s, w - oj * s)


@kernel()
def tile_field(active, small, rmap, cmap, z):
    """z[padded p] = small[rmap[i], cmap[j]] on active pixels (i, j), 0 on the other interior
    cells (the padding is not touched).  rmap and cmap must index small (the caller checks)."""
    h, w = active.shape
    wp = w + 2
    for i in range(h):
        row = small[rmap[i]]
        base = (i + 1) * wp + 1
        for j in range(w):
            z[base + j] = row[cmap[j]] if active[i, j] else 0.0
