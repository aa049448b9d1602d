"""Tonal optimisation: choose the stored values that make the decoded image closest to the input.

For fixed stored positions the decoder is linear in the stored values: u = S v.  Storing the
pixel values themselves (v = f at the stored pixels) is not the best choice; the least-squares
v minimising ||S v - f||^2 is, and the decoder does not change.  We solve the normal equations
with CGLS, each step costing one solve and one adjoint solve of the inpainting PDE.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..solver._kernels import flat_dot
from ..solver.inpaint import Inpainter, Scratch

#: Solver accuracy inside the iteration; the final image is solved again at full accuracy by
#: whoever decodes, so the optimisation only needs a good descent direction.
INNER_TOL = 2e-2


class Fitter:
    """Least-squares stored values for fixed positions, and images rendered from value sets."""

    def __init__(self, image: np.ndarray, known: np.ndarray, band: np.ndarray,
                 positions: np.ndarray, tol: float = INNER_TOL, steps: int | None = None,
                 scratch: Scratch | None = None, *, op: Inpainter | None = None,
                 expand: np.ndarray | None = None):
        """``tol``: accuracy of every solve; ``steps``: take that many solver steps instead
        (uncertified, see Inpainter.solve); ``scratch``: the operator's memory (see
        inpaint.Scratch); ``op``: the operator of these masks, when another channel built it
        already; ``expand``: for each position, the index of the value it takes (values
        shared by several positions, as chroma is at a stride; None: one value each)."""
        f = np.asarray(image, dtype=np.float64)
        positions = np.asarray(positions, dtype=np.int64)
        if positions.ndim != 1 or (positions.size and (positions.min() < 0
                                                       or positions.max() >= f.size)):
            raise ValueError("positions must be flat indices into the image")
        self.op = op if op is not None else Inpainter(known, band, scratch)
        self.shape = f.shape
        self.expand = None if expand is None else np.asarray(expand, dtype=np.int64)
        if self.expand is not None and (self.expand.shape != positions.shape or (
                self.expand.size and (self.expand.min() < 0 or self.expand[0] != 0
                                      or np.any(np.diff(self.expand) < 0)))):
            raise ValueError("expand must give, per position, a value index (0, then "
                             "non-decreasing)")
        #: number of values fitted
        self.count = positions.size if self.expand is None else \
            (int(self.expand[-1]) + 1 if self.expand.size else 0)
        self.image = f
        self.flat = f.ravel()
        self.positions = positions
        #: solver accuracy (grey levels) of every solve
        self.tol = float(tol)
        #: solver steps per solve instead (None: certify tol)
        self.steps = steps

    def render(self, v: np.ndarray, guess: np.ndarray | None = None) -> np.ndarray:
        """The inpainted image (float64, H x W) when the stored pixels hold ``v``; ``guess``:
        an image near it to start the solver from."""
        # (the Inpainter's unchecked entry points: the fields are built here, finite)
        field = np.zeros(self.image.size)
        field[self.positions] = v if self.expand is None else np.asarray(v)[self.expand]
        return self.op.solve_field(field.reshape(self.shape), self.tol,
                                   guess=None if guess is None else
                                   np.ascontiguousarray(guess, dtype=np.float64),
                                   steps=self.steps, warn=False)

    def _adjoint(self, r: np.ndarray) -> np.ndarray:
        # (no InpaintWarning: the fit needs descent directions, not digits; the decoder
        # certifies its own solve)
        t = self.op.adjoint_field(r.reshape(self.shape).copy(), self.tol, steps=self.steps,
                                  warn=False)
        g = t.ravel()[self.positions]
        return g if self.expand is None else np.bincount(self.expand, g, self.count)

    def start_values(self) -> np.ndarray:
        """The image's values at the positions (the mean over the positions sharing one)."""
        f = self.flat[self.positions]
        if self.expand is None:
            return f.copy()
        return np.bincount(self.expand, f, self.count) / np.bincount(self.expand,
                                                                     minlength=self.count)

    def fit(self, iterations: int, start: np.ndarray | None = None,
            trail: list[np.ndarray] | None = None,
            on_step: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """CGLS from ``start`` (default: the pixel values): the values (clipped to 0..255) and
        the inpainted image of the unclipped values.  ``trail``: a list that receives the
        values (clipped) after each step but the last, earliest first; ``on_step()`` is
        called after each step (for progress; a fit that converges early takes fewer)."""
        flat_f = self.flat
        if start is None:
            x = self.start_values()
        else:
            x = np.array(start, dtype=np.float64)
            if x.shape != (self.count,):
                raise ValueError(f"start has shape {x.shape}, expected {(self.count,)}")
        r = flat_f - self.render(x, guess=self.image).ravel()  # S x is near the image
        p = gamma = None
        for step in range(iterations):
            if trail is not None and step:
                trail.append(np.clip(x, 0.0, 255.0))
            # the adjoint is only computed when a step follows it
            s = self._adjoint(r)
            gamma_new = flat_dot(s, s)
            p = s if p is None else s + (gamma_new / gamma) * p
            gamma = gamma_new
            if gamma <= 1e-12:
                break
            q = self.render(p).ravel()
            qq = flat_dot(q, q)
            if qq <= 0.0:
                break
            alpha = gamma / qq
            x += alpha * p
            r -= alpha * q
            if on_step is not None:
                on_step()
        return np.clip(x, 0.0, 255.0), (flat_f - r).reshape(self.shape)


def optimise(image: np.ndarray, known: np.ndarray, band: np.ndarray, positions: np.ndarray,
             iterations: int = 12, start: np.ndarray | None = None) -> np.ndarray:
    """Least-squares stored values (float64, clipped to 0..255) for the given positions."""
    return Fitter(image, known, band, positions).fit(iterations, start)[0]
