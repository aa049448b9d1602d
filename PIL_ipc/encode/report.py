"""How far an encode has come: the ``progress`` callback of :func:`~PIL_ipc.encode.encode`
and of ``Image.save(..., progress=...)``, and its stages.

An encode given ``progress`` calls ``progress(stage, done, total)`` (a stage name, two floats)
as its countable work goes on, stage after stage:

``"analysis"``
    the denoising before edge detection: Perona-Malik steps of the image (and of the image
    reduced, when a large image's budget is searched on it; its steps count by its pixels).
``"search"``
    a byte budget's layout search (``bpp``, ``size``): layouts scored, against a bound known
    when it starts: the starting layouts, the walk's bound on the layouts it scores
    (``tuning.Effort.max_moves``; where it has none, high rates and effort 2, an estimate by
    the fields it walks) and the finalists.  A second family of layouts walked (effort 2)
    adds a walk's bound to the total when the walks start; a walk often ends before its
    bound, and done then jumps.
``"quality"``
    a quality target (``quality``, ``psnr``): the budget searches it probes (each counted by
    its own layouts as it goes), against an *estimate*: as many as bisecting the ladder of
    budgets takes (about 8; the test images needed 4 to 17).  A search needing more slows
    down as it nears the total, never reaching it before it ends.
``"tiles"``
    the tonal fit of an image of ``tiles.TILE_PIXELS`` or more, on tiles: tiles done of the
    tile count (a fraction of a tile as its fit goes on).  When the fitted values of a budget
    miss it and the fit runs again at a higher threshold, the total grows by the tile count.
``"coding"``
    the final file; at a fixed threshold on an image fitted whole (under
    ``tiles.TILE_PIXELS``) also the edges, the tonal fit's steps (of each channel) and the
    values coded.

Each stage starts with a report of done 0 and ends with done equal to total; in between done
never falls nor passes total, and total never falls (it grows only when more work turns up).
Calls come from the encoder's threads, one at a time for one encode: two encodes, in two
threads, each call their own callback only.  An exception the callback raises stops the encode
and comes out of it.  The reports change nothing in the file, and cost a call per layout, per
denoising step or per tonal step (of a tile): none per pixel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

#: ``progress(stage, done, total)``
Progress = Callable[[str, float, float], None]


class Stage:
    """The reports of one stage of one encode to ``progress`` (None: nothing is reported, at
    no cost): done only rises, up to ``total`` (> 0; 1 when given 0), which only grows."""

    def __init__(self, progress: Progress | None, name: str, total: float) -> None:
        self.progress = progress
        self.name = name
        self.total = float(total) if total > 0 else 1.0
        self.done = 0.0
        self._lock = threading.Lock()
        if progress is not None:
            progress(name, 0.0, self.total)

    def _set(self, done: float) -> None:
        # (the lock held) report ``done`` if it is further on, capped at the total
        done = min(done, self.total)
        if done > self.done:
            self.done = float(done)
            self.progress(self.name, self.done, self.total)

    def to(self, done: float) -> None:
        """Done is now ``done`` (a smaller value, or one past the total, moves it no further
        than the total)."""
        if self.progress is not None:
            with self._lock:
                self._set(done)

    def add(self, amount: float = 1.0) -> None:
        """``amount`` more done."""
        if self.progress is not None:
            with self._lock:
                self._set(self.done + amount)

    def grow(self, extra: float) -> None:
        """More work found: the total rises by ``extra``."""
        if self.progress is not None and extra > 0:
            with self._lock:
                self.total += extra
                self.progress(self.name, self.done, self.total)

    def end(self) -> None:
        """The stage is done: done reaches the total."""
        self.to(self.total)

    def part(self, start: float, span: float) -> Progress | None:
        """A ``progress`` callback for a piece of this stage's work that reports stages of its
        own: its fraction done maps onto ``start`` .. ``start + span`` of this stage (None when
        this stage reports nothing)."""
        if self.progress is None:
            return None

        def report(_stage: str, done: float, total: float) -> None:
            self.to(start + span * min(done / total, 1.0))

        return report
