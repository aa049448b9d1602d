"""The encoder: image + options -> .ipc file (analysis, planner, search, quality target, tonal
fit, tiles for large images).

``encode`` and ``EncodeOptions`` are loaded on first use: importing the package (or its option
table) must not import numba, so that the command line and the plugin start fast."""

from __future__ import annotations

__all__ = ["EncodeOptions", "encode"]


def __getattr__(name: str):
    if name in __all__:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
