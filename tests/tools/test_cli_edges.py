"""The command line's edges: it does not write over its input unless told, it stops quietly
when the reader of its output goes away, and its progress over a batch (by bytes, with the
files counted) and over the stages of one encode shows a percentage and the time left on a
terminal and nothing elsewhere."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import PIL_ipc
from PIL_ipc.tools import batch, cli, progress, transcode

ROOT = Path(PIL_ipc.__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli-edges")
    y, x = np.mgrid[0:24, 0:32]
    grey = np.clip(40 + 4 * x + 2 * y, 0, 255).astype(np.uint8)
    grey[6:14, 8:24] = 220
    Image.fromarray(grey, "L").save(folder / "grey.png")
    Image.fromarray(grey, "L").save(folder / "grey.ipc", threshold=24)
    return folder


def ipc(capsys, *args) -> tuple[int, str]:
    """Run the command line in this process: (exit status, stderr without the first run's
    note that it compiles)."""
    status = cli.main([str(a) for a in args])
    err = capsys.readouterr().err
    return status, "".join(line for line in err.splitlines(True) if "compiling" not in line)


# --- the input is not the output -------------------------------------------------------------

@pytest.mark.parametrize("command", ["decode", "encode"])
def test_refuses_to_write_over_its_input(work, capsys, command):
    source = work / ("grey.ipc" if command == "decode" else "grey.png")
    before = source.read_bytes()
    status, err = ipc(capsys, command, source, source)
    assert status == 1
    assert err == (f"ipc: error: {source} is the input file; give another OUT, or --force to "
                   "replace the input\n")
    assert source.read_bytes() == before
    # the same file by another name, or through a link
    os.symlink(source.name, work / f"link-{command}")
    try:
        assert ipc(capsys, command, source, f"{work}/./link-{command}")[0] == 1
    finally:
        os.unlink(work / f"link-{command}")
    assert source.read_bytes() == before


def test_force_replaces_the_input(work, capsys):
    copy = work / "copy.ipc"
    copy.write_bytes((work / "grey.ipc").read_bytes())
    assert ipc(capsys, "decode", copy, copy, "--force") == (0, "")
    with Image.open(copy) as im:
        assert im.format == "IPC" and im.size == (32, 24)


# --- a reader that goes away -----------------------------------------------------------------

def _closed_pipe_run(*args: str) -> subprocess.CompletedProcess:
    """Run `python -m PIL_ipc ARGS` with its stdout a pipe whose reader has gone already."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")])}
    try:
        return subprocess.run([sys.executable, "-m", "PIL_ipc", *args], stdout=write,
                              stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    finally:
        os.close(write)


@pytest.mark.parametrize("args", [("info", "grey.ipc"), ("decode", "grey.ipc", "-", "--quiet")])
def test_a_closed_pipe_ends_quietly(work, args):
    result = _closed_pipe_run(*(str(work / a) if a.endswith(".ipc") else a for a in args))
    assert result.stderr == ""
    assert result.returncode == 141  # 128 + SIGPIPE, as a shell reports `cat` ended by it


# --- progress --------------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _batch_progress(tmp_path, monkeypatch, stderr: io.StringIO) -> str:
    """What a batch of three files of 1, 3 and 60 kB draws on ``stderr``."""
    jobs = []
    for i, size in enumerate((1000, 3000, 60000)):
        source = tmp_path / f"{i}.png"
        source.write_bytes(b"\0" * size)
        jobs.append(batch.Job(source, tmp_path / "out" / f"{i}.ipc", source.name))

    def encode_one(name: str, data: bytes, options: dict) -> batch.Outcome:
        time.sleep(0.15)  # over tqdm's shortest time between two redraws
        return batch.Outcome(name, len(data), b"IPC", 30.0)

    monkeypatch.setattr(batch, "encode_one", encode_one)
    monkeypatch.setitem(progress._state, "enabled", True)
    monkeypatch.setattr(sys, "stderr", stderr)
    summary = batch.run(jobs, {})
    assert summary.converted == 3
    return stderr.getvalue()


def test_batch_progress_shows_percentage_bytes_files_and_time_left(tmp_path, monkeypatch):
    drawn = _batch_progress(tmp_path, monkeypatch, _Terminal())
    states = [s.strip() for s in drawn.split("\r") if s.strip()]
    # by bytes: after the first file (1000 of 64000 bytes) 2 %, not a third
    assert any(s.startswith("ipc batch:   2%") and "1/3 files" in s for s in states), states
    assert any("2/3 files" in s for s in states), states
    final = states[-1]
    assert final.startswith("ipc batch: 100%") and "62.5k/62.5k" in final and "3/3 files" in final
    assert "<00:00" in final  # the time left


def test_batch_progress_is_quiet_off_a_terminal(tmp_path, monkeypatch):
    assert _batch_progress(tmp_path, monkeypatch, io.StringIO()) == ""


def _drawn_states(drawn: str) -> list[str]:
    return [s.strip() for s in drawn.split("\r") if s.strip() and "compiling" not in s]


def test_encode_bar_shows_the_stage_its_percentage_and_time_left(monkeypatch):
    monkeypatch.setitem(progress._state, "enabled", True)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    monkeypatch.setattr(progress, "DELAY", 0.1)
    with progress.stages("ipc: encoding a.png") as bar:
        bar("analysis", 0.0, 30.0)  # before DELAY: not drawn
        time.sleep(0.15)
        bar("analysis", 30.0, 30.0)
        bar("search", 0.0, 40.0)
        for done in (10.0, 20.0, 30.0):
            time.sleep(0.15)  # over tqdm's shortest time between two redraws
            bar("search", done, 40.0)
    states = _drawn_states(sys.stderr.getvalue())
    assert not any("analysis:   0%" in s for s in states), states
    assert states[0].startswith("ipc: encoding a.png: analysis: 100%|"), states
    assert states[1].startswith("ipc: encoding a.png: search:   0%|"), states
    # a quarter of the search in 0.15 s: about 0.45 s left
    assert any(s.startswith("ipc: encoding a.png: search:  25%|")
               and re.search(r"\[00:00<00:00\]$", s) for s in states), states
    assert any(s.startswith("ipc: encoding a.png: search:  75%|") for s in states), states
    assert sys.stderr.getvalue().endswith("\r")  # the bar cleared at the end


@pytest.mark.parametrize("terminal, quiet", [(True, False), (False, False), (True, True)],
                         ids=["terminal", "not-a-terminal", "quiet"])
def test_encode_shows_its_stages_on_a_terminal_only(work, monkeypatch, terminal, quiet):
    monkeypatch.setitem(progress._state, "enabled", True)
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setattr(sys, "stderr", _Terminal() if terminal else io.StringIO())
    given = []
    encode = transcode.encode

    def told(im, options, **kwargs):
        given.append(kwargs.get("progress", "no keyword"))
        return encode(im, options, **kwargs)

    monkeypatch.setattr(transcode, "encode", told)
    out = work / f"stages-{terminal}-{quiet}.ipc"
    status = cli.main(["encode", str(work / "grey.png"), str(out), "--bpp", "2", "--force",
                       *(["--quiet"] if quiet else [])])
    assert status == 0
    states = _drawn_states(sys.stderr.getvalue())
    if terminal and not quiet:
        assert callable(given[0])
        for stage in ("analysis", "search", "coding"):
            assert any(re.match(rf"ipc: encoding \S+grey.png \(32 x 24 L\): {stage}: +\d+%\|",
                                s) for s in states), (stage, states)
    else:  # nothing drawn, and the encoder not even asked to report
        assert given == [None]
        assert states == []
    buffer = io.BytesIO()  # the file is the one a plain save makes
    Image.open(work / "grey.png").save(buffer, format="IPC", bpp=2)
    assert out.read_bytes() == buffer.getvalue()
