"""Where numba caches PIL_ipc's compiled kernels, and the notice before a first, compiling call.

numba's ``cache=True`` writes next to the source, into the package's ``__pycache__``. pip does
not know those files: they outlive an uninstall or a reinstall, and the folder left behind
turns ``PIL_ipc`` into an empty namespace package that hides a later (editable) install. So
the kernels of this package are cached in a per-user folder instead: ``$NUMBA_CACHE_DIR`` when
set, else ``PIL_ipc/numba`` in the user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache`` on
Linux). Where that folder cannot be written, the kernels are cached for the process only, in a
temporary folder removed at exit: a read-only home or install still works, it only compiles
every time.

numba picks a kernel's cache folder when the kernel is decorated, so every module that defines
a cached kernel imports this module first. The locator answers only for this package's source
files: other numba users in the process keep numba's own rules.

Every kernel is declared with :func:`kernel` and one signature.  numba would otherwise compile
a kernel anew for each combination of argument types it meets: for a literal constant
argument (``f(x, 0)`` types as ``Literal[int](0)``), for a read-only array, for an int32 where
an int64 was passed before; every such specialisation costs the first use a compile (a quarter
to one second each) and a later process a cache load.

A first call compiles on two cores where it can: numba compiles under one lock per process,
so the first of the entry points' calls (:func:`compiles`) starts a second process,
``python -m PIL_ipc.precompile``, that compiles the dearest kernels, those the call reaches
last and the decoder's own, while the call compiles the rest.  Every compile from Python holds
a cross-process lock named after its kernel (:func:`compile_lock`, a POSIX file lock beside
the cached kernels): a process that reaches a kernel another one is compiling waits and loads
it from the cache.  Parallel workers starting with an empty cache (``ipc batch``) so compile
each kernel once, not once each.

Two private parts of numba are used, because numba has no public way to do either: the list of
cache locators (a per-package locator; ``NUMBA_CACHE_DIR``, the public setting, is global to
the process and read when numba is imported), and a dispatcher's compile hooks (a signature
given to ``njit`` compiles at decoration, i.e. at import, which a plugin that registers on
import must not do).  tests/plugin/test_kernel_cache.py and test_start.py check both against
the installed numba.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import numba
from numba.core import caching, config, sigutils
from numba.core.compiler_lock import global_compiler_lock
from numba.core.dispatcher import Dispatcher
from numba.misc.appdirs import AppDirs

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

#: About how long the first call of each kind takes, wall seconds, most of it compiling:
#: measured in a fresh install on 2 cores, the helper compiling beside it
#: (benchmarks/first_use.py: ``ipc encode --bpp 0.2`` then ``ipc decode`` of a 768 x 512
#: image; a decode alone compiles what the encode shares) ...
FIRST_CALL_SECONDS = {"encode": 18, "decode": 14, "decode after encode": 2}
#: ... and without the helper (one core)
FIRST_CALL_SECONDS_ALONE = {"encode": 30, "decode": 23, "decode after encode": 9}

#: How long a compile waits for another process compiling the same kernel before it compiles
#: the kernel itself (the dearest kernel takes about 10 s on one core).
LOCK_WAIT_SECONDS = 120.0
#: How long a first call waits, when its own work is done, for the helper process compiling
#: the kernels it shares with the other entry point (see :func:`compiles`).
HELPER_WAIT_SECONDS = 120.0
#: Set in the helper's environment: a helper starts no helper.
HELPER_ENV = "PIL_IPC_PRECOMPILE_HELPER"

_log = logging.getLogger("PIL_ipc")


def cache_root() -> str:
    """The folder under which the kernels are cached (before falling back to a scratch one)."""
    if config.CACHE_DIR:  # numba reads NUMBA_CACHE_DIR when it is imported
        return config.CACHE_DIR
    return os.path.join(AppDirs("PIL_ipc", appauthor=False).user_cache_dir, "numba")


@functools.lru_cache(maxsize=None)
def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _scratch_dir() -> str:
    path = tempfile.mkdtemp(prefix="PIL_ipc-numba-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


class PackageCacheLocator(caching.UserWideCacheLocator):
    """Caches the kernels of PIL_ipc's own modules in :func:`cache_root`, never in the package."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        # one folder per install, a subfolder per subpackage (numba's own rule would make a
        # folder per source folder, each named by a hash of its path)
        folder = os.path.relpath(os.path.dirname(os.path.abspath(py_file)), PACKAGE_DIR)
        path = os.path.normpath(os.path.join(_install_dir(), folder))
        self._cache_path = path if _writable(path) else _scratch_dir()

    @classmethod
    def from_function(cls, py_func, py_file):
        if not os.path.abspath(py_file).startswith(PACKAGE_DIR + os.sep):
            return None
        return super().from_function(py_func, py_file)


