"""Tests of the command line, run as `python -m PIL_ipc` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from PIL_ipc import container, decoder

ROOT = Path(__file__).resolve().parent.parent
SIZE = 64


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-m", "PIL_ipc", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def grey_array() -> np.ndarray:
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    a = 30 + 2 * x + y
    a[20:40, 10:50] = 210
    return np.clip(a, 0, 255).astype(np.uint8)


def assert_one_line_error(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipc: error: "), result.stderr


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    Image.fromarray(grey_array(), "L").save(d / "grey.png")
    return d


@pytest.fixture(scope="module")
def encoded(work) -> Path:
    result = run("encode", "grey.png", "grey.ipc", cwd=work)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no note: the input is already grey
    return work / "grey.ipc"


def test_encode(encoded):
    with Image.open(encoded) as im:
        assert (im.format, im.mode, im.size) == ("IPC", "L", (SIZE, SIZE))


def test_encode_keeps_colour_and_converts_16_bits_with_note(work):
    rgb = np.stack([grey_array()] * 3, axis=-1)
    Image.fromarray(rgb, "RGB").save(work / "rgb.png")
    result = run("encode", "rgb.png", "rgb.ipc", "--chroma-levels", "12", "--edge-source",
                 "luma", cwd=work)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    with Image.open(work / "rgb.ipc") as im:
        assert im.mode == "RGB"
        assert container.parse((work / "rgb.ipc").read_bytes()).chroma.levels == 12
    Image.fromarray(grey_array().astype(np.uint16) * 257).save(work / "deep.png")
    options = ["--threshold", "24", "--levels", "17", "--spacing", "3", "--tonal", "0",
               "--min-length", "2"]
    result = run("encode", "deep.png", "rgb.ipc", *options, "--no-thin", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "to L (grey)" in result.stderr
    with Image.open(work / "rgb.ipc") as im:
        assert (im.mode, im.info["levels"], im.info["spacing"]) == ("L", 17, 3)
        # the encoder records its settings in tEXt; info gives them as numbers
        assert (im.info["tonal"], im.info["min_length"], im.info["thin"]) == (0, 2, False)


def test_encode_to_a_size_with_an_effort(work):
    result = run("encode", "grey.png", "fast.ipc", "--size", "300", "--effort", "0", cwd=work)
    assert result.returncode == 0, result.stderr
    assert 0 < (work / "fast.ipc").stat().st_size <= 300


def test_decode(work, encoded):
    result = run("decode", "grey.ipc", "back.png", cwd=work)
    assert result.returncode == 0, result.stderr
    with Image.open(work / "back.png") as im:
        assert im.format == "PNG"
        np.testing.assert_array_equal(np.asarray(im), decoder.decode(encoded.read_bytes()))


def test_info(work, encoded):
    result = run("info", "grey.ipc", cwd=work)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    size = encoded.stat().st_size
    assert f"({size} bytes, {8 * size / SIZE**2:.4f} bpp)" in out
    assert "size:     64 x 64" in out and f"version:  {container.version_for('L')}" in out
    # chunk rows in file order: IHDR first at offset 8 with length 16, IEND last and empty
    rows = [line.split() for line in out.splitlines() if line.startswith("          ")]
    assert rows[0] == ["8", "IHDR", "16"]
    assert rows[-1] == [str(size - 12), "IEND", "0"]
    types = [r[1] for r in rows]
    assert types.index("EDGE") < types.index("VALS")


def test_info_and_decode_version_1(work):
    """A file written as format version 1 (14-byte IHDR) is still read."""
    (work / "old.ipc").write_bytes((ROOT / "tests" / "corpus" / "v1-tiny.ipc").read_bytes())
    result = run("info", "old.ipc", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "version:  1" in result.stdout and "size:     12 x 8" in result.stdout
    assert "lattice:  0" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("          ")]
    assert rows[0] == ["8", "IHDR", "14"]
    result = run("decode", "old.ipc", "old.png", cwd=work)
    assert result.returncode == 0, result.stderr
    expected = decoder.decode((work / "old.ipc").read_bytes())
    with Image.open(ROOT / "tests" / "corpus" / "v1-tiny.png") as ref:
        reference = np.asarray(ref).astype(int)
    with Image.open(work / "old.png") as im:
        np.testing.assert_array_equal(np.asarray(im), expected)
        assert np.abs(np.asarray(im) - reference).max() <= 1  # spec section 9


def test_info_shows_the_lattice(work):
    (work / "tiny.ipc").write_bytes((ROOT / "tests" / "corpus" / "tiny.ipc").read_bytes())
    result = run("info", "tiny.ipc", cwd=work)
    assert result.returncode == 0, result.stderr
    # tiny.ipc: file bytes 30-31 (IHDR data offset 14) hold the lattice step (spec 4.3)
    step = int.from_bytes((work / "tiny.ipc").read_bytes()[30:32], "big")
    assert step == 4 and f"lattice:  {step}" in result.stdout


def test_usage_errors_exit_2(work):
    for args in (
        (),
        ("encode", "grey.png"),
        ("frobnicate",),
        ("encode", "grey.png", "x.ipc", "--bpp", "1", "--size", "100"),
        ("encode", "grey.png", "x.ipc", "--levels", "ten"),
        ("encode", "grey.png", "x.ipc", "--levels", "1"),
        ("encode", "grey.png", "x.ipc", "--spacing", "0"),
        ("encode", "grey.png", "x.ipc", "--size", "300", "--effort", "3"),
    ):
        result = run(*args, cwd=work)
        assert result.returncode == 2, (args, result.stderr)
        assert "usage:" in result.stderr and "Traceback" not in result.stderr
    assert not (work / "x.ipc").exists()


def test_bad_input_exit_1(work, encoded):
    (work / "junk.png").write_bytes(b"not an image at all")
    data = encoded.read_bytes()
    (work / "crc.ipc").write_bytes(data[:-20] + bytes([data[-20] ^ 1]) + data[-19:])
    (work / "short.ipc").write_bytes(data[: len(data) // 2])
    for args in (
        ("encode", "missing.png", "x.ipc"),
        ("encode", "junk.png", "x.ipc"),
        ("decode", "grey.png", "x.png"),  # not an IPC file
        ("decode", "crc.ipc", "x.png"),
        ("decode", "short.ipc", "x.png"),
        ("decode", "grey.ipc", "x.unknownext"),
        ("info", "crc.ipc"),
        ("info", "short.ipc"),
        ("info", "grey.png"),
    ):
        assert_one_line_error(run(*args, cwd=work))
