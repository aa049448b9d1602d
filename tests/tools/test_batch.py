"""`ipc batch` run as a subprocess: a folder tree, skipping, failures, Ctrl-C, Dask."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from PIL_ipc import decode

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = ["--size", "300", "--effort", "0"]


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "PIL_ipc", "batch", *args]


def environment() -> dict:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), cwd=cwd, env=environment(), capture_output=True,
                          text=True, timeout=300)


def image(i: int) -> np.ndarray:
    y, x = np.mgrid[0:40, 0:36]
    a = (20 + 3 * x + (i + 1) * y) % 256
    a[8 + i : 20 + i, 5:25] = 40 * i + 60
    return a.astype(np.uint8)


def make_tree(root: Path, count: int = 4) -> dict[str, np.ndarray]:
    """Images under root/in (one in a sub-folder, one RGB), plus a broken and a text file."""
    (root / "in" / "sub").mkdir(parents=True)
    names = {}
    for i in range(count):
        name = f"sub/im{i}.png" if i == 1 else f"im{i}.png"
        a = image(i)
        if i == 2:  # colour, stored as RGB
            a = np.stack([a, 255 - a, a // 2], -1)
        Image.fromarray(a).save(root / "in" / name)
        names[name] = a
    (root / "in" / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "in" / "notes.txt").write_text("not an image")
    return names


def summary(stdout: str) -> dict[str, str]:
    rows = {}
    for line in stdout.splitlines():
        m = re.match(r"(files converted|files skipped|files failed|bytes in|bytes out|"
                     r"mean PSNR)\s+(\S+)", line)
        if m:
            rows[m[1]] = m[2]
    return rows


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 10 * np.log10(255**2 / mse)


def test_batch_converts_a_tree_reports_and_skips_what_is_done(tmp_path):
    names = make_tree(tmp_path)
    result = run("in", "out", *OPTIONS, "--jobs", "2", cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # one file failed
    assert "Traceback" not in result.stderr
    rows = summary(result.stdout)
    assert rows["files converted"] == "4" and rows["files failed"] == "1"
    assert "failed: sub/broken.png: not an image file Pillow can read" in result.stdout
    outputs = {n: tmp_path / "out" / Path(n).with_suffix(".ipc") for n in names}
    sizes_in = sum((tmp_path / "in" / n).stat().st_size for n in names)
    sizes_out = sum(p.stat().st_size for p in outputs.values())
    assert int(rows["bytes in"]) == sizes_in and int(rows["bytes out"]) == sizes_out
    psnrs = []
    for name, path in outputs.items():
        data = path.read_bytes()
        assert len(data) <= 300
        psnrs.append(psnr(names[name], decode.decode(data)))
    assert float(rows["mean PSNR"]) == pytest.approx(np.mean(psnrs), abs=0.006)
    assert not list((tmp_path / "out").rglob("*.part"))

    # Second run: everything done is skipped, the broken file fails again.
    result = run("in", "out", *OPTIONS, "--jobs", "2", cwd=tmp_path)
    rows = summary(result.stdout)
    assert (rows["files converted"], rows["files skipped"]) == ("0", "4"), result.stdout
    # A source changed after its output is converted again.
    later = time.time() + 5
    os.utime(tmp_path / "in" / "im0.png", (later, later))
    result = run("in", "out", *OPTIONS, "--jobs", "1", cwd=tmp_path)
    rows = summary(result.stdout)
    assert (rows["files converted"], rows["files skipped"]) == ("1", "3"), result.stdout


def test_batch_usage_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    for args, status in ((("missing", "out"), 1), (("file", "out"), 1),
                         ((".", "out", "--jobs", "0"), 2), ((".", "out", "--bpp", "-1"), 2)):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == status, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "error: " in lines[0], result.stderr


def test_interrupting_a_batch_loses_nothing_done(tmp_path):
    count = 120
    (tmp_path / "in").mkdir()
    for i in range(count):
        Image.fromarray(image(i % 7)).save(tmp_path / "in" / f"im{i:02d}.png")
    # The kernels are compiled and cached first, by a batch of one file: a pool whose workers
    # still compile them (a fresh install) could take minutes before its first file.
    (tmp_path / "warm").mkdir()
    Image.fromarray(image(0)).save(tmp_path / "warm" / "im.png")
    assert run("warm", "warm-out", *OPTIONS, "--jobs", "1", cwd=tmp_path).returncode == 0
    out = tmp_path / "out"
    process = subprocess.Popen(command("in", "out", *OPTIONS, "--jobs", "2"), cwd=tmp_path,
                               env=environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               # a shell's background job inherits SIGINT ignored, and Python
                               # then keeps ignoring it: give the batch the default, as at a terminal
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob("*.ipc")) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert "Traceback" not in stderr
    written = sorted(out.glob("*.ipc"))
    assert written and not list(out.glob("*.part")) and not list(out.glob(".*"))
    for path in written:  # every file there is complete
        decode.decode(path.read_bytes())
    # the signal came right after the first file: the batch stopped well before the end
    assert process.returncode == 130, stderr
    assert "interrupted" in stdout
    assert int(summary(stdout)["files converted"]) == len(written) < count
    result = run("in", "out", *OPTIONS, "--jobs", "2", cwd=tmp_path)
    rows = summary(result.stdout)
    assert result.returncode == 0, result.stderr
    assert int(rows["files skipped"]) == len(written)
    assert int(rows["files converted"]) == count - len(written)


def test_batch_on_a_dask_cluster_gives_the_local_files(tmp_path):
    import distributed
    make_tree(tmp_path, count=3)
    local = run("in", "local", *OPTIONS, "--jobs", "1", cwd=tmp_path)
    assert local.returncode == 1, local.stderr
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        result = run("in", "remote", *OPTIONS, "--dask", cluster.scheduler_address,
                     cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Dask cluster at tcp://127.0.0.1" in result.stderr
    assert summary(result.stdout) == summary(local.stdout)
    assert "failed: sub/broken.png: not an image file Pillow can read" in result.stdout
    made = sorted(p.relative_to(tmp_path / "remote") for p in (tmp_path / "remote").rglob("*"))
    assert made == sorted(p.relative_to(tmp_path / "local") for p in
                          (tmp_path / "local").rglob("*"))
    for path in made:
        if path.suffix == ".ipc":
            assert (tmp_path / "remote" / path).read_bytes() == \
                (tmp_path / "local" / path).read_bytes()


def test_dask_scheduler_that_is_not_there(tmp_path):
    make_tree(tmp_path, count=1)
    result = run("in", "out", "--dask", "tcp://127.0.0.1:9", *OPTIONS, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in lines[-1], result.stderr
    assert "Traceback" not in result.stderr


def test_a_terminal_sees_the_progress_bar_and_a_pipe_does_not(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    make_tree(tmp_path, count=2)
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        process = subprocess.run(command("in", "out", *OPTIONS, "--jobs", "1"), cwd=tmp_path,
                                 env=environment(), stdout=subprocess.PIPE, stderr=terminal,
                                 timeout=300)
        os.close(terminal)
        terminal = -1
        seen = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal was closed and drained
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    assert process.returncode == 1  # the broken file
    text = seen.decode(errors="replace")
    assert re.search(r"ipc batch: 100%.*3/3", text), text
    piped = run("in", "again", *OPTIONS, "--jobs", "1", cwd=tmp_path)
    assert "%|" not in piped.stderr and "3/3" not in piped.stderr
