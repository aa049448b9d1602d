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
- Tests marked ``slow`` (batches through worker processes and a Dask cluster, compiling into
  an empty cache, the fuzz batch) are left out of a plain ``python -m pytest`` and run with
  ``--runslow``, as CI runs the suite; a slow test named on the command line (file::test)
  or selected with ``-m slow`` runs anyway.
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


# --- the quick run and the full suite ---------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the tests marked slow: the full suite, as CI runs it")


_LEFT_OUT = pytest.StashKey[int]()


def _named(item: pytest.Item, config: pytest.Config) -> bool:
    """Whether the command line names this test itself (path::test, path::test[id])."""
    for arg in config.args:
        path, named, test = arg.partition("::")
        if not named or (config.invocation_params.dir / path).resolve() != item.path:
            continue
        own = item.nodeid.partition("::")[2]
        if own == test or own.startswith((test + "[", test + "::")):
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow") or "slow" in (config.option.markexpr or ""):
        return
    slow = [item for item in items
            if item.get_closest_marker("slow") and not _named(item, config)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        left_out = set(slow)
        items[:] = [item for item in items if item not in left_out]
        config.stash[_LEFT_OUT] = len(slow)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    n = config.stash.get(_LEFT_OUT, 0)
    if n:
        terminalreporter.write_line(f"{n} slow test(s) left out of this quick run: "
                                    "python -m pytest --runslow runs the full suite")


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
