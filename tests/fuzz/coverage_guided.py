"""Coverage-guided fuzzing of the whole decoder through Pillow (atheris, libFuzzer).

    mkdir -p /tmp/ipc-fuzz && cp tests/corpus/*.ipc /tmp/ipc-fuzz/
    nice -n 19 python tests/fuzz/coverage_guided.py /tmp/ipc-fuzz -runs=1000000 \\
        -timeout=60 -rss_limit_mb=4096 -print_final_stats=1

(libFuzzer's options follow the corpus directory; the golden corpus is the seed set and
libFuzzer adds the inputs that reach new code to the directory.)  PIL_ipc's Python code is
instrumented for coverage; its numba kernels are not, but every path into them is.

Before opening, the harness rewrites every chunk's CRC to match its data (unless the input's
length is a multiple of 5, a choice libFuzzer's mutations reach easily), so that byte-level
mutations get past the CRC check and reach the decoders behind it.  Inputs whose length
leaves 3 modulo 4 are loaded with ``ImageFile.LOAD_TRUNCATED_IMAGES``.

Allowed outcomes: pixels, ``UnidentifiedImageError`` (open), ``OSError`` (load) and
``DecompressionBombError``.  Any other exception is a crash, and so is a case whose declared
size is at most 512 x 512 that takes more than 1 s of CPU time; libFuzzer writes the input to
``crash-*`` and stops.  With ``IPC_FUZZ_FINDINGS=DIR`` in the environment the harness
instead keeps each such input in DIR (``findings.log`` says what happened) and goes on, so
that a long run reports every finding.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import os
import struct
import sys
import time
import warnings
import zlib
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

import PIL_ipc  # noqa: E402,F401  (registers the plugin)
from PIL_ipc import IpcImagePlugin, decode  # noqa: E402
from PIL_ipc.format import alpha, colour, container, jbig, sources, values  # noqa: E402
from PIL_ipc.solver import inpaint  # noqa: E402


def instrument(module) -> None:
    """Instrument the plain Python functions and methods defined in ``module`` (numba's
    dispatchers are left alone: numba cannot compile atheris's coverage callbacks)."""
    for obj in list(vars(module).values()):
        if isinstance(obj, type) and obj.__module__ == module.__name__:
            for attr in vars(obj).values():
                if isinstance(attr, (staticmethod, classmethod)):
                    attr = attr.__func__
                if isinstance(attr, property):
                    attr = attr.fget
                if inspect.isfunction(attr):
                    atheris.instrument_func(attr)
        elif inspect.isfunction(obj) and obj.__module__ == module.__name__:
            atheris.instrument_func(obj)


for _module in (IpcImagePlugin, alpha, colour, container, decode, inpaint, jbig, sources, values):
    instrument(_module)

from PIL import Image, ImageFile, UnidentifiedImageError  # noqa: E402

#: Pillow's decompression-bomb limit while fuzzing: a declared size above 2 * FUZZ_MAX_PIXELS
#: ends in DecompressionBombError on open.  Decoding costs about 230 bytes per pixel (the
#: solver), so Pillow's default (89 million pixels) would let one case take minutes and 20 GB;
#: the limit keeps the cases fast while every size up to 8 times 512 x 512 is decoded.
FUZZ_MAX_PIXELS = 1 << 20
#: Only IPC is tried: a mutated signature would otherwise hand the bytes to other plugins
#: (a long run found Pillow's GBR plugin raising ValueError on a 40-byte input).
FORMATS = ("IPC",)
Image.MAX_IMAGE_PIXELS = FUZZ_MAX_PIXELS

HANG_PIXELS = 512 * 512
HANG_SECONDS = 1.0


def fix_crcs(data: bytes) -> bytes:
    """The same bytes with every complete chunk's CRC made to match its data."""
    out = bytearray(data)
    pos = 8
    while pos + 12 <= len(out):
        length = int.from_bytes(out[pos : pos + 4], "big")
        end = pos + 12 + length
        if end > len(out):
            break
        crc = zlib.crc32(bytes(out[pos + 4 : end - 4]))
        out[end - 4 : end] = struct.pack(">I", crc)
        pos = end
    return bytes(out)


def test_one_input(data: bytes, timed: bool = True) -> None:
    if len(data) % 5:
        data = fix_crcs(data)
    ImageFile.LOAD_TRUNCATED_IMAGES = len(data) % 4 == 3
    pixels = None
    if len(data) >= 26 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[18:26])
        pixels = width * height
    problem = None
    cpu = time.thread_time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as im:
                im.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        pass
    except Exception as exc:  # noqa: BLE001  (what we look for)
        problem = f"{type(exc).__name__}: {exc}"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    cpu = time.thread_time() - cpu
    # Warm-up decodes compile or load the kernels: their time says nothing about the input.
    if (timed and problem is None and pixels is not None and pixels <= HANG_PIXELS
            and cpu > HANG_SECONDS):
        problem = f"hang: {cpu:.2f} s CPU for {pixels} declared pixels"
    if problem is not None:
        report(data, problem)


def report(data: bytes, problem: str) -> None:
    """A finding: stop as libFuzzer does (it keeps the input as crash-*), or with
    IPC_FUZZ_FINDINGS=DIR set, keep the input and the problem in DIR and go on."""
    where = os.environ.get("IPC_FUZZ_FINDINGS")
    if not where:
        raise RuntimeError(problem)
    out = Path(where)
    out.mkdir(parents=True, exist_ok=True)
    name = f"finding-{hashlib.sha1(data).hexdigest()[:16]}.ipc"
    (out / name).write_bytes(data)
    with open(out / "findings.log", "a") as log:
        log.write(f"{name}\t{problem}\n")


def warm_up() -> None:
    """Compile (or load) the kernels before libFuzzer starts timing."""
    for path in sorted((ROOT / "tests" / "corpus").glob("*.ipc")):
        data = path.read_bytes()
        if len(data) < 4000:
            for cut in (data, data[: len(data) * 2 // 3] + b"xxx"):
                test_one_input(cut, timed=False)


if __name__ == "__main__":
    warm_up()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
