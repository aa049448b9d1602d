"""Start-up: what a fresh process imports and which kernels it compiles or loads.

Each check runs in a fresh interpreter (``sys.modules`` and the kernels' signatures of this
process depend on the tests run before).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"


def _fresh(code: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                         os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_open_reads_the_header_without_numba():
    out = _fresh("""
        import sys
        from PIL import Image
        import PIL_ipc
        with Image.open(sys.argv[1]) as im:
            print(im.size, im.mode, sorted(im.info))
        print("numba" in sys.modules, "PIL_ipc.decoder" in sys.modules)
        """, str(CORPUS / "xmp-tiny.ipc"))
    header, loaded = out.strip().splitlines()
    assert header.startswith("(12, 8) L") and "'xmp'" in header
    assert loaded == "False False"


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["decode", "--help"],
                                  ["--quiet", "info", str(CORPUS / "tiny.ipc")]])
def test_command_line_starts_without_numba(argv):
    out = _fresh("""
        import contextlib, io, json, sys
        from PIL_ipc import cli
        with contextlib.redirect_stdout(io.StringIO()) as text:
            try:
                status = cli.main(json.loads(sys.argv[1]))
            except SystemExit as e:
                status = e.code
        print(status, "numba" in sys.modules, len(text.getvalue()) > 0)
        """, json.dumps(argv))
    assert out.split() == ["0", "False", "True"]


def test_encode_help_shows_the_encoders_defaults():
    # the encoder's flags are still there for the commands that take them
    out = _fresh("""
        import contextlib, io
        from PIL_ipc import cli
        with contextlib.redirect_stdout(io.StringIO()) as text:
            try:
                cli.main(["encode", "--help"])
            except SystemExit:
                pass
        print(text.getvalue())
        """)
    assert "--bpp B" in out and "--spacing D" in out and "default" in out
