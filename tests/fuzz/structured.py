"""Structure-aware fuzzing of the whole decoder through Pillow.

    python tests/fuzz/structured.py [--cases N] [--seconds S] [--seed K] [--out DIR]

Each case takes a golden-corpus file (tests/corpus/*.ipc), applies one to three mutations that
know the file's structure, and runs ``Image.open(BytesIO(data)).load()``:

- chunk framing: a chunk's length field set to an edge value, chunks dropped, duplicated,
  swapped, unknown critical or ancillary chunks inserted, the file cut anywhere;
- chunk data with the CRC recomputed, so that the change reaches the decoders behind it:
  byte flips and overwrites, cuts and additions inside a chunk;
- IHDR fields (version, mode, width, height, levels, spacing, flags, lattice) set to edge
  values, with the planes' BIH sizes following the header or not;
- the BIEs of EDGE and SEED: BIH fields (DL, D, P, XD, YD, L0, MX, MY, order, options) and
  marker segments (ATMOVE, NEWLEN, COMMENT, SDNORM, SDRST, ABORT, reserved codes, a lone 0xFF)
  inserted or overwritten inside the stripe data;
- VALS: count, coding and the payload (flips, cuts, 0xFF runs, random tails);
- CVAL (colour): levels, stride, coding, count and payload; ALPH (alpha): the coding, the
  bi-level plane's size, the graded plane's residuals (inflated, changed, deflated again).

A quarter of the cases run with ``ImageFile.LOAD_TRUNCATED_IMAGES`` set.  The only outcomes
allowed are pixels or Pillow's exceptions for bad files (``UnidentifiedImageError`` from open,
``OSError`` from load, ``DecompressionBombError``).  Per case it measures the thread's CPU time
and the peak of traced memory (``tracemalloc`` sees numpy's and numba's allocations; Pillow's
own image buffer of width x height bytes is not traced): a case whose declared size is at most
512 x 512 must take under 1 s of CPU time, and every case must stay under
``MEMORY_PER_PIXEL`` bytes per declared pixel plus ``MEMORY_FIXED`` plus ``MEMORY_PER_BYTE``
times the file's length.  Anything else is a finding: the input is written to DIR (default
tests/fuzz/findings) and counted.  The case being run is always in DIR/current.ipc, so a
crash of the interpreter leaves its input behind.

The summary (cases, outcomes, time, the largest CPU time and memory ratio seen, findings) is
printed as JSON at the end; tests/fuzz/RESULTS.md records the long runs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import struct
import sys
import time
import tracemalloc
import warnings
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if str(HERE.parent / "conformance") not in sys.path:
    sys.path.insert(0, str(HERE.parent / "conformance"))  # tests/conformance, for ipc_chunks

from ipc_chunks import SIGNATURE, chunk, join, split  # noqa: E402
from PIL import Image, ImageFile, UnidentifiedImageError  # noqa: E402

import PIL_ipc  # noqa: E402,F401  (registers the plugin)

CORPUS = ROOT / "tests" / "corpus"

#: Declared sizes up to this many pixels must decode (or fail) within HANG_SECONDS of CPU.
HANG_PIXELS = 512 * 512
HANG_SECONDS = 1.0
#: Memory bound per case: MEMORY_PER_PIXEL bytes per declared pixel + MEMORY_FIXED
#: + MEMORY_PER_BYTE per byte of the file.
MEMORY_PER_PIXEL = 320
MEMORY_FIXED = 4 << 20
MEMORY_PER_BYTE = 8

#: Pillow's decompression-bomb limit while fuzzing: a declared size above 2 * FUZZ_MAX_PIXELS
#: ends in DecompressionBombError on open.  Decoding costs about 230 bytes per pixel (the
#: solver), so Pillow's default (89 million pixels) would let one case take minutes and 20 GB;
#: the limit keeps the cases fast while every size up to 8 times 512 x 512 is decoded.
FUZZ_MAX_PIXELS = 1 << 20
#: Only IPC is tried: a mutated signature would otherwise hand the bytes to other plugins
#: (a long run found Pillow's GBR plugin raising ValueError on a 40-byte input).
FORMATS = ("IPC",)
Image.MAX_IMAGE_PIXELS = FUZZ_MAX_PIXELS



def declared_pixels(data: bytes) -> int | None:
    """Width x height of the IHDR of a file, if it has one where a reader looks for it."""
    if len(data) < 26 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[18:26])
    return width * height


# --- value pickers -----------------------------------------------------------------------------

EDGE_U32 = (0, 1, 2, 3, 7, 8, 255, 256, 511, 512, 513, 4096, 65535, 65536, 2**31 - 1, 2**31,
            2**32 - 1)


def near(rng: random.Random, value: int, bits: int) -> int:
    """An edge value, a value near ``value``, or a random one, fitting ``bits`` bits."""
    top = (1 << bits) - 1
    kind = rng.random()
    if kind < 0.4:
        return rng.choice([v for v in EDGE_U32 if v <= top] + [top])
    if kind < 0.8:
        return max(0, min(top, value + rng.choice((-2, -1, 1, 2, rng.randint(-64, 64)))))
    return rng.randint(0, top)


def flip(rng: random.Random, body: bytes, start: int = 0) -> bytes:
    if len(body) <= start:
        return body + bytes([rng.randrange(256)])
    b = bytearray(body)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(start, len(b))
        if rng.random() < 0.5:
            b[i] ^= 1 << rng.randrange(8)
        else:
            b[i] = rng.choice((0x00, 0xFF, 0x01, 0x80, 0x7F, rng.randrange(256)))
    return bytes(b)


def resize(rng: random.Random, body: bytes, start: int = 0) -> bytes:
    """Cut or extend a body (keeping its first ``start`` bytes)."""
    if rng.random() < 0.5 and len(body) > start:
        i = rng.randint(start, len(body))
        j = rng.randint(i, len(body))
        return body[:i] + body[j:]
    i = rng.randint(min(start, len(body)), len(body))
    extra = rng.choice((b"\x00" * rng.randint(1, 8), b"\xff" * rng.randint(1, 8),
                        bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))))
    return body[:i] + extra + body[i:]


# --- mutators ----------------------------------------------------------------------------------


def _pick(rng, chunks, types):
    idx = [i for i, (t, _) in enumerate(chunks) if t in types]
    return rng.choice(idx) if idx else None


def mutate_framing(rng: random.Random, chunks: list[list]) -> bytes | None:
    """Framing damage; returns finished bytes (length/CRC not recomputed) or None."""
    kind = rng.randrange(4)
    if kind == 0:  # a length field set to an edge value, CRC of the original
        i = rng.randrange(len(chunks))
        parts = [chunk(t, b) for t, b in chunks]
        t, b = chunks[i]
        parts[i] = chunk(t, b, length=near(rng, len(b), 32))
        return SIGNATURE + b"".join(parts)
    if kind == 1:  # the file cut anywhere
        data = join(chunks)
        return data[: rng.randrange(len(data))]
    if kind == 2:  # a stored CRC damaged
        i = rng.randrange(len(chunks))
        parts = [chunk(t, b) for t, b in chunks]
        t, b = chunks[i]
        parts[i] = chunk(t, b, crc=zlib.crc32(t + b) ^ (1 << rng.randrange(32)))
        return SIGNATURE + b"".join(parts)
    data = bytearray(join(chunks))  # signature damage
    i = rng.randrange(8)
    data[i] = rng.choice((0x0D, 0x0A, 0x00, data[i] & 0x7F, rng.randrange(256)))
    return bytes(data)


def mutate_order(rng: random.Random, chunks: list[list]) -> None:
    kind = rng.randrange(4)
    i = rng.randrange(len(chunks))
    if kind == 0 and len(chunks) > 1:
        del chunks[i]
    elif kind == 1:
        chunks.insert(rng.randrange(len(chunks) + 1), list(chunks[i]))
    elif kind == 2:
        j = rng.randrange(len(chunks))
        chunks[i], chunks[j] = chunks[j], chunks[i]
    else:
        ctype = rng.choice((b"QUUX", b"quux", b"EDGe", b"vALS", b"tEXt", b"iCCP", b"eXIf",
                            b"IHDR", b"SEED", b"IEND", b"CVAL", b"ALPH", b"A\x00BC"))
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 24)))
        if ctype == b"tEXt" and rng.random() < 0.5:
            body = b"key\x00" + body
        chunks.insert(rng.randrange(1, len(chunks) + 1), [ctype, body])


def mutate_body(rng: random.Random, chunks: list[list]) -> None:
    """Any chunk's data flipped, cut or extended; the CRC is recomputed by join()."""
    i = rng.randrange(len(chunks))
    t, b = chunks[i]
    chunks[i][1] = flip(rng, b) if rng.random() < 0.6 else resize(rng, b)