def _install() -> None:
    # The list is numba's class attribute, shared by every cached dispatcher; ours comes first
    # and declines every file outside this package.  A user's NUMBA_CACHE_LOCATOR_CLASSES
    # replaces the list and so wins.
    classes = caching.CacheImpl._locator_classes
    if not any(c.__name__ == PackageCacheLocator.__name__ and c.__module__ == __name__
               for c in classes):
        classes.insert(0, PackageCacheLocator)


def _remove_numba_files_in_package() -> None:
    # Earlier versions cached into the package's __pycache__; pip would leave those files
    # behind at the next uninstall (see above).  Best effort: a read-only install keeps them.
    folder = os.path.join(PACKAGE_DIR, "__pycache__")
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.endswith((".nbi", ".nbc")):
                    os.remove(entry.path)
    except OSError:
        pass


_install()
_remove_numba_files_in_package()


def _install_dir() -> str:
    """This install's folder under cache_root(): named after the package's folder by numba's
    rule, so that two installs never share kernels."""
    return os.path.join(cache_root(), caching._CacheLocator.get_suitable_cache_subpath(
        os.path.join(PACKAGE_DIR, "__init__.py")))


def kernel_cache_dir() -> str:
    """The folder that holds this install's kernels, a subfolder per subpackage (a scratch
    folder if the cache is not writable)."""
    path = _install_dir()
    return path if _writable(path) else _scratch_dir()


@functools.lru_cache(maxsize=1)
def _sources_digest() -> str:
    """Identifies this install's kernels: the package's sources, numba and Python."""
    h = hashlib.sha256(f"{numba.__version__} {sys.version}".encode())
    for folder, _, names in sorted(os.walk(PACKAGE_DIR)):
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    h.update(os.path.relpath(path, PACKAGE_DIR).encode() + b"\0" + f.read())
    return h.hexdigest()[:20]


def _persistent() -> bool:
    """Whether this install's kernels are cached for later processes (not in a scratch folder)."""
    return _writable(_install_dir())


@functools.lru_cache(maxsize=1)
def _locks_dir() -> str | None:
    """The folder of the cross-process compile locks, or None where there are none (no
    persistent cache, no POSIX file locks)."""
    if os.name != "posix" or not _persistent():
        return None
    path = os.path.join(_install_dir(), "locks")
    return path if _writable(path) else None


