"""Tonal optimisation: choose the stored values that make the decoded image closest to the input.

For fixed stored positions the decoder is linear in the stored values: u = S v.  Storing the
pixel values themselves (v = f at the stored pixels) is not the best choice; the least-squares
v minimising ||S v - f||^2 is, and the decoder does not change.  We solve the normal equations
with CGLS, each step costing one solve and one adjoint solve of the inpainting PDE.
"""

from __future__ import annotations

import numpy as np

from .inpaint import Inpainter

#: Solver accuracy inside the iteration; the final image is solved again at full accuracy by
#: whoever decodes, so the optimisation only needs a good descent direction.
INNER_TOL = 2e-2


def optimise(image: np.ndarray, known: np.ndarray, band: np.ndarray, positions: np.ndarray,
             iterations: int = 12) -> np.ndarray:
    """Least-squares stored values (float64, clipped to 0..255) for the given positions."""
    f = np.asarray(image, dtype=np.float64)
    op = Inpainter(known, band)
    flat_f = f.ravel()
    shape = f.shape

    def forward(v: np.ndarray) -> np.ndarray:
        field = np.zeros(flat_f.size)
        field[positions] = v
        return op.solve(field.reshape(shape), tol=INNER_TOL).ravel()

    def adjoint(r: np.ndarray) -> np.ndarray:
        return op.adjoint(r.reshape(shape), tol=INNER_TOL).ravel()[positions]

    x = flat_f[positions].copy()
    r = flat_f - forward(x)
    s = adjoint(r)
    p = s.copy()
    gamma = float(s @ s)
    for _ in range(iterations):
        if gamma <= 1e-12:
            break
        q = forward(p)
        qq = float(q @ q)
        if qq <= 0.0:
            break
        alpha = gamma / qq
        x += alpha * p
        r -= alpha * q
        s = adjoint(r)
        gamma_new = float(s @ s)
        p = s + (gamma_new / gamma) * p
        gamma = gamma_new
    return np.clip(x, 0.0, 255.0)
