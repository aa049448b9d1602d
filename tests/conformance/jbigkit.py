"""Running the JBIG-KIT command-line tools (Debian jbigkit-bin) on bi-level planes.

Used by the interoperability tests and the benchmark.  Planes are 2-D bool arrays with
True = black, which is also PBM's 1.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

TOOLS = ("pbmtojbg", "jbgtopbm", "pbmtojbg85", "jbgtopbm85")
TESTDATA = Path("/usr/share/jbigkit-testdata")


def missing_tools() -> list[str]:
    """Names of the JBIG-KIT tools not found on PATH."""
    return [t for t in TOOLS if shutil.which(t) is None]


def test_t82_image() -> np.ndarray:
    """The 1960 x 1951 test image of T.82 clause 7.2 (jbigkit-testdata), True = black."""
    for name in ("test-t82.pbm", "test-t82.pbm.gz"):
        path = TESTDATA / name
        if path.exists():
            data = path.read_bytes()
            return pbm_decode(gzip.decompress(data) if name.endswith(".gz") else data)
    raise FileNotFoundError(f"test-t82.pbm not found in {TESTDATA} (package jbigkit-testdata)")


test_t82_image.__test__ = False  # not a pytest test despite its name


def pbm_encode(plane: np.ndarray) -> bytes:
    """Raw PBM (P4) bytes of a bool plane."""
    h, w = plane.shape
    return f"P4\n{w} {h}\n".encode() + np.packbits(plane.astype(bool), axis=1).tobytes()


def pbm_decode(data: bytes) -> np.ndarray:
    """Bool plane of raw PBM (P4) bytes."""
    fields: list[bytes] = []
    i = 0
    while len(fields) < 3:
        while data[i : i + 1].isspace():
            i += 1
        if data[i : i + 1] == b"#":
            i = data.index(b"\n", i) + 1
            continue
        j = i
        while not data[j : j + 1].isspace():
            j += 1
        fields.append(data[i:j])
        i = j
    if fields[0] != b"P4":
        raise ValueError(f"not a raw PBM: {fields[0]!r}")
    w, h = int(fields[1]), int(fields[2])
    bits = np.frombuffer(data, np.uint8, offset=i + 1, count=h * ((w + 7) // 8))
    return np.unpackbits(bits.reshape(h, -1), axis=1)[:, :w].astype(bool)


def _run(args: list[str], stdin: bytes) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        dst = Path(tmp) / "out"
        src.write_bytes(stdin)
        proc = subprocess.run([*args, str(src), str(dst)], capture_output=True, timeout=60)
        if proc.returncode != 0 or not dst.exists():
            raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
        return dst.read_bytes()


def pbmtojbg(plane: np.ndarray, *options: str, tool: str = "pbmtojbg") -> bytes:
    """BIE written by ``pbmtojbg`` (or ``pbmtojbg85``) with the given options."""
    return _run([tool, *options], pbm_encode(plane))


def jbgtopbm(bie: bytes, tool: str = "jbgtopbm") -> np.ndarray:
    """Plane decoded by ``jbgtopbm`` (or ``jbgtopbm85``)."""
    return pbm_decode(_run([tool], bie))


def timed(args: list[str], src: bytes, repeat: int = 5) -> tuple[float, bytes]:
    """Best wall time of running a tool as a whole process on ``src``, and its output."""
    best = float("inf")
    out = b""
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "in"
        dst = Path(tmp) / "out"
        inp.write_bytes(src)
        for _ in range(repeat):
            t0 = time.perf_counter()
            subprocess.run([*args, str(inp), str(dst)], check=True, capture_output=True)
            best = min(best, time.perf_counter() - t0)
        out = dst.read_bytes()
    return best, out
