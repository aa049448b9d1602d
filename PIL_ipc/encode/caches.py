"""Caches of the planner, shared by the scoring threads of a search."""

from __future__ import annotations

import threading
from collections import OrderedDict


class Recent:
    """A cache of the ``size`` entries used last (threads may share it)."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
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
            value = self._items.setdefault(key, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return value

    def __len__(self) -> int:
        return len(self._items)


class Once:
    """A cache whose values are made once: a thread asking for a key that another thread is
    making waits for it (the scoring threads start alike and would otherwise make the same
    gradient and edge planes side by side)."""

    def __init__(self, items: dict | None = None):
        self._items: dict = dict(items or {})
        self._locks: dict = {}
        self._lock = threading.Lock()

    def get(self, key: object, make) -> object:
        """The value of ``key``, made by ``make()`` if no thread made it yet."""
        try:
            return self._items[key]
        except KeyError:
            pass
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._items:
                value = make()
                with self._lock:
                    self._items[key] = value
            return self._items[key]

    def keys(self) -> list:
        with self._lock:
            return list(self._items)

    def __getitem__(self, key: object) -> object:
        return self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

