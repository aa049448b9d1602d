"""numba's cache of the kernels lives outside the package; the first compiling call says so."""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import re
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
    monkeypatch.setenv(_kernel_cache.HELPER_ENV, "1")  # (the kernels are cached: no helper)
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
    assert "encode" in record.getMessage() and re.search(r"about \d+ s\b", record.getMessage())
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
    seconds = _kernel_cache.FIRST_CALL_SECONDS_ALONE  # (no helper: see fresh_notice)

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


# --- two processes, one compile ------------------------------------------------------------

_HOLD = """
    import sys, time
    from PIL_ipc import _kernel_cache
    with _kernel_cache.compile_lock(sys.argv[1]):
        print("held", flush=True)
        sys.stdin.readline()
        released = time.time()
    print(released, flush=True)
    """

_FIRST_CALL = """
    import sys, time
    from numba import types
    from PIL_ipc import _kernel_cache
    from PIL_ipc.solver import _kernels
    f32 = types.float32[::1]
    print("calling", flush=True)
    _kernel_cache.precompile(_kernels.min_max_level,
                             (f32, f32, f32, types.uint64[:, ::1], types.uint64, types.uint64))
    print(time.time(), flush=True)
    """


def _python(code: str, *args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                            env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_a_compile_waits_while_another_process_compiles_the_same_kernel(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    holder = _python(_HOLD, "PIL_ipc.solver._kernels.min_max_level", env=env)
    assert holder.stdout.readline() == "held\n"
    caller = _python(_FIRST_CALL, env=env)
    assert caller.stdout.readline() == "calling\n"
    try:
        caller.wait(3)  # (it has time to compile and finish, unless it waits)
    except subprocess.TimeoutExpired:
        pass
    holder.stdin.write("\n")
    holder.stdin.flush()
    released = float(holder.stdout.readline())
    done = float(caller.stdout.readline())
    assert holder.wait(60) == 0 and caller.wait(60) == 0
    assert done >= released


def test_locks_of_other_kernels_do_not_wait(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    holder = _python(_HOLD, "PIL_ipc.solver._kernels.fcg", env=env)
    assert holder.stdout.readline() == "held\n"
    caller = _python(_FIRST_CALL, env=env)
    try:
        assert caller.wait(60) == 0  # (finishes while the other lock is held)
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(60)


def test_without_a_persistent_cache_there_are_no_locks(monkeypatch):
    monkeypatch.setattr(_kernel_cache, "_persistent", lambda: False)
    _kernel_cache._locks_dir.cache_clear()
    try:
        assert _kernel_cache._locks_dir() is None
        with _kernel_cache.compile_lock("anything"), _kernel_cache.compile_lock("anything"):
            pass  # (no lock taken: the second does not wait for the first)
        with _kernel_cache.helper_slot() as free:
            assert not free
        assert _kernel_cache._start_helper() is None
    finally:
        _kernel_cache._locks_dir.cache_clear()


class _Helper:
    def __init__(self):
        self.waited = False

    def wait(self, timeout=None):
        self.waited = True
        return 0


def test_a_first_call_starts_the_helper_and_waits_for_it(fresh_notice, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="PIL_ipc")
    started = []
    monkeypatch.setattr(_kernel_cache, "_start_helper",
                        lambda: started.append(_Helper()) or started[-1])

    seen = []

    @_kernel_cache.compiles("decode")
    def work():
        seen.append([h.waited for h in started])  # (the helper compiles while the call runs)
        return 1

    assert work() == 1 and seen == [[False]] and started[0].waited
    (notice,) = _notices(caplog)  # the figure of a first call with a helper
    seconds = _kernel_cache.FIRST_CALL_SECONDS["decode"]
    assert f"about {seconds} s (on 2 cores)" in notice.getMessage()
    assert work() == 1 and len(started) == 1  # a second call is not a first one


@pytest.mark.parametrize("why", ["helper", "one core", "no jit"])
def test_no_helper_where_it_cannot_help(monkeypatch, why):
    monkeypatch.delenv(_kernel_cache.HELPER_ENV, raising=False)
    spawned = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: spawned.append(a))
    if why == "helper":  # the helper itself, or a process it started
        monkeypatch.setenv(_kernel_cache.HELPER_ENV, "1")
    elif why == "one core":
        monkeypatch.setattr(_kernel_cache, "_cores", lambda: 1)
    else:
        monkeypatch.setattr(_kernel_cache.config, "DISABLE_JIT", True)
    assert _kernel_cache._start_helper() is None and spawned == []


def test_no_second_helper_while_one_is_at_work(monkeypatch, tmp_path):
    monkeypatch.delenv(_kernel_cache.HELPER_ENV, raising=False)
    monkeypatch.setattr(_kernel_cache, "_cores", lambda: 2)
    monkeypatch.setattr(_kernel_cache, "_locks_dir", lambda: str(tmp_path))
    spawned = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: spawned.append(a) or "helper")
    assert _kernel_cache._start_helper() == "helper"
    assert spawned[0][0][-2:] == ["-m", "PIL_ipc.precompile"]
    with _kernel_cache.helper_slot() as free:
        assert free
        assert _kernel_cache._start_helper() is None and len(spawned) == 1


@pytest.mark.slow  # compiles the solver's dearest kernels into an empty cache
def test_after_the_helper_a_decode_compiles_none_of_its_kernels(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "PIL_ipc.precompile"], cwd=ROOT, env=env,
                   check=True, timeout=600)
    compiled = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys
        from numba.core import event
        from PIL import Image
        import PIL_ipc
        from PIL_ipc import precompile
        names = {k.py_func.__qualname__ for k, _ in precompile.kernels()}
        seen = set()
        class Listener(event.Listener):
            def on_start(self, ev):
                seen.add(ev.data["dispatcher"].py_func.__qualname__)
            def on_end(self, ev):
                pass
        event.register("numba:compile", Listener())
        Image.open(sys.argv[1]).load()
        print(sorted(seen & names), len(names))
        """), str(ROOT / "tests" / "corpus" / "house-0.25bpp.ipc")],
        cwd=ROOT, env={**env, _kernel_cache.HELPER_ENV: "1"}, capture_output=True, text=True,
        timeout=600, check=True)
    assert compiled.stdout.split() == ["[]", "8"]


def test_no_helper_once_the_other_entry_point_has_had_its_first_call(fresh_notice, monkeypatch):
    # the first encode's helper compiled the dearest kernels of both: a first decode after it
    # (or a first encode after a first decode) starts none
    started = []
    monkeypatch.setattr(_kernel_cache, "_start_helper",
                        lambda: started.append(_Helper()) or started[-1])

    @_kernel_cache.compiles("encode")
    def an_encode():
        return None

    @_kernel_cache.compiles("decode")
    def a_decode():
        return None

    an_encode()
    a_decode()
    assert len(started) == 1 and list(fresh_notice.glob("decode-*.warm"))


def test_a_file_system_without_locks_compiles_unlocked(monkeypatch, tmp_path):
    import fcntl

    def no_locks(fd, op):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(_kernel_cache, "_locks_dir", lambda: str(tmp_path))
    monkeypatch.setattr(fcntl, "flock", no_locks)
    with _kernel_cache.compile_lock("anything", wait=0.5):
        pass  # (goes on at once, neither waiting nor failing)
