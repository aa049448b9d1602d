"""The kernels a first call reaches last, compiled in a second process while the first call
compiles the rest: ``python -m PIL_ipc.precompile``.

A first encode or decode with an empty kernel cache spends most of its time compiling, on one
core (numba compiles under one lock per process).  The entry points (``_kernel_cache.compiles``)
start this module in a second process where there is a second core; it compiles the kernels of
:func:`kernels`, the solver's dearest first (an encode reaches them after about half its
compiling, a decode after a third), then those that a decode needs and an encode does not.
Each kernel compiles under its cross-process lock (``_kernel_cache.compile_lock``): a process
reaching a kernel the other is compiling waits for it and loads it from the cache, so nothing
is compiled twice and the result is the same whichever process gets there first.  The list is
only an order: a kernel missing from it is compiled by the process that calls it, one listed
that the work no longer calls costs the helper time, nothing else.  tests/plugin/test_start.py
checks the list against what a decode calls.
"""

from __future__ import annotations

import sys

from numba import types as nt

from . import _kernel_cache
from .format import _jbig_kernels, values
from .solver import _kernels

_F32 = nt.float32[::1]
_U64_2D = nt.uint64[:, ::1]


def kernels() -> list[tuple[object, tuple | None]]:
    """(kernel, signature) in the order compiled; None: the kernel's declared signature."""
    level = (nt.uint64, _U64_2D, nt.uint64, nt.uint64)  # wp, runs, r0, r1: one level
    return [
        # the solver's iteration, float32 vectors (both entry points; about 10 s)
        (_kernels.fcg, (_F32, _F32, _F32, _F32, nt.none, nt.none, _U64_2D, _U64_2D, _F32,
                        _F32, nt.float64, nt.int64, _F32, _F32, _F32, _F32, _F32, _F32)),
        # what a decode calls and an encode does not: the coarse start (about 5 s) ...
        (_kernels.coarse_start, (_F32, _F32, _F32, _F32, _U64_2D, _U64_2D, _U64_2D, _F32,
                                 _F32, nt.float64, nt.float64, nt.int64, nt.int64[:, ::1],
                                 nt.int64, _F32, _F32, _F32, _F32, _F32, _F32)),
        # ... the edge plane's and the values' decoders ...
        (_jbig_kernels.decode_image, None),
        (values._decode, None),
        # ... and the certificate's level operations
        (_kernels.residual_max, (_F32, nt.none, nt.none, _F32, _F32, _F32, *level)),
        (_kernels.matvec, (_F32, nt.none, nt.none, _F32, _F32, *level)),
        (_kernels.min_max_level, (_F32, _F32, _F32, *level[1:])),
        (_kernels.fill_active, (_F32, _F32, nt.float64, *level[1:])),
    ]


def main() -> int:
    """Compile :func:`kernels` (or load them) in order, holding the lock "helper" meanwhile
    (another helper at work: nothing to do)."""
    with _kernel_cache.helper_slot() as free:
        if free:
            for kernel, signature in kernels():
                _kernel_cache.precompile(kernel, signature)
    return 0


if __name__ == "__main__":
    sys.exit(main())
