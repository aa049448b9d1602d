"""The encoder: image + options -> .ipc file.

``options`` (the table of every option), ``analysis`` (denoising, edges), ``planner`` (layout
-> planes, points, payloads, sizes), ``search`` (the best layout within a budget),
``quality`` (the smallest file that meets a PSNR), ``tonal`` (fitting the stored values),
``tiles`` (large images), ``tuning`` (the search's constants), ``report`` (the progress
reports of an encode, by stage), ``pipeline`` (all of it in order: :func:`encode`).

``encode`` is loaded on first use: importing this package or its option table must not import
numba, so that the command line and the plugin start fast."""

from __future__ import annotations

from .options import DEFAULT_QUALITY, EncodeOptions, psnr_for_quality

__all__ = ["DEFAULT_QUALITY", "EncodeOptions", "encode", "psnr_for_quality"]


def __getattr__(name: str):
    if name == "encode":
        from .pipeline import encode

        return encode
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
