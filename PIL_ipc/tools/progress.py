"""Progress shown on a terminal's stderr: a bar over known work, with its percentage and the
time left (over files, by their bytes), an elapsed-time line for a long single step, and log
lines that do not tear either. Nothing is drawn when stderr is not a terminal or when progress
is switched off (``--quiet``).

tqdm draws the bars: one small pure-Python dependency that writes to any stream.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
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
