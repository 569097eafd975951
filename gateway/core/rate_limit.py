"""In-memory token buckets for sign-in and registration attempts (per worker process).

Each key (a client address or an account) may spend `limit` attempts at once, then earns one back every
`window / limit` seconds. A refused attempt learns how long to wait (Retry-After). The number of keys
kept is bounded: the least recently used are forgotten first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_KEYS = 100_000


class RateLimiter:
    def __init__(
        self,
        limit: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.capacity = float(limit)
        self.rate = limit / window_seconds  # tokens per second
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - at) * self.rate)

    def acquire(self, key: str) -> float | None:
        """Spend one attempt: None when allowed, else the seconds until the next one is."""
        now = self.clock()
        tokens = self._tokens(key, now)
        if tokens < 1:
            return (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return None

    def refund(self, key: str) -> None:
        """Give back an attempt that turned out not to count (a successful sign-in)."""
        now = self.clock()
        if key in self._buckets:
            self._buckets[key] = (min(self.capacity, self._tokens(key, now) + 1), now)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def acquire_all(limiters: list[tuple[RateLimiter, str]]) -> float | None:
    """Spend one attempt from each (limiter, key), or none of them: the longest wait when one refuses."""
    spent: list[tuple[RateLimiter, str]] = []
    for limiter, key in limiters:
        wait = limiter.acquire(key)
        if wait is not None:
            for done, done_key in spent:
                done.refund(done_key)
            return wait
        spent.append((limiter, key))
    return None