IHDR_FIELDS = {  # name: (offset, bits)
    "version": (0, 8), "mode": (1, 8), "width": (2, 32), "height": (6, 32), "levels": (10, 16),
    "spacing": (12, 8), "flags": (13, 8), "lattice": (14, 16),
}


def _set(body: bytes, offset: int, bits: int, value: int) -> bytes:
    fmt = {8: ">B", 16: ">H", 32: ">I"}[bits]
    size = bits // 8
    if offset + size > len(body):
        return body
    return body[:offset] + struct.pack(fmt, value & ((1 << bits) - 1)) + body[offset + size :]


def _get(body: bytes, offset: int, bits: int) -> int:
    size = bits // 8
    if offset + size > len(body):
        return 0
    return int.from_bytes(body[offset : offset + size], "big")


def mutate_header(rng: random.Random, chunks: list[list]) -> None:
    i = _pick(rng, chunks, (b"IHDR",))
    if i is None:
        return
    body = chunks[i][1]
    names = rng.sample(list(IHDR_FIELDS), rng.randint(1, 2))
    for name in names:
        offset, bits = IHDR_FIELDS[name]
        value = _get(body, offset, bits)
        if name == "version":
            new = rng.choice((0, 1, 2, 3, 4, 5, 255))
        elif name in ("width", "height") and rng.random() < 0.5:
            new = rng.choice((1, 2, value // 2, value * 2, value + 1, max(1, value - 1), 512,
                              513, 1 << 16, 2**31 - 1))
        else:
            new = near(rng, value, bits)
        body = _set(body, offset, bits, new)
    chunks[i][1] = body
    if ("width" in names or "height" in names) and rng.random() < 0.7:
        # the planes follow the header, so that the new size reaches the decoders
        w, h = _get(body, 2, 32), _get(body, 6, 32)
        for j, (t, b) in enumerate(chunks):
            if t in (b"EDGE", b"SEED") and len(b) >= 20:
                chunks[j][1] = b[:4] + struct.pack(">II", w, h) + b[12:]
    if body[:1] in (b"\x01",) and len(body) == 16 and rng.random() < 0.5:
        chunks[i][1] = body[:14]  # a version 1 header is 14 bytes
    elif body[:1] in (b"\x02", b"\x03") and len(body) == 14:
        chunks[i][1] = body + b"\x00" + bytes([rng.randrange(256)])


