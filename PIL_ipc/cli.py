"""Command line: `ipc encode`, `ipc decode`, `ipc info`.

Exit codes: 0 success, 1 bad input (one-line message on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields

from PIL import Image

from . import IpcImagePlugin, __version__, container, ratecontrol

PROG = "ipc"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="IPC image codec: edges plus a few pixels, the rest inpainted."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    enc = sub.add_parser("encode", help="encode any Pillow-readable image to .ipc")
    enc.add_argument("input", metavar="IN")
    enc.add_argument("output", metavar="OUT.ipc")
    enc.add_argument("--threshold", type=float, metavar="T", help="edge threshold")
    enc.add_argument("--spacing", type=int, metavar="D", help="source point spacing along edges")
    enc.add_argument("--levels", type=int, metavar="L", help="quantisation levels of values")
    enc.add_argument("--contrast", type=float, metavar="K", help="Perona-Malik contrast")
    enc.add_argument("--iterations", type=int, metavar="N", help="Perona-Malik steps")
    enc.add_argument(
        "--no-thin", dest="thin", action="store_false", default=None, help="keep thick edges"
    )
    enc.add_argument(
        "--hysteresis", type=float, metavar="H", help="weak-edge threshold, fraction of T"
    )
    enc.add_argument("--min-length", type=int, metavar="N", help="drop shorter edge chains")
    enc.add_argument("--tonal", type=int, metavar="N", help="tonal optimisation iterations")
    enc.add_argument("--lattice", type=int, metavar="G",
                     help="seed lattice step (0 = none; searched under a budget)")
    enc.add_argument("--edge-seeds", type=float, metavar="D",
                     help="seed edge pixels this far from their neighbours' mean (inf = none)")
    enc.add_argument("--chroma-levels", type=int, metavar="L",
                     help="quantisation levels of the chroma values of a colour image")
    enc.add_argument("--chroma-stride", type=int, metavar="S",
                     help="store chroma at every S-th source point")
    enc.add_argument("--edge-source", choices=ratecontrol.EDGE_SOURCES,
                     help="edges of a colour image from its luma or from all its channels")
    enc.add_argument("--exact", action="store_true", default=None,
                     help="keep the colour under fully transparent pixels")
    enc.add_argument("--effort", type=int, metavar="E",
                     help="rate control search effort, 0 (fast) .. "
                          f"{len(ratecontrol.EFFORTS) - 1} (thorough); "
                          f"default {ratecontrol.DEFAULT_EFFORT}")
    target = enc.add_mutually_exclusive_group()
    target.add_argument("--bpp", type=float, metavar="B", help="target bits per pixel")
    target.add_argument("--size", type=int, metavar="BYTES", help="target file size")

    dec = sub.add_parser("decode", help="decode an .ipc file to any Pillow-writable format")
    dec.add_argument("input", metavar="IN.ipc")
    dec.add_argument("output", metavar="OUT")

    info = sub.add_parser("info", help="show the header and chunks of an .ipc file")
    info.add_argument("input", metavar="FILE.ipc")
    return parser


def _encode(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from .encoder import EncodeOptions

    # Option dests are named after EncodeOptions fields; unset ones keep the encoder's default.
    given = vars(args)
    names = [f.name for f in fields(EncodeOptions)]
    options = {k: given[k] for k in names if given.get(k) is not None}
    try:
        EncodeOptions.from_mapping(options)
    except ValueError as e:
        parser.error(str(e))  # exits with status 2
    with Image.open(args.input) as im:
        # L, LA, RGB, RGBA are stored as they are, other modes converted by the plugin's
        # rules; the modes it refuses (more than 8 bits per sample) become grey here
        if im.mode in IpcImagePlugin.REFUSED_MODES:
            print(f"{PROG}: note: converting {im.mode} to L (grey)", file=sys.stderr)
            im = im.convert("L")
        im.save(args.output, format="IPC", **options)


def _decode(args: argparse.Namespace) -> None:
    with Image.open(args.input, formats=["IPC"]) as im:
        im.save(args.output)


def _info(args: argparse.Namespace) -> None:
    with open(args.input, "rb") as f:
        data = f.read()
    parsed = container.parse(data)
    chunks = container.chunk_table(data)
    h = parsed.header
    bpp = 8 * len(data) / (h.width * h.height)
    lines = [
        f"file:     {args.input} ({len(data)} bytes, {bpp:.4f} bpp)",
        f"version:  {h.version}",
        f"mode:     {h.mode}",
        f"size:     {h.width} x {h.height}",
        f"levels:   {h.levels}",
        f"spacing:  {h.spacing}",
        f"lattice:  {h.lattice}",
        f"values:   {parsed.values_count} (coding {parsed.values_coding})",
    ]
    if parsed.icc_profile is not None:
        lines.append(f"icc:      {len(parsed.icc_profile)} bytes")
    if parsed.exif is not None:
        lines.append(f"exif:     {len(parsed.exif)} bytes")
    lines += [f"text:     {k} = {v}" for k, v in parsed.text.items()]
    lines.append("chunks:   offset  type      length")
    lines += [f"          {c.offset:6d}  {c.type}  {c.length:10d}" for c in chunks]
    print("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "encode":
            _encode(args, parser)
        elif args.command == "decode":
            _decode(args)
        else:
            _info(args)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