def _lock_file(name: str) -> int | None:
    """An open descriptor of the lock file ``name`` beside the cached kernels, or None where
    there are no cross-process locks."""
    folder = _locks_dir()
    if folder is None:
        return None
    try:
        return os.open(os.path.join(folder, f"{name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None


def _try_lock(fd: int) -> bool:
    """Takes the file lock if it is free; True also where the file system has no locks
    (a compile then goes on unlocked: locks only save work)."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # (ENOLCK and the like: a file system without flock)
        return True
    return True


@contextlib.contextmanager
def compile_lock(name: str, wait: float = LOCK_WAIT_SECONDS):
    """Holds the cross-process lock named ``name`` (a kernel's qualified name): two processes
    about to compile the same kernel with an empty cache take turns, and the second loads what
    the first cached instead of compiling it again.  After ``wait`` seconds (a process that
    hangs holding it) it goes on without the lock.  A no-op without a persistent cache or
    POSIX file locks."""
    fd = _lock_file(name)
    if fd is not None:
        deadline = time.monotonic() + wait
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                _log.debug("compile lock %s: still held after %.0f s, going on", name, wait)
                break
            time.sleep(0.02)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # (closing the descriptor releases the lock)


def _kernel_name(dispatcher: Dispatcher) -> str:
    f = dispatcher.py_func
    return f"{f.__module__}.{f.__qualname__}"


def precompile(dispatcher: Dispatcher, signature: object = None) -> None:
    """Compiles ``dispatcher`` for ``signature`` (numba types; default its declared one), or
    loads it from the cache, under its cross-process lock."""
    if signature is None:
        # (a declared kernel compiles its one signature, under the lock, whatever the args)
        dispatcher._compile_for_args()
        return
    with compile_lock(_kernel_name(dispatcher)):
        dispatcher.compile(sigutils.normalize_signature(signature)[0])


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (not on every platform)
        return os.cpu_count() or 1


@contextlib.contextmanager
def helper_slot():
    """Yields whether this process holds the lock "helper", i.e. whether no helper process is
    at work (False also without cross-process locks)."""
    fd = _lock_file("helper")
    try:
        yield fd is not None and _try_lock(fd)
    finally:
        if fd is not None:
            os.close(fd)


def _helper_possible() -> bool:
    """Whether a first call here can have a helper: a second core, kernels that compile (JIT
    on) into a persistent cache with POSIX file locks, a Python to run, not in a helper."""
    return not (os.environ.get(HELPER_ENV) or config.DISABLE_JIT or _cores() < 2
                or _locks_dir() is None or not sys.executable
                or getattr(sys, "frozen", False))


def _start_helper() -> subprocess.Popen | None:
    """Starts ``python -m PIL_ipc.precompile`` where a helper is possible (_helper_possible) and
    none is already at work."""
    if not _helper_possible():
        return None
    with helper_slot() as free:
        if not free:
            return None
    # the helper imports this very package (a checkout on sys.path, say), not another install
    env = {**os.environ, HELPER_ENV: "1", "PYTHONPATH": os.pathsep.join(
        filter(None, [os.path.dirname(PACKAGE_DIR), os.environ.get("PYTHONPATH")]))}
    try:
        return subprocess.Popen([sys.executable, "-m", "PIL_ipc.precompile"], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, close_fds=True)
    except OSError:
        return None


def _finish_helper(helper: subprocess.Popen) -> None:
    """Waits for the helper (its kernels are the next first call's), killing it on an
    interrupt or after HELPER_WAIT_SECONDS."""
    try:
        helper.wait(HELPER_WAIT_SECONDS)
    except BaseException:
        helper.kill()
        helper.wait()
        if not isinstance(sys.exc_info()[1], subprocess.TimeoutExpired):
            raise


_announced: set[str] = set()
_lock = threading.Lock()
_active = threading.local()

F = TypeVar("F", bound=Callable)


def compiles(kind: str) -> Callable[[F], F]:
    """Decorates a public entry point whose first call compiles numba kernels: that call logs
    one INFO line first, saying about how long it takes.  Once a call of this kind has finished
    with this install's kernels cached, a marker file beside them keeps later processes quiet."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if getattr(_active, "depth", 0):  # inside another entry point: it announced
                return function(*args, **kwargs)
            marker = os.path.join(kernel_cache_dir(), f"{kind}-{_sources_digest()}.warm")
            with _lock:
                cold = kind not in _announced and not os.path.exists(marker)
                _announced.add(kind)
            helper = None
            if cold:
                folder = kernel_cache_dir()
                other = "decode" if kind == "encode" else "encode"
                other_done = os.path.exists(
                    os.path.join(folder, f"{other}-{_sources_digest()}.warm"))
                late = kind == "decode" and other_done
                # a second process compiles the dearest kernels, those this call reaches last,
                # unless a first call of the other kind has (its helper compiled them)
                if not other_done:
                    helper = _start_helper()
                two = helper is not None or (late and _helper_possible())
                seconds = FIRST_CALL_SECONDS if two else FIRST_CALL_SECONDS_ALONE
                if os.path.dirname(folder) == cache_root():
                    where = f"they are cached in {folder} for later runs"
                else:
                    where = (f"they cannot be cached ({cache_root()} is not writable), so "
                             "every new process compiles them again")
                _log.info("compiling the numba kernels for the first %s, about %d s%s; %s",
                          kind, seconds["decode after encode" if late else kind],
                          " (on 2 cores)" if two else "", where)
            _active.depth = 1
            try:
                result = function(*args, **kwargs)
            finally:
                _active.depth = 0
                if helper is not None:
                    _finish_helper(helper)
            if cold:
                try:
                    with open(marker, "wb"):
                        pass
                except OSError:
                    pass
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


K = TypeVar("K", bound=Callable)


def _compile_locked(name: str, compile_: Callable, *args, **kwargs):
    """``compile_(*args, **kwargs)`` (a compile, or a load from the cache) under the kernel's
    cross-process lock, unless this thread is compiling already: a kernel compiled inside
    another's compile takes no lock, so a process waits on no other while it holds one."""
    if global_compiler_lock.is_locked():
        return compile_(*args, **kwargs)
    with compile_lock(name):
        return compile_(*args, **kwargs)


def kernel(signature: str | None = None, **options) -> Callable[[K], K]:
    """``numba.njit(cache=True, nogil=True, **options)``, for the one ``signature`` only when
    one is given.  Every kernel of the package is declared with it (so every kernel is cached
    outside the package and releases the GIL).  Without a signature numba compiles the kernel
    for the argument types of each call: the solver's kernels, which run in float32 and in
    float64, and the encoder's analysis kernels are declared so.

    ``signature`` lists the argument types in numba's notation, e.g. ``"uint8[::1], int64"``
    (``[::1]``: C-contiguous; the return type is inferred).  Unlike a signature given to
    ``njit``, it is compiled (or loaded from the cache) lazily, on the kernel's first call from
    Python or when a kernel calling it is first compiled: a process loads only the kernels its
    work calls.  From then on the kernel compiles nothing else: a call whose arguments numba
    can convert safely (a literal, a writable array for a read-only one) uses it, any other is
    a TypeError.
    """
    options = {"cache": True, "nogil": True, **options}
    argtypes = None if signature is None else f"({signature},)"

    def decorate(py_func: K) -> K:
        dispatcher = numba.njit(**options)(py_func)
        if not isinstance(dispatcher, Dispatcher):
            # (not a Dispatcher under NUMBA_DISABLE_JIT: plain Python)
            return dispatcher
        name = _kernel_name(dispatcher)
        if argtypes is None:
            # a call from Python that finds no compiled signature compiles (or loads) it
            dispatcher._compile_for_args = functools.partial(
                _compile_locked, name, dispatcher._compile_for_args)
            return dispatcher
        get_call_template = dispatcher.get_call_template

        def declare() -> None:
            if dispatcher._can_compile:
                # numba's own (reentrant) lock: the one its compiles hold
                with global_compiler_lock:
                    if dispatcher._can_compile:
                        dispatcher.compile(argtypes)
                        dispatcher.disable_compile()

        def compile_for_args(*args, **kwargs):
            # numba's dispatcher calls this when no compiled signature fits a call from
            # Python; it calls what this returns with the same arguments
            if dispatcher._can_compile:
                _compile_locked(name, declare)
            return dispatcher

        def typed_call(args, kws):
            # a kernel calling this one is being compiled
            declare()
            return get_call_template(args, kws)

        dispatcher._compile_for_args = compile_for_args
        dispatcher.get_call_template = typed_call
        dispatcher.declared_signature = argtypes
        return dispatcher  # type: ignore[return-value]

    return decorate
