"""Command line: `ipc encode`, `decode`, `info`, `compare`, `batch`.

Exit codes: 0 success, 1 bad input or a failed step (one line on stderr naming the cause),
2 usage error (one line), 130 interrupted, 141 (quietly) when the reader of standard output
went away, as a process that SIGPIPE ends. Messages from the library (logging, logger
"PIL_ipc") go to stderr at INFO, at WARNING with --quiet. Every output file is written
atomically (PIL_ipc.tools.atomic): a failure leaves an existing file as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
from collections.abc import Sequence
from fractions import Fraction
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from .. import __version__
from ..encode.options import BY_NAME, DEFAULT_QUALITY, OPTIONS, EncodeOptions, Option
from ..format import container, reader
from . import atomic, metadata, progress

PROG = "ipc"
STDIO = "-"
#: Exit status when the reader of standard output went away: 128 + SIGPIPE (13), as the shell
#: reports a process that SIGPIPE ended.
EXIT_PIPE_CLOSED = 141
log = logging.getLogger("PIL_ipc")

_FORCE_HELP = "write OUT even when it is IN, replacing the input (default: refuse)"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (the usage itself is in --help)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _default_text(option: Option) -> str:
    """How a flag's help states its default."""
    if option.name == "quality":
        return f"default {DEFAULT_QUALITY:g} when no other target is given"
    if option.target:
        return "default none"
    if option.layout:
        fixed = option.fixed
        shown = f"{fixed:g}" if isinstance(fixed, (int, float)) else str(fixed)
        return f"default {shown}, searched under a target"
    if option.kind is bool:
        return "default " + ("on" if option.default else "off")
    return f"default {option.default:g}" if isinstance(option.default, float) \
        else f"default {option.default}"


def _add_encoder_flags(parser: argparse.ArgumentParser) -> None:
    """The encoder's flags, one per row of the option table (encode.options.OPTIONS)."""
    group = parser.add_argument_group("target (one of)")
    exclusive = group.add_mutually_exclusive_group()
    settings = parser.add_argument_group("settings")
    for option in OPTIONS:
        flags = [option.short, option.flag] if option.short else [option.flag]
        text = f"{option.help} ({_default_text(option)})"
        if option.kind is bool and option.default:
            text = f"do not {option.help} (default: do)"
        if option.kind is bool:
            settings.add_argument(
                *flags, dest=option.name, default=None, help=text,
                action="store_false" if option.default else "store_true")
            continue
        typed = {"choices": option.values} if option.values else {"type": option.kind}
        where = exclusive if option.target else settings
        where.add_argument(*flags, dest=option.name, metavar=option.metavar, help=text, **typed)


