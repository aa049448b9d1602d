"""Shared set-up of the test suite.

The tests are in folders by the package's layers (format, solver, decode, encode, plugin,
tools) plus conformance (the golden corpus, invalid files, fuzzing, and the independent
references the other folders check against).  Test files are imported in pytest's default
``prepend`` mode: no folder is a package, so every test file has a name of its own across
folders.

- The helpers of tests/conformance (reference_decoder, reference_solver, jbigkit, ipc_chunks)
  and tests/fuzz (``from fuzz import structured``) import by name from every folder.
- Every subprocess a test starts imports this checkout's PIL_ipc (PYTHONPATH).
- ``corpus`` is the golden corpus (tests/corpus), ``corpus_src`` the corpus of source images
  (``$IPC_CORPUS``, else ``../shared/corpus-src`` beside the repository).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CORPUS = TESTS / "corpus"

for folder in (TESTS / "conformance", TESTS):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def corpus_source_folder() -> Path:
    """The corpus of source images: $IPC_CORPUS, else ../shared/corpus-src beside the
    repository (the folder tests/corpus/make_corpus.py and the benchmarks read too)."""
    if os.environ.get("IPC_CORPUS"):
        return Path(os.environ["IPC_CORPUS"])
    return ROOT.parent / "shared" / "corpus-src"


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _subprocesses_import_this_checkout():
    """A test's subprocess (``python -m PIL_ipc ...``, a fresh interpreter) imports the
    PIL_ipc of this checkout, as the tests themselves do."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", path)
        yield


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository."""
    return ROOT


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The golden corpus, tests/corpus."""
    return CORPUS


@pytest.fixture(scope="session")
def corpus_src() -> Path:
    """The corpus of source images (photos of SIPI, Kodak, ...).  Outside CI a test that needs
    it is skipped when it is not there; in CI (``$CI`` set) that is an error."""
    folder = corpus_source_folder()
    if not folder.is_dir():
        message = (f"the corpus of source images is not at {folder} "
                   "(set IPC_CORPUS to where it is)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return folder
