"""`ipc batch` run as a subprocess: a folder tree, skipping, failures, Ctrl-C, Dask; and the
bookkeeping of an interrupted batch in this process, with a stand-in converter.

No test waits for a time to pass: the kernels are compiled (or loaded) once, by a batch of one
process, before any pool of workers starts (the workers then load them from the cache), and
Ctrl-C comes when the batch is known to be waiting for its next input (a named pipe that
nothing writes), never after a number of seconds.  HANG only ends a run that hangs."""

from __future__ import annotations

import errno
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

from PIL_ipc import decode, metrics
from PIL_ipc.tools import batch

OPTIONS = ["--size", "300", "--effort", "0"]
#: Seconds after which a batch is taken to hang: a guard, not a measure (with the kernels
#: cached each batch here takes seconds).
HANG = 1800


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "PIL_ipc", "batch", *args]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), cwd=cwd, capture_output=True, text=True,
                          timeout=HANG)


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


@pytest.fixture(scope="module")
def warm(tmp_path_factory) -> None:
    """The kernels a batch's workers use, compiled and cached (or loaded) by a batch in one
    process, grey and colour, before a test starts a pool: workers that each compile them
    at once on a loaded machine can take minutes before their first file."""
    folder = tmp_path_factory.mktemp("warm")
    make_tree(folder, count=3)
    result = run("in", "out", *OPTIONS, "--jobs", "1", cwd=folder)
    assert result.returncode == 1 and summary(result.stdout)["files converted"] == "3", \
        result.stderr


def test_an_interrupted_run_keeps_every_finished_file(tmp_path, monkeypatch):
    """batch.run with a stand-in converter, in this process: Ctrl-C after the third outcome
    leaves the three files complete and counted, no partial file, and the rest undone."""
    jobs = [batch.Job(tmp_path / "in" / f"im{i}.png", tmp_path / "out" / f"im{i}.ipc",
                      f"im{i}.png") for i in range(6)]
    (tmp_path / "in").mkdir()
    for i, job in enumerate(jobs):
        job.source.write_bytes(bytes(i + 1))
    monkeypatch.setattr(batch, "encode_one", lambda name, data, options:
                        batch.Outcome(name, len(data), b"ipc" + data, 30.0))
    outcomes = []

    def interrupt_after_three(outcome: batch.Outcome) -> None:
        outcomes.append(outcome)
        if len(outcomes) == 3:
            raise KeyboardInterrupt

    summary = batch.run(jobs, {}, workers=1, on_outcome=interrupt_after_three)
    assert summary.interrupted and summary.converted == 3 and not summary.failures
    assert summary.bytes_in == 1 + 2 + 3 and summary.bytes_out == 3 * 3 + 1 + 2 + 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["im0.ipc", "im1.ipc",
                                                                    "im2.ipc"]
    assert (tmp_path / "out" / "im2.ipc").read_bytes() == b"ipc" + bytes(3)
    jobs, done, _ = batch.find_jobs(tmp_path / "in", tmp_path / "out")
    assert done == 3 and [job.name for job in jobs] == ["im3.png", "im4.png", "im5.png"]


@pytest.mark.slow
def test_batch_converts_a_tree_reports_and_skips_what_is_done(tmp_path, warm):
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
        psnrs.append(metrics.psnr(names[name], decode.decode(data)))
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


@pytest.mark.slow
def test_interrupting_a_batch_loses_nothing_done(tmp_path, warm):
    count, blocking = 30, 8
    (tmp_path / "in").mkdir()
    for i in range(count):
        if i != blocking:
            Image.fromarray(image(i % 7)).save(tmp_path / "in" / f"im{i:02d}.png")
    # One input is a named pipe that nothing writes: the batch (this process reads every
    # input, two workers encode) waits at it, with the files finished by then written and
    # those after it not started.
    fifo = tmp_path / "in" / f"im{blocking:02d}.png"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    process = subprocess.Popen(command("in", "out", *OPTIONS, "--jobs", "2"), cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               # a shell's background job inherits SIGINT ignored, and Python
                               # then keeps ignoring it: give the batch the default, as at a
                               # terminal
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    writer = -1
    try:
        # Opening the pipe for writing succeeds once the batch has opened it for reading.
        # The write end is then held open and nothing written: the batch waits in its read
        # (a closed write end would be an end of file), and Ctrl-C comes during that wait.
        started = time.monotonic()
        while writer < 0:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() - started < HANG, "the batch never reached the pipe"
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
                time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=HANG)
    finally:
        process.kill()
        if writer >= 0:
            os.close(writer)
    assert "Traceback" not in stderr
    written = sorted(out.glob("*.ipc"))
    assert written and not list(out.glob("*.part")) and not list(out.glob(".*"))
    for path in written:  # every file there is complete
        decode.decode(path.read_bytes())
    assert process.returncode == 130, stderr
    assert "interrupted" in stdout
    assert int(summary(stdout)["files converted"]) == len(written) < blocking
    assert all(path.name < fifo.with_suffix(".ipc").name for path in written)
    # The next run converts what is left, the pipe now an image.
    fifo.unlink()
    Image.fromarray(image(blocking % 7)).save(fifo)
    result = run("in", "out", *OPTIONS, "--jobs", "2", cwd=tmp_path)
    rows = summary(result.stdout)
    assert result.returncode == 0, result.stderr
    assert int(rows["files skipped"]) == len(written)
    assert int(rows["files converted"]) == count - len(written)


@pytest.mark.slow
def test_batch_on_a_dask_cluster_gives_the_local_files(tmp_path, warm):
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


@pytest.mark.slow
def test_dask_scheduler_that_is_not_there(tmp_path):
    make_tree(tmp_path, count=1)
    result = run("in", "out", "--dask", "tcp://127.0.0.1:9", *OPTIONS, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in lines[-1], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_terminal_sees_the_progress_bar_and_a_pipe_does_not(tmp_path, warm):
    import fcntl
    import pty
    import struct
    import termios

    make_tree(tmp_path, count=2)
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        process = subprocess.run(command("in", "out", *OPTIONS, "--jobs", "1"), cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=terminal, timeout=HANG)
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