BIH_FIELDS = {  # name: (offset, bits)
    "DL": (0, 8), "D": (1, 8), "P": (2, 8), "fill": (3, 8), "XD": (4, 32), "YD": (8, 32),
    "L0": (12, 32), "MX": (16, 8), "MY": (17, 8), "order": (18, 8), "options": (19, 8),
}
MARKERS = (
    lambda rng: b"\xff\x06" + struct.pack(">IBB", rng.choice((0, 1, 2, rng.randrange(1 << 32))),
                                          rng.randrange(256), rng.randrange(256)),  # ATMOVE
    lambda rng: b"\xff\x05" + struct.pack(">I", near(rng, 8, 32)),  # NEWLEN
    lambda rng: b"\xff\x07" + struct.pack(">I", near(rng, 4, 32)) + b"note",  # COMMENT
    lambda rng: b"\xff\x02",  # SDNORM
    lambda rng: b"\xff\x03",  # SDRST
    lambda rng: b"\xff\x04",  # ABORT
    lambda rng: bytes((0xFF, rng.choice((0x01, 0x08, 0x7F, 0xFE, 0xFF)))),  # reserved
    lambda rng: b"\xff",  # lone marker byte
    lambda rng: b"\xff\x00",  # stuffed 0xFF
)


def mutate_bie(rng: random.Random, chunks: list[list]) -> None:
    i = _pick(rng, chunks, (b"EDGE", b"SEED"))
    if i is None:
        return
    bie = chunks[i][1]
    if rng.random() < 0.4 and len(bie) >= 20:
        name = rng.choice(list(BIH_FIELDS))
        offset, bits = BIH_FIELDS[name]
        value = _get(bie, offset, bits)
        if name == "options":
            new = value ^ (1 << rng.randrange(8)) if rng.random() < 0.7 else rng.randrange(256)
        elif name == "order":
            new = rng.randrange(16) if rng.random() < 0.8 else rng.randrange(256)
        else:
            new = near(rng, value, bits)
        chunks[i][1] = _set(bie, offset, bits, new)
        return
    marker = rng.choice(MARKERS)(rng)
    at = rng.randint(min(20, len(bie)), len(bie))
    if rng.random() < 0.5:
        chunks[i][1] = bie[:at] + marker + bie[at:]
    else:
        chunks[i][1] = bie[:at] + marker + bie[at + len(marker) :]


