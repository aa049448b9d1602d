"""The codec's exceptions: every one is an :class:`IpcError`, a ValueError (as Pillow expects
of bad data and bad options), so ``except ValueError`` keeps catching them all."""

from __future__ import annotations


class IpcError(ValueError):
    """Base class of the errors PIL_ipc raises on purpose."""


class FormatError(IpcError):
    """The bytes are not a valid .ipc file (malformed, hostile or of an unknown version)."""


class TruncatedError(FormatError):
    """The file ends before its IEND chunk."""


class CoderOverflow(IpcError):
    """An arithmetic coder ran out of the output room it was given.  The rooms are computed
    from the coder's documented bound, so this signals a bug, never bad input."""
