"""Progress shown on a terminal's stderr: a bar over known work, an elapsed-time line for a
long single step, and log lines that do not tear either. Nothing is drawn when stderr is not a
terminal or when progress is switched off (``--quiet``).

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