CODINGS = (0, 1, 2, 255)
#: the head fields of the value chunks, (offset, bits, coding field?), and where the payload
#: starts
VALUE_CHUNKS = {
    b"VALS": (((0, 32, False), (4, 8, True)), 5),  # count, coding
    b"CVAL": (((0, 16, False), (2, 8, False), (3, 8, True), (4, 32, False)), 8),  # levels,
    # stride, coding, count
}


def _mutate_value_chunk(rng: random.Random, chunks: list[list], ctype: bytes) -> None:
    """One head field of a VALS or CVAL chunk set to an edge value, or its payload changed."""
    i = _pick(rng, chunks, (ctype,))
    if i is None:
        return
    fields, start = VALUE_CHUNKS[ctype]
    body = chunks[i][1]
    kind = rng.randrange(len(fields) + 2)
    if kind < len(fields):
        offset, bits, coding = fields[kind]
        new = rng.choice(CODINGS) if coding else near(rng, _get(body, offset, bits), bits)
        body = _set(body, offset, bits, new)
    elif kind == len(fields):
        body = flip(rng, body, start)
    else:
        body = resize(rng, body, start)
    chunks[i][1] = body


def mutate_vals(rng: random.Random, chunks: list[list]) -> None:
    _mutate_value_chunk(rng, chunks, b"VALS")


def mutate_cval(rng: random.Random, chunks: list[list]) -> None:
    """CVAL (version 4 colour): levels, stride, coding, count or the payload."""
    _mutate_value_chunk(rng, chunks, b"CVAL")


def mutate_alph(rng: random.Random, chunks: list[list]) -> None:
    """ALPH (version 4 alpha): the coding byte, the BIE of a bi-level plane, or the residuals
    of a graded one, inflated, changed and deflated again so that they reach the predictor."""
    i = _pick(rng, chunks, (b"ALPH",))
    if i is None:
        return
    body = chunks[i][1]
    kind = rng.randrange(4)
    if kind == 0:
        chunks[i][1] = _set(body, 0, 8, rng.choice(CODINGS))
        return
    if body[:1] == b"\x01" and kind < 3:
        try:
            raw = zlib.decompress(body[1:])
        except zlib.error:
            raw = b""
        if kind == 1:
            raw = flip(rng, raw)
        else:
            raw = resize(rng, raw)
        chunks[i][1] = body[:1] + zlib.compress(raw)
        return
    if body[:1] == b"\x00" and kind < 3:
        bie = body[1:]
        if len(bie) >= 20:
            chunks[i][1] = body[:1] + _set(bie, rng.choice((4, 8)), 32,
                                           near(rng, _get(bie, 4, 32), 32))
        return
    chunks[i][1] = flip(rng, body, 1) if rng.random() < 0.6 else resize(rng, body, 1)


MUTATORS = (
    (mutate_body, 3), (mutate_header, 3), (mutate_bie, 4), (mutate_vals, 3), (mutate_order, 1),
    (mutate_cval, 2), (mutate_alph, 2),
)


def mutate(rng: random.Random, seed: bytes) -> bytes:
    chunks = split(seed)
    if rng.random() < 0.12:
        return mutate_framing(rng, chunks)
    funcs, weights = zip(*MUTATORS)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        rng.choices(funcs, weights)[0](rng, chunks)
        if not chunks:
            break
    return join(chunks)


# --- running -----------------------------------------------------------------------------------


class Finding(Exception):
    """A case broke a rule (exception, time or memory)."""


def run_case(data: bytes, lenient: bool, measure_memory: bool = True) -> dict:
    """Open and load one file; returns what happened and what it cost."""
    ImageFile.LOAD_TRUNCATED_IMAGES = lenient
    if measure_memory:
        tracemalloc.start()
    cpu = time.thread_time()
    outcome = "pixels"
    error = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as im:
                outcome = "loading"
                im.load()
                outcome = "pixels"
    except UnidentifiedImageError:
        outcome = "unidentified"
    except Image.DecompressionBombError:
        outcome = "bomb"
    except OSError:
        outcome = "oserror"
    except Exception as exc:  # noqa: BLE001  (anything else is what we look for)
        error = f"{type(exc).__name__}: {exc}"
        outcome = "exception"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    cpu = time.thread_time() - cpu
    peak = 0
    if measure_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"outcome": outcome, "error": error, "cpu": cpu, "peak": peak,
            "pixels": declared_pixels(data)}


