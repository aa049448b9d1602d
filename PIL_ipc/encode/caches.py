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


class Recent:
    """A cache of the ``size`` entries used last, and of no more than ``limit`` bytes of
    arrays (array_bytes; None: no bound) besides the last one (threads may share it)."""

    def __init__(self, size: int, limit: int | None = None):
        self.size = size
        self.limit = limit
        self._items: OrderedDict = OrderedDict()
        self._bytes: dict = {}
        self._total = 0
        self._lock = threading.Lock()

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
                self._items[key] = value
                self._bytes[key] = array_bytes(value) if self.limit is not None else 0
                self._total += self._bytes[key]
            value = self._items[key]
            self._items.move_to_end(key)
            while len(self._items) > self.size or (
                    self.limit is not None and self._total > self.limit
                    and len(self._items) > 1):
                old, _ = self._items.popitem(last=False)
                self._total -= self._bytes.pop(old)
            return value

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held (0 when the cache has no ``limit``)."""
        return self._total

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes.clear()
            self._total = 0

    def __len__(self) -> int:
        return len(self._items)


class Once:
    """A cache whose values are made once: a thread asking for a key that another thread is
    making waits for it (the scoring threads start alike and would otherwise make the same
    gradient and edge planes side by side).  ``limit``: bytes of arrays (array_bytes) kept
    at most besides the last value made; the values used longest ago go first, and are made
    again if asked for (None: every value is kept)."""

    def __init__(self, items: dict | None = None, limit: int | None = None):
        self._items: OrderedDict = OrderedDict(items or {})
        self._locks: dict = {}
        self._lock = threading.Lock()
        self.limit = limit
        self._bytes: dict = {}
        self._total = 0

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
                self._items[key] = value
                if self.limit is not None:
                    self._bytes[key] = array_bytes(value)
                    self._total += self._bytes[key]
                    while self._total > self.limit and len(self._items) > 1:
                        old = next(iter(self._items))
                        del self._items[old]
                        self._total -= self._bytes.pop(old, 0)
            return value

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held (0 when the cache has no ``limit``)."""
        return self._total

    def clear(self) -> None:
        """Drop every value (a thread making one still stores it)."""
        with self._lock:
            self._items.clear()
            self._bytes.clear()
            self._total = 0

    def keys(self) -> list:
        with self._lock:
            return list(self._items)

    def __getitem__(self, key: object) -> object:
        return self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items
