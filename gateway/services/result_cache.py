"""A small in-process LRU of prediction results in front of the database's cache query.

Keys are per user (a hit must never tell one user what another uploaded). A result is immutable for its
key (the same md5 means the same bytes, and a model version never changes), so
each worker may keep its own copy without any invalidation; a worker that misses asks the database. Users and
tokens are never cached here: a deleted user must be refused at once.
"""

from __future__ import annotations

from collections import OrderedDict

from gateway.models import CacheKey, TopK


class ResultCache:
    def __init__(self, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.max_entries = max_entries
        self._entries: OrderedDict[CacheKey, tuple[TopK, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> tuple[TopK, ...] | None:
        top_k = self._entries.get(key)
        if top_k is not None:
            self._entries.move_to_end(key)
        return top_k

    def put(self, key: CacheKey, top_k: tuple[TopK, ...]) -> None:
        if self.max_entries == 0:
            return
        self._entries[key] = top_k
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
