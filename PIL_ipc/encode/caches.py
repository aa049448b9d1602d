"""Caches of the planner, shared by the scoring threads of a search."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict

import numpy as np


def array_bytes(value: object) -> int:
    """Bytes of the numpy arrays in a cached value: an array, or a tuple, list or dataclass
    of them (other parts count nothing; an array shared by two values counts in each)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(array_bytes(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(array_bytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0


class _Bounded:
    """Entries in the order they were last used, and the bytes of their arrays (array_bytes)
    when there is a ``limit`` on those (None: no bound); threads may share it."""

    def __init__(self, items: dict | None = None, limit: int | None = None):
        self._items: OrderedDict = OrderedDict(items or {})
        self.limit = limit
        self._bytes: dict = {}
        self._total = 0
        self._lock = threading.Lock()

    def _store(self, key: object, value: object) -> None:
        """Add an entry (under the lock)."""
        self._items[key] = value
        self._bytes[key] = array_bytes(value) if self.limit is not None else 0
        self._total += self._bytes[key]

    def _evict(self, size: int | None = None) -> None:
        """Drop the entries used longest ago while there are more than ``size`` or their
        arrays pass the limit, always keeping the last one (under the lock)."""
        while len(self._items) > 1 and (
                (size is not None and len(self._items) > size)
                or (self.limit is not None and self._total > self.limit)):
            old, _ = self._items.popitem(last=False)
            self._total -= self._bytes.pop(old, 0)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held (0 when the cache has no ``limit``)."""
        return self._total

    def clear(self) -> None:
        """Drop every entry (a thread making one still stores it)."""
        with self._lock:
            self._items.clear()
            self._bytes.clear()
            self._total = 0

    def __len__(self) -> int:
        return len(self._items)


class Recent(_Bounded):
    """A cache of the ``size`` entries used last, and of no more than ``limit`` bytes of
    arrays (array_bytes; None: no bound) besides the last one (threads may share it)."""

    def __init__(self, size: int, limit: int | None = None):
        super().__init__(limit=limit)
        self.size = size

    def get(self, key: object) -> object | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: object, value: object) -> object:
        """Store ``value`` (or keep the one another thread stored meanwhile); return it."""
        with self._lock:
            if key not in self._items:
                self._store(key, value)
            value = self._items[key]
            self._items.move_to_end(key)
            self._evict(self.size)
            return value


class Once(_Bounded):
    """A cache whose values are made once: a thread asking for a key that another thread is
    making waits for it (the scoring threads start alike and would otherwise make the same
    gradient and edge planes side by side).  ``limit``: bytes of arrays (array_bytes) kept
    at most besides the last value made; the values used longest ago go first, and are made
    again if asked for (None: every value is kept)."""

    def __init__(self, items: dict | None = None, limit: int | None = None):
        super().__init__(items, limit)
        self._locks: dict = {}

    def get(self, key: object, make) -> object:
        """The value of ``key``, made by ``make()`` if no thread made it yet."""
        with self._lock:
            if key in self._items:
                if self.limit is not None:
                    self._items.move_to_end(key)
                return self._items[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            value = make()
            with self._lock:
                self._store(key, value)
                self._evict()
            return value

    def keys(self) -> list:
        with self._lock:
            return list(self._items)

    def __getitem__(self, key: object) -> object:
        return self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items
