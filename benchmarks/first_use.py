"""First use after a fresh install: how long the README's commands take the first time (the
numba kernels compile) and in the next process (they load from the cache).

Makes a virtual environment in a temporary folder, runs ``pip install .`` of this repository
there, with an empty kernel cache (``XDG_CACHE_HOME`` in the same folder), then the README's
``ipc encode ... --bpp 0.2`` and ``ipc decode`` of examples/kodim23.png twice each. As a peer
measured in the same run, a fresh Python process encodes and decodes the same image with
Pillow's JPEG 2000 at the same size. Prints wall and CPU seconds (CPU time is less sensitive
to a shared machine) and the ratio of each to the peer.

    python benchmarks/first_use.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "kodim23.png"

PEER = """
import io, sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("L")
buf = io.BytesIO()
im.save(buf, "JPEG2000", irreversible=True, quality_mode="rates",
        quality_layers=[8 * im.width * im.height / (8 * int(sys.argv[2]))])
Image.open(io.BytesIO(buf.getvalue())).load()
"""


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of one command (its children included), and its stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr.strip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ipc-first-use-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "PYTHON"))}
    env["XDG_CACHE_HOME"] = str(root / "cache")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
        bin_ = root / "venv" / "bin"
        env["PATH"] = f"{bin_}{os.pathsep}{env.get('PATH', '')}"
        subprocess.run([str(bin_ / "pip"), "install", "-q", str(REPO)], env=env, check=True,
                       cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        work = root / "work"
        work.mkdir()
        encode = ["ipc", "encode", str(EXAMPLE), "parrots.ipc", "--bpp", "0.2"]
        decode = ["ipc", "decode", "parrots.ipc", "parrots.png"]
        rows = []
        for run in ("first", "next process"):
            for name, command in (("encode", encode), ("decode", decode)):
                wall, cpu, err = timed(command, env, work)
                rows.append((f"{run}: ipc {name}", wall, cpu, err))
        size = (work / "parrots.ipc").stat().st_size
        peer = timed([str(bin_ / "python"), "-c", PEER, str(EXAMPLE), str(size)], env, work)
        print(f"fresh install of {REPO.name} in {root}; {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f} (the machine may be shared)")
        print(f"peer: a fresh Python process encoding and decoding the same image with JPEG 2000 "
              f"at {size} bytes: {peer[0]:.2f} s wall, {peer[1]:.2f} s CPU\n")
        print("| step | wall | CPU | wall / peer | CPU / peer |")
        print("|---|---|---|---|---|")
        for label, wall, cpu, _ in rows:
            print(f"| {label} | {wall:.1f} s | {cpu:.1f} s | {wall / peer[0]:.0f}x | "
                  f"{cpu / peer[1]:.0f}x |")
        notes = [err for *_, err in rows if err]
        if notes:
            print("\nwhat the commands printed on stderr:\n" + "\n".join(notes))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
