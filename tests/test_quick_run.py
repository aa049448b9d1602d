"""The suite's quick run: ``python -m pytest`` leaves out the tests marked slow, ``--runslow``
(CI) runs them too; nothing else is left out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: a file with slow tests and quick ones
BATCH = "tests/tools/test_batch.py"


def _collected(*args: str) -> set[str]:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                          "-p", "no:cacheprovider", BATCH, *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return {line for line in out.stdout.splitlines() if "::" in line}


def test_the_quick_run_leaves_out_the_slow_tests_and_runslow_takes_them():
    quick, full = _collected(), _collected("--runslow")
    slow = _collected("-m", "slow")
    assert slow and quick  # (the file has both)
    assert quick | slow == full
    assert not quick & slow