def _encoder_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    """The encoder keywords given on the command line, checked (a bad one is a usage error)."""
    given = vars(args)
    options = {o.name: given[o.name] for o in OPTIONS if given.get(o.name) is not None}
    try:
        EncodeOptions.from_mapping(options)
    except ValueError as e:
        parser.error(str(e))
    return options


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The command line's parser and its commands' parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="print warnings and errors only")
    parser = _Parser(prog=PROG, parents=[common],
                     description="IPC image codec: edges plus a few pixels, the rest inpainted.",
                     epilog="Run `ipc COMMAND --help` for a command's options and defaults.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    subs = {}

    enc = subs["encode"] = sub.add_parser(
        "encode", parents=[common], help="encode any image Pillow reads to .ipc",
        description="Encode an image to .ipc, keeping its mode when IPC stores it, its EXIF, "
                    "XMP and ICC profile. IN or OUT may be - for standard input or output.")
    enc.add_argument("input", metavar="IN")
    enc.add_argument("output", metavar="OUT.ipc")
    enc.add_argument("-v", "--verbose", action="store_true",
                     help="print bytes, bpp, ratio, PSNR and SSIM against the input, and time")
    enc.add_argument("-f", "--force", action="store_true", help=_FORCE_HELP)
    _add_encoder_flags(enc)

    dec = subs["decode"] = sub.add_parser(
        "decode", parents=[common], help="decode .ipc to any format Pillow writes",
        description="Decode an .ipc file to the format OUT's extension names. IN or OUT may be "
                    "- for standard input or output (PNG unless --format says otherwise). "
                    "The file's EXIF (with its orientation), ICC profile and XMP go into every "
                    "output format that holds them: PNG, JPEG, WebP, TIFF, AVIF, MPO and IPC "
                    "hold all three (JPEG: EXIF and XMP of one segment, 64 KiB, each); Pillow "
                    "writes none in the others (GIF, BMP, JPEG 2000, PPM, TGA, QOI, ...). A "
                    "message names what is not kept.")
    dec.add_argument("input", metavar="IN.ipc")
    dec.add_argument("output", metavar="OUT")
    dec.add_argument("--scale", choices=["1", "1/2", "1/4", "1/8"], default="1",
                     help="decode at a reduced size (default 1)")
    dec.add_argument("--format", metavar="FMT",
                     help="output format, e.g. PNG (default: from OUT's extension)")
    dec.add_argument("--auto-orient", action="store_true",
                     help="turn the pixels as the EXIF orientation says and drop the tag "
                          "(default: keep the tag, for the viewer to apply)")
    dec.add_argument("--strip", action="store_true",
                     help="write no EXIF, ICC profile or XMP (default: keep them)")
    dec.add_argument("-f", "--force", action="store_true", help=_FORCE_HELP)

    cmp = subs["compare"] = sub.add_parser(
        "compare", parents=[common], help="IPC against JPEG, JPEG 2000, WebP, AVIF on one sheet",
        description="Encode IN with IPC and with JPEG, JPEG 2000, WebP and AVIF (through "
                    "Pillow), each the best file at or under the same size, and draw one PNG: "
                    "every decoded picture labelled with bytes, PSNR and SSIM, the same "
                    "zoomed crop of each, and a PSNR-against-bpp plot (needs matplotlib: "
                    'pip install "PIL_ipc[compare]"). Prints the table on stdout.')
    cmp.add_argument("input", metavar="IN")
    cmp.add_argument("--bpp", type=float, metavar="B", required=True,
                     help="the budget, in bits per pixel of the whole file (required)")
    cmp.add_argument("-o", "--output", metavar="SHEET.png", required=True,
                     help="where the sheet goes (required; any format Pillow writes)")
    cmp.add_argument("--curve", type=float, nargs="+", metavar="B",
                     help="budgets (bpp) of the plot (default: 1/4, 1/2, 1 and 2 times --bpp)")
    cmp.add_argument("--crop", metavar="X,Y",
                     help="top-left corner of the zoomed crop (default: the most detailed "
                          "window)")
    effort = BY_NAME["effort"]
    cmp.add_argument("--effort", type=int, metavar=effort.metavar,
                     help=f"IPC's search effort, {effort.range_text()} ({_default_text(effort)})")

    bat = subs["batch"] = sub.add_parser(
        "batch", parents=[common], help="convert a folder tree of images to .ipc",
        description="Convert every image Pillow reads under INDIR to OUTDIR/same/path.ipc. "
                    "Files whose output is newer than them are skipped; each output is "
                    "written atomically as it finishes, so Ctrl-C loses nothing done; a file "
                    "that fails is reported and the rest go on. Exit status 1 if any failed.")
    bat.add_argument("input", metavar="INDIR")
    bat.add_argument("output", metavar="OUTDIR")
    bat.add_argument("--jobs", "-j", type=int, metavar="N", default=os.cpu_count() or 1,
                     help="local worker processes (default %(default)s, the CPU count)")
    bat.add_argument("--dask", metavar="ADDRESS",
                     help="run on the Dask distributed scheduler at ADDRESS, e.g. "
                          "tcp://host:8786, instead of locally (default: local); needs "
                          'pip install "PIL_ipc[dask]"')
    _add_encoder_flags(bat)

    info = subs["info"] = sub.add_parser(
        "info", parents=[common], help="show the header, chunks and metadata of an .ipc file")
    info.add_argument("input", metavar="FILE.ipc")
    return parser, subs


# --- helpers ---------------------------------------------------------------------------------

def _read_input(name: str) -> bytes:
    if name == STDIO:
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as e:
        raise OSError(e.errno, f"cannot read {name}: {e.strerror}") from e


def _write_output(name: str, data: bytes) -> None:
    if name == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        atomic.write_bytes(name, data)


def _check_output(args: argparse.Namespace) -> None:
    """Refuse to write over the input (`ipc decode a.ipc a.ipc`) unless --force says so."""
    if args.force or STDIO in (args.input, args.output):
        return
    try:
        same = os.path.samefile(args.input, args.output)
    except OSError:  # no such output (yet), or an input that cannot be read: said later
        return
    if same:
        raise ValueError(f"{args.output} is the input file; give another OUT, or --force to "
                         "replace the input")


def _open_image(name: str, data: bytes) -> Image.Image:
    try:
        im = Image.open(BytesIO(data))
        im.load()
    except UnidentifiedImageError:
        raise ValueError(f"{name}: not an image file Pillow can read") from None
    except (OSError, SyntaxError) as e:
        raise ValueError(f"{name}: {e}") from None
    return im


def _why_not_ipc(name: str, data: bytes) -> str:
    """The reason a file that Pillow refused is not a readable .ipc file."""
    if not data.startswith(container.SIGNATURE):
        return f"{name}: not an IPC file (no IPC signature)"
    try:
        reader.read_head(BytesIO(data))
    except ValueError as e:
        return f"{name}: broken IPC file: {e}"
    return f"{name}: cannot be opened as an IPC file"


def _open_ipc(name: str, data: bytes) -> Image.Image:
    try:
        return Image.open(BytesIO(data), formats=["IPC"])
    except UnidentifiedImageError:
        raise ValueError(_why_not_ipc(name, data)) from None


def writable_formats() -> dict[str, list[str]]:
    """Pillow's writable formats, each with its file extensions."""
    formats: dict[str, list[str]] = {}
    for ext, fmt in sorted(Image.registered_extensions().items()):
        if fmt in Image.SAVE:
            formats.setdefault(fmt, []).append(ext)
    return formats


def _output_format(name: str, given: str | None) -> str:
    Image.init()  # every plugin registered, so that Image.SAVE is complete
    if given:
        fmt = given.upper()
        if fmt not in Image.SAVE:
            raise ValueError(f"Pillow cannot write {given!r}; it writes {_format_list()}")
        return fmt
    if name == STDIO:
        return "PNG"
    ext = os.path.splitext(name)[1].lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        what = f"unknown extension {ext!r}" if ext else "no extension"
        raise ValueError(f"{name}: {what}; give one Pillow writes: {_format_list()}")
    return fmt


def _format_list() -> str:
    return ", ".join(f"{fmt} ({' '.join(exts)})" for fmt, exts in sorted(writable_formats().items()))


def _size_text(im: Image.Image) -> str:
    return f"{im.size[0]} x {im.size[1]} {im.mode}"


# --- commands --------------------------------------------------------------------------------

def _encode(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from . import transcode

    options = _encoder_options(args, parser)
    _check_output(args)
    im = _open_image(args.input, _read_input(args.input))
    with progress.stages(f"{PROG}: encoding {args.input} ({_size_text(im)})") as bar:
        result = transcode.encode(im, options, progress=bar)
    _write_output(args.output, result.data)
    if args.verbose:
        q = transcode.quality(result.stored, result.data)
        w, h = result.stored.size
        raw = w * h * len(result.stored.getbands())
        n = len(result.data)
        ssim = "n/a (image under 7 pixels)" if math.isnan(q.ssim) else f"{q.ssim:.4f}"
        print(f"{PROG}: {args.output}: {n} bytes, {8 * n / (w * h):.4f} bpp, "
              f"1:{raw / n:.1f}, PSNR {q.psnr:.2f} dB, SSIM {ssim}, "
              f"{_size_text(result.stored)}, {result.seconds:.2f} s", file=sys.stderr)


def _decode(args: argparse.Namespace) -> None:
    fmt = _output_format(args.output, args.format)
    _check_output(args)
    data = _read_input(args.input)
    im = _open_ipc(args.input, data)
    factor = int(Fraction(args.scale).denominator)
    if factor > 1:
        target = (-(-im.size[0] // factor), -(-im.size[1] // factor))
        im.draft(None, target)  # a plugin that decodes reduced sizes itself does so here
        left = max(1, round(im.size[0] / target[0]))
    with progress.activity(f"{PROG}: decoding {args.input} ({_size_text(im)})"):
        try:
            im.load()
            if factor > 1 and left > 1:
                im = im.reduce(left)
        except OSError as e:
            raise ValueError(f"{args.input}: {e}") from None
    if args.auto_orient:
        im = ImageOps.exif_transpose(im)
    found = {} if args.strip else metadata.pieces(im.info)
    keywords, dropped = metadata.save_keywords(fmt, found)
    if dropped:
        log.info("%s: not kept: %s", args.output, "; ".join(dropped))
    buffer = BytesIO()
    metadata.without(im).save(buffer, format=fmt, **keywords)
    _write_output(args.output, buffer.getvalue())


def _compare(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from . import compare, sheet

    if not args.bpp > 0 or (args.curve and min(args.curve) <= 0):
        parser.error("budgets must be > 0 bpp")
    crop = None
    if args.crop:
        try:
            x, y = (int(v) for v in args.crop.split(","))
        except ValueError:
            parser.error(f"--crop takes X,Y in pixels, got {args.crop!r}")
        crop = (x, y)
    options = {} if args.effort is None else {"effort": args.effort}
    try:
        EncodeOptions.from_mapping(options)
    except ValueError as e:
        parser.error(str(e))
    fmt = _output_format(args.output, None)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise OSError('ipc compare draws its plot with matplotlib: pip install '
                      '"PIL_ipc[compare]"') from None
    im = _open_image(args.input, _read_input(args.input))
    steps = len(compare.CODECS) * len(compare.curve_budgets(args.bpp, args.curve))
    bar = progress.bar(steps, f"{PROG} compare", unit="search")
    try:
        result = compare.compare(im, args.bpp, curve=args.curve, options=options,
                                 step=lambda _: bar.update(1))
    finally:
        bar.close()
    page = sheet.draw(result, crop)
    buffer = BytesIO()
    page.save(buffer, format=fmt)
    _write_output(args.output, buffer.getvalue())
    w, h = result.image.size
    print(f"{args.input}: {w} x {h} {result.image.mode}, budget {result.budget} bytes "
          f"({args.bpp:g} bpp)")
    for entry in result.entries.values():
        title = compare.TITLES[entry.codec]
        if entry.data is None:
            print(f"{title:<10} {'-':>8} bytes  {entry.note}")
            continue
        ssim = "n/a" if math.isnan(entry.ssim) else f"{entry.ssim:.4f}"
        print(f"{title:<10} {len(entry.data):>8} bytes  {8 * len(entry.data) / (w * h):.4f} bpp"
              f"  PSNR {entry.psnr:6.2f} dB  SSIM {ssim}")
    print(f"sheet: {args.output}")


def _batch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from . import batch

    options = _encoder_options(args, parser)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    indir, outdir = Path(args.input), Path(args.output)
    if not indir.is_dir():
        raise OSError(f"{indir}: not a folder")
    if outdir.exists() and not outdir.is_dir():
        raise OSError(f"{outdir}: not a folder")
    jobs, done, conflicts = batch.find_jobs(indir, outdir)
    summary = batch.Summary(skipped=done)
    for outcome in conflicts:
        log.warning("%s: %s", outcome.name, outcome.error)
        summary.add(outcome)
    where = f"the Dask cluster at {args.dask}" if args.dask else f"{args.jobs} process(es)"
    log.info("%d file(s) to convert, %d done already, on %s", len(jobs), done, where)
    summary = batch.run(jobs, options, workers=args.jobs, dask=args.dask, summary=summary)
    print(summary.table())
    if summary.interrupted:
        return 130
    return 1 if summary.failures else 0


def _exif_text(exif: bytes) -> str:
    tags = Image.Exif()
    try:
        tags.load(exif)
        orientation = tags.get(0x0112)
    except Exception:  # a damaged EXIF block is still reported, by size
        orientation = None
    return f"{len(exif)} bytes" + (f", orientation {orientation}" if orientation else "")


def _info(args: argparse.Namespace) -> None:
    data = _read_input(args.input)
    try:
        parsed = reader.parse(data)
        chunks = reader.chunk_table(data)
    except ValueError as e:
        raise ValueError(_why_not_ipc(args.input, data) if not data.startswith(
            container.SIGNATURE) else f"{args.input}: broken IPC file: {e}") from None
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
    if parsed.sides is not None:
        lines.append(f"sides:    {parsed.sides.count} eligible edge pixels "
                     f"({len(parsed.sides.payload)} bytes)")
    if parsed.icc_profile is not None:
        lines.append(f"icc:      {len(parsed.icc_profile)} bytes")
    if parsed.exif is not None:
        lines.append(f"exif:     {_exif_text(parsed.exif)}")
    xmp = getattr(parsed, "xmp", None)
    if xmp is not None:
        lines.append(f"xmp:      {len(xmp)} bytes")
    lines += [f"text:     {k} = {v}" for k, v in parsed.text.items()]
    lines.append("chunks:   offset  type      length")
    lines += [f"          {c.offset:6d}  {c.type}  {c.length:10d}" for c in chunks]
    print("\n".join(lines))


def _configure_logging(quiet: bool) -> None:
    handler = progress.StderrHandler(PROG)
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False
    progress.enable(not quiet)


def _message(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename is not None else e.strerror
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _stdout_closed() -> int:
    """The reader of stdout went away (`ipc info f | head`): stop quietly with the status of a
    process ended by SIGPIPE, as Unix tools do. Standard output is pointed at /dev/null so that
    the interpreter's own flush at exit does not fail again (the Python documentation's advice
    for SIGPIPE)."""
    with contextlib.suppress(OSError, ValueError):  # (no file descriptor: nothing to do)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_PIPE_CLOSED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, subs = _parser()
    args = parser.parse_args(argv)
    _configure_logging(getattr(args, "quiet", False))
    status = 0
    try:
        if args.command == "encode":
            _encode(args, subs["encode"])
        elif args.command == "decode":
            _decode(args)
        elif args.command == "info":
            _info(args)
        elif args.command == "compare":
            _compare(args, subs["compare"])
        elif args.command == "batch":
            status = _batch(args, subs["batch"])
        sys.stdout.flush()  # a reader that went away shows here, not at exit
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _stdout_closed()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        print(f"{PROG}: error: {_message(e)}", file=sys.stderr)
        return 1
    except Exception as e:  # a defect, still reported in one line
        print(f"{PROG}: error: internal error ({type(e).__name__}: {_message(e)})",
              file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
