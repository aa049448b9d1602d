"""numba's cache of the kernels lives outside the package; the first compiling call says so."""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import PIL_ipc
from PIL_ipc import _kernel_cache, encode

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(PIL_ipc.__file__).resolve().parent


def _cached_kernels():
    for info in pkgutil.walk_packages(PIL_ipc.__path__, "PIL_ipc."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value._cache is not None:
                path = getattr(value._cache, "cache_path", None)
                if path is not None:
                    yield f"{info.name}.{name}", Path(path).resolve()


def _numba_files(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.suffix in (".nbi", ".nbc")}


def _written_since(before: dict[str, int]) -> list[str]:
    return [p for p, t in _numba_files(PACKAGE).items() if before.get(p) != t]


def test_every_cached_kernel_is_cached_outside_the_package():
    kernels = dict(_cached_kernels())
    assert len(kernels) > 50  # the modules' kernels were found
    inside = [k for k, path in kernels.items() if path.is_relative_to(PACKAGE)]
    assert not inside
    # one folder per install, a subfolder per subpackage
    install = Path(_kernel_cache.kernel_cache_dir()).resolve()
    assert {path.relative_to(install).as_posix() for path in kernels.values()} == {
        "format", "solver", "encode"}


def _run(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


#: Compiles one small kernel of the package and one of a module outside it.
_COMPILE = """
    import sys
    import numpy as np
    from numba import njit
    from PIL_ipc import _kernel_cache
    from PIL_ipc.encode import analysis
    print(analysis.denoise(np.arange(16, dtype=np.uint8).reshape(4, 4), 8.0, 2).shape)
    print(_kernel_cache.kernel_cache_dir())
    sys.path.insert(0, ".")
    import foreign
    print(foreign.twice(3))
"""


def _foreign_module(folder: Path) -> None:
    (folder / "foreign.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef twice(x):\n    return 2 * x\n")


def test_compiling_writes_into_the_cache_folder_not_the_package(tmp_path):
    before = _numba_files(PACKAGE)
    cache = tmp_path / "cache"
    _foreign_module(tmp_path)
    out = _run(_COMPILE, _environment(NUMBA_CACHE_DIR=str(cache)), tmp_path)
    assert out.returncode == 0, out.stderr
    shape, used, twice = out.stdout.split("\n")[:3]
    assert shape == "(4, 4)" and twice == "6"
    assert Path(used).is_relative_to(cache)
    assert any(p.name.startswith("analysis._pm_strip") for p in (Path(used) / "encode").iterdir())
    assert not _written_since(before)
    # NUMBA_CACHE_DIR is numba's own setting: it applies to the other module too.
    assert any(p.name.startswith("foreign.twice") for p in cache.rglob("*.nbi"))


def test_other_numba_users_keep_numbas_rules(tmp_path):
    home = tmp_path / "home"
    _foreign_module(tmp_path)
    out = _run(_COMPILE, _environment(XDG_CACHE_HOME=str(home)), tmp_path)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.split("\n")[1]).is_relative_to(home / "PIL_ipc")
    # numba caches a module outside PIL_ipc beside its source, as it always does.
    assert any(p.name.startswith("foreign.twice") for p in
               (tmp_path / "__pycache__").glob("*.nbi"))


def test_unwritable_cache_folder_compiles_for_the_process_only(tmp_path):
    before = _numba_files(PACKAGE)
    blocker = tmp_path / "a-file"
    blocker.write_text("a cache folder cannot be made under a file")
    _foreign_module(tmp_path)
    out = _run(_COMPILE, _environment(NUMBA_CACHE_DIR=str(blocker / "cache")), tmp_path)
    assert out.returncode == 0, out.stderr
    shape, used = out.stdout.split("\n")[:2]
    assert shape == "(4, 4)"
    assert not Path(used).is_relative_to(blocker)
    assert not Path(used).exists()  # the scratch folder is removed at exit
    assert not _written_since(before)


@pytest.fixture
def fresh_notice(tmp_path, monkeypatch):
    """A process that has announced nothing yet, with its own marker folder."""
    monkeypatch.setattr(_kernel_cache, "_announced", set())
    monkeypatch.setattr(_kernel_cache, "kernel_cache_dir", lambda: str(tmp_path))
    return tmp_path


def _notices(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "PIL_ipc" and "compiling" in r.getMessage()]


def test_first_call_logs_one_info_line_and_prints_nothing(fresh_notice, caplog, capsys):
    caplog.set_level(logging.INFO, logger="PIL_ipc")
    image = np.full((8, 8), 100, np.uint8)
    encode.encode(image)
    encode.encode(image)
    (record,) = _notices(caplog)
    assert record.levelno == logging.INFO
    assert "encode" in record.getMessage() and " s " in record.getMessage()
    assert capsys.readouterr() == ("", "")
    # The next process with the same kernels cached stays quiet.
    assert list(fresh_notice.glob("encode-*.warm"))
    _kernel_cache._announced.clear()
    caplog.clear()
    encode.encode(image)
    assert not _notices(caplog)


def test_notice_once_for_nested_calls_and_not_after_a_failure(fresh_notice, caplog):
    caplog.set_level(logging.INFO, logger="PIL_ipc")

    @_kernel_cache.compiles("decode")
    def inner():
        return 1

    @_kernel_cache.compiles("encode")
    def outer():
        return inner() + 1

    @_kernel_cache.compiles("decode")
    def failing():
        raise ValueError("bad file")

    assert outer() == 2
    assert len(_notices(caplog)) == 1
    _kernel_cache._announced.clear()
    with pytest.raises(ValueError):
        failing()
    assert not list(fresh_notice.glob("decode-*.warm"))  # a failed call proves nothing


def test_numba_files_left_in_the_package_by_earlier_versions_are_removed(tmp_path, monkeypatch):
    pycache = tmp_path / "__pycache__"
    pycache.mkdir()
    names = ["analysis._sobel-66.py311.nbi", "analysis._sobel-66.py311.1.nbc", "analysis.cpython-311.pyc"]
    for name in names:
        (pycache / name).write_bytes(b"x")
    monkeypatch.setattr(_kernel_cache, "PACKAGE_DIR", str(tmp_path))
    _kernel_cache._remove_numba_files_in_package()
    assert sorted(p.name for p in pycache.iterdir()) == ["analysis.cpython-311.pyc"]


def test_decode_after_an_encode_announces_less(fresh_notice, caplog):
    caplog.set_level(logging.INFO, logger="PIL_ipc")
    seconds = _kernel_cache.FIRST_CALL_SECONDS

    @_kernel_cache.compiles("decode")
    def decode():
        return None

    @_kernel_cache.compiles("encode")
    def an_encode():
        return None

    decode()
    assert f"about {seconds['decode']} s" in _notices(caplog)[0].getMessage()
    an_encode()  # a finished first encode leaves its marker beside the kernels
    for marker in fresh_notice.glob("decode-*.warm"):
        marker.unlink()
    _kernel_cache._announced.clear()
    caplog.clear()
    decode()
    assert f"about {seconds['decode after encode']} s" in _notices(caplog)[0].getMessage()
