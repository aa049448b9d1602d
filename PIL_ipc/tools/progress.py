"""Progress shown on a terminal's stderr: a bar over known work, with its percentage and the
time left (over files, by their bytes; over the stages of one encode, as the encoder reports
them), an elapsed-time line for a long single step, and log lines that do not tear either.
Nothing is drawn when stderr is not a terminal or when progress is switched off (``--quiet``).

tqdm draws the bars: one small pure-Python dependency that writes to any stream.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterator

from tqdm import tqdm

#: A step shows its elapsed time only once it has taken this long (seconds).
DELAY = 1.0
_state = {"enabled": True}


def enable(on: bool) -> None:
    """Switch progress display on (the default, terminals only) or off."""
    _state["enabled"] = on


def _disable() -> bool | None:
    # tqdm's None: draw only on a terminal.
    return True if not _state["enabled"] else None


def _drawn() -> bool:
    """Whether a bar would be drawn on stderr now (progress on, stderr a terminal)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return _disable() is None and isatty is not None and isatty()


def bar(total: int, description: str, unit: str = "file") -> tqdm:
    """A progress bar over `total` items on stderr."""
    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, disable=_disable(),
                dynamic_ncols=True)


class FilesBar:
    """A bar over a number of files of known sizes: the percentage and the time left follow
    the bytes done, which measure the work better than the count of files of unequal sizes;
    the files done are shown beside them."""

    def __init__(self, files: int, total_bytes: int, description: str) -> None:
        self.files = files
        self.done = 0
        self.by_bytes = total_bytes > 0  # (else, empty files, by their count)
        self.bar = tqdm(total=total_bytes if self.by_bytes else files, desc=description,
                        unit="B" if self.by_bytes else "file", unit_scale=self.by_bytes,
                        unit_divisor=1024, file=sys.stderr, disable=_disable(),
                        dynamic_ncols=True, postfix=self._count())

    def _count(self) -> str:
        return f"{self.done}/{self.files} files"

    def advance(self, nbytes: int) -> None:
        """One more file done, of ``nbytes`` bytes."""
        self.done += 1
        self.bar.set_postfix_str(self._count(), refresh=False)
        self.bar.update(nbytes if self.by_bytes else 1)

    def close(self) -> None:
        self.bar.close()


class StagesBar:
    """A bar over the stages of one encode, as the encoder reports them (it is the encode's
    ``progress`` callback: ``bar(stage, done, total)``, see PIL_ipc.encode.report): the stage's
    name, its percentage and the time left in it (tqdm's estimate from its average rate so far:
    the work of a search is uneven), started afresh at each stage.  Drawn once the encode has
    taken DELAY seconds."""

    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]"

    def __init__(self, description: str) -> None:
        self.description = description
        self.began = time.monotonic()
        self.stage: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, stage: str, done: float, total: float) -> None:
        if self.bar is None:
            if time.monotonic() - self.began < DELAY:
                return
            self.bar = tqdm(total=total, initial=done, desc=f"{self.description}: {stage}",
                            bar_format=self.FORMAT, file=sys.stderr, disable=_disable(),
                            dynamic_ncols=True, leave=False, smoothing=0, miniters=0)
            # (miniters 0: redrawn every mininterval, whatever the stage's scale)
            self.stage = stage
            return
        if stage != self.stage:
            self.stage = stage
            self.bar.set_description_str(f"{self.description}: {stage}", refresh=False)
            self.bar.initial = 0  # (the rate counts from the stage's start: done 0)
            self.bar.reset(total=total)
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def stages(description: str) -> Iterator[StagesBar | None]:
    """A StagesBar for the encode the block runs, closed after it; None when nothing would be
    drawn (the encoder then reports nothing)."""
    if not _drawn():
        yield None
        return
    bar = StagesBar(description)
    try:
        yield bar
    finally:
        bar.close()


@contextlib.contextmanager
def activity(description: str) -> Iterator[None]:
    """Show `description` with the elapsed time while the block runs longer than DELAY."""
    if _disable():
        yield
        return
    done = threading.Event()

    def tick() -> None:
        if done.wait(DELAY):
            return
        line = tqdm(total=None, desc=description, bar_format="{desc}: {elapsed}",
                    initial=0, file=sys.stderr, disable=None, leave=False, delay=0)
        while not done.wait(0.5):
            line.refresh()
        line.close()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


class StderrHandler(logging.Handler):
    """Log lines on stderr as `PROG: message` (`PROG: warning: message` from WARNING up),
    written around any progress bar."""

    def __init__(self, prog: str) -> None:
        super().__init__()
        self.prog = prog

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = "" if record.levelno < logging.WARNING else "warning: "
            tqdm.write(f"{self.prog}: {level}{record.getMessage()}", file=sys.stderr)
        except Exception:
            self.handleError(record)
