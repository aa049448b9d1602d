"""Numba kernels that build the inpainting operator on padded grids (see _kernels.py for the
storage and phase.py for the glue): classifying pixels, the fine operator and its links to the
data, coarse levels by 2 x 2 aggregation, and the runs of active cells the solvers loop over.
The Python side validates every shape and offset before calling in: numba does no bounds checks.
"""


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


@kernel()
def band_rows(known, band, out):
    """out[i, j] = True where a pixel is in the band, unknown and has a 4-neighbour in the band."""
    h, w = known.shape
    for i in range(h):
        for j in range(w):
            r = False
            if band[i, j] and not known[i, j]:
                for k in range(4):
                    _, _, ok = _linked(True, band, i, j, k, h, w)
                    r = r or ok
            out[i, j] = r


@kernel()
def ground_band(bandrow, known, band, queue, out):
    """out = the band rows linked through band pixels to a known band pixel; returns their count.

    Band rows of a band component without any known pixel form a singular system; they are left
    out (and take the value 0, which is what an iteration started at 0 keeps them at).
    """
    h, w = bandrow.shape
    n = 0
    out[:, :] = False
    # seeds: band rows next to a known band pixel
    for i in range(h):
        for j in range(w):
            if bandrow[i, j]:
                for k in range(4):
                    ni, nj, ok = _linked(True, band, i, j, k, h, w)
                    if ok and known[ni, nj] and not out[i, j]:
                        out[i, j] = True
                        queue[n] = i * w + j
                        n += 1
    head = 0
    while head < n:
        p = queue[head]
        head += 1
        i = p // w
        j = p - i * w
        for k in range(4):
            ni, nj, ok = _neighbour(i, j, k, h, w)
            if ok and bandrow[ni, nj] and not out[ni, nj]:
                out[ni, nj] = True
                queue[n] = ni * w + nj
                n += 1
    return n


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
def unpad_field(active, x, out):
    """out[i, j] = x[padded p] on active pixels; other pixels untouched."""
    h, w = active.shape
    wp = w + 2
    for i in range(h):
        for j in range(w):
            if active[i, j]:
                out[i, j] = x[(i + 1) * wp + j + 1]


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