def memory_bound(pixels: int | None, size: int) -> int:
    return MEMORY_PER_PIXEL * (pixels or 0) + MEMORY_FIXED + MEMORY_PER_BYTE * size


def check(result: dict, data: bytes) -> str | None:
    """The rule a case broke, or None."""
    if result["outcome"] == "exception":
        return result["error"]
    pixels = result["pixels"]
    if pixels is not None and pixels <= HANG_PIXELS and result["cpu"] > HANG_SECONDS:
        return f"hang: {result['cpu']:.2f} s CPU for {pixels} declared pixels"
    if result["peak"] > memory_bound(pixels, len(data)):
        return f"memory: peak {result['peak']} bytes for {pixels} declared pixels"
    return None


def seeds(names: list[str] | None = None) -> list[bytes]:
    paths = sorted(CORPUS.glob("*.ipc"))
    if names is not None:
        paths = [p for p in paths if p.stem in names]
    return [p.read_bytes() for p in paths]


def warm_up(pool: list[bytes]) -> None:
    """Decode every seed once, strictly and leniently, so that the kernels are compiled (or
    loaded from numba's cache) before the cases are timed."""
    for data in pool:
        for lenient in (False, True):
            run_case(data, lenient, measure_memory=False)
            run_case(data[: len(data) * 2 // 3], lenient, measure_memory=False)


def fuzz(cases: int, seed: int = 0, seconds: float | None = None, seed_files=None,
         out: Path | None = None, memory_every: int = 4, log_every: int = 0) -> dict:
    """Run up to ``cases`` cases (or until ``seconds`` pass); return the summary.  Every
    ``memory_every``-th case (0: none) is run under tracemalloc, which makes it 3 times
    slower; time is measured on every case (tracing counted in)."""
    rng = random.Random(seed)
    pool = seed_files if seed_files is not None else seeds()
    # small seeds decode in milliseconds: weight them up so that the run reaches more files,
    # while the 512 x 512 seeds still get a share
    weights = [1.0 / (1 + len(s) / 2000) for s in pool]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    summary = {"cases": 0, "outcomes": {}, "findings": [], "max_cpu_small": 0.0,
               "max_memory_ratio": 0.0, "max_bytes_per_pixel": 0.0, "memory_cases": 0,
               "lenient_cases": 0, "seed": seed}
    warm_up(pool)
    t0 = time.perf_counter()
    for n in range(cases):
        if seconds is not None and time.perf_counter() - t0 > seconds:
            break
        data = mutate(rng, rng.choices(pool, weights)[0])
        lenient = rng.random() < 0.25
        if out is not None:
            (out / "current.ipc").write_bytes(data)
        measure_memory = memory_every > 0 and n % memory_every == 0
        result = run_case(data, lenient, measure_memory)
        summary["cases"] += 1
        summary["lenient_cases"] += lenient
        summary["outcomes"][result["outcome"]] = summary["outcomes"].get(
            result["outcome"], 0) + 1
        pixels = result["pixels"]
        if pixels is not None and pixels <= HANG_PIXELS:
            summary["max_cpu_small"] = max(summary["max_cpu_small"], result["cpu"])
        if measure_memory:
            summary["memory_cases"] += 1
            ratio = result["peak"] / memory_bound(pixels, len(data))
            summary["max_memory_ratio"] = max(summary["max_memory_ratio"], ratio)
            if pixels and pixels >= 4096 and result["outcome"] == "pixels":
                summary["max_bytes_per_pixel"] = max(summary["max_bytes_per_pixel"],
                                                     result["peak"] / pixels)
        problem = check(result, data)
        if problem is not None:
            name = f"finding-{seed}-{n}.ipc"
            summary["findings"].append({"case": n, "lenient": lenient, "problem": problem,
                                        "file": name})
            if out is not None:
                (out / name).write_bytes(data)
        if log_every and summary["cases"] % log_every == 0:
            print(json.dumps({**summary, "findings": len(summary["findings"]),
                              "elapsed": round(time.perf_counter() - t0, 1)}),
                  file=sys.stderr, flush=True)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE / "findings")
    ap.add_argument("--memory-every", type=int, default=4,
                    help="measure the memory of every N-th case (0: never)")
    ap.add_argument("--log-every", type=int, default=10000)
    args = ap.parse_args(argv)
    summary = fuzz(args.cases, args.seed, args.seconds, out=args.out,
                   memory_every=args.memory_every, log_every=args.log_every)
    summary["numba_boundscheck"] = os.environ.get("NUMBA_BOUNDSCHECK", "")
    print(json.dumps(summary, indent=1))
    return 1 if summary["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
