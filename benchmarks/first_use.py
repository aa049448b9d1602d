"""First use after a fresh install: how long the README's commands take the first time (the
numba kernels compile) and in the next process (they load from the cache).

Makes a virtual environment in a temporary folder, runs ``pip install .`` of this repository
there, with an empty kernel cache (``XDG_CACHE_HOME`` in the same folder), then the README's
``ipc encode ... --bpp 0.2`` and ``ipc decode`` of examples/kodim23.png twice each. As a peer
measured in the same run, a fresh Python process encodes and decodes the same image with
Pillow's JPEG 2000 at the same size. Prints wall and CPU seconds (CPU time is less sensitive
to a shared machine) and the ratio of each to the peer.

Then where the first run's time goes: numba's compile events (``numba:compile``) of each
kernel, its own CPU seconds (the kernels it calls, compiled inside its compile, counted apart),
summed per module, and the ``--kernels`` dearest kernels; a kernel compiled twice or more had
as many signatures (numba's own implementations of numpy functions count as ``numba``).

    python benchmarks/first_use.py [--keep] [--kernels 15]
"""

from __future__ import annotations

import argparse
import json
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

# The command line with a listener of numba's compile events: each kernel's own CPU seconds
# (those of the compiles nested in it subtracted) and count, written as JSON to argv[1].
COMPILES = """
import json, sys, time
from numba.core import event

spent, count, stack = {}, {}, []


class Listener(event.Listener):
    def on_start(self, ev):
        stack.append([time.process_time(), 0.0])

    def on_end(self, ev):
        start, nested = stack.pop()
        total = time.process_time() - start
        if stack:
            stack[-1][1] += total
        f = ev.data["dispatcher"].py_func
        module = f.__module__ if f.__module__.startswith("PIL_ipc") else "numba"
        name = f"{module}.{f.__qualname__}"
        spent[name] = spent.get(name, 0.0) + total - nested
        count[name] = count.get(name, 0) + 1


event.register("numba:compile", Listener())
from PIL_ipc.tools.cli import main
status = main(sys.argv[2:])
json.dump({"spent": spent, "count": count}, open(sys.argv[1], "w"))
sys.exit(status)
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


def compile_table(runs: list[tuple[str, dict]], top: int) -> None:
    """Compile CPU seconds per module and of the dearest kernels, per first-run command."""
    modules: dict[str, list[float]] = {}
    kernels: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for i, (_, data) in enumerate(runs):
        for name, seconds in data["spent"].items():
            module = name.rsplit(".", 1)[0] if name.startswith("PIL_ipc") else "numba"
            modules.setdefault(module, [0.0] * len(runs))[i] += seconds
            kernels.setdefault(name, [0.0] * len(runs))[i] += seconds
            counts[name] = max(counts.get(name, 0), data["count"][name])
    head = " | ".join(label for label, _ in runs)
    print("\ncompiling, CPU seconds per module (own time of each kernel's compile)\n")
    print(f"| module | {head} |\n|---|{'---|' * len(runs)}")
    for module, seconds in sorted(modules.items(), key=lambda kv: -sum(kv[1])):
        print(f"| {module} | " + " | ".join(f"{s:.1f}" for s in seconds) + " |")
    totals = [sum(d["spent"].values()) for _, d in runs]
    print("| **all** | " + " | ".join(f"**{s:.1f}**" for s in totals) + " |")
    print(f"\nthe {top} dearest kernels (compiles: signatures in one process)\n")
    print(f"| kernel | compiles | {head} |\n|---|---|{'---|' * len(runs)}")
    for name, seconds in sorted(kernels.items(), key=lambda kv: -sum(kv[1]))[:top]:
        print(f"| {name.removeprefix('PIL_ipc.')} | {counts[name]} | "
              + " | ".join(f"{s:.2f}" for s in seconds) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--kernels", type=int, default=15, help="dearest kernels listed")
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
        compiles = []
        for run in ("first", "next process"):
            for name, command in (("encode", encode), ("decode", decode)):
                if run == "first":  # the same command, with the compile events recorded
                    out = root / f"compiles-{name}.json"
                    command = [str(bin_ / "python"), "-c", COMPILES, str(out), *command[1:]]
                wall, cpu, err = timed(command, env, work)
                rows.append((f"{run}: ipc {name}", wall, cpu, err))
                if run == "first":
                    compiles.append((f"first {name}", json.loads(out.read_text())))
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
        compile_table(compiles, args.kernels)
        notes = [err for *_, err in rows if err]
        if notes:
            print("\nwhat the commands printed on stderr:\n" + "\n".join(notes))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
