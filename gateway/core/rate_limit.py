"""In-memory token buckets for sign-in and registration attempts (per worker process).

Each key (a client address or an account) may spend `limit` attempts at once, then earns one back every
`window / limit` seconds. A refused attempt learns how long to wait (Retry-After). Keys are kept as
16-byte digests (a caller chooses the account names it tries) and their number is bounded: the least
recently used are forgotten first, so the limiters hold a few MB at most.
"""

from __future__ import annotations

import hashlib
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
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def _tokens(self, key: bytes, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - at) * self.rate)

    def acquire(self, key: str) -> float | None:
        """Spend one attempt: None when allowed, else the seconds until the next one is."""
        now = self.clock()
        key_digest = self._digest(key)
        tokens = self._tokens(key_digest, now)
        if tokens < 1:
            return (1 - tokens) / self.rate
        self._buckets[key_digest] = (tokens - 1, now)
        self._buckets.move_to_end(key_digest)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return None

    def refund(self, key: str) -> None:
        """Give back an attempt that turned out not to count (a successful sign-in)."""
        now = self.clock()
        key_digest = self._digest(key)
        if key_digest in self._buckets:
            self._buckets[key_digest] = (min(self.capacity, self._tokens(key_digest, now) + 1), now)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def acquire_all(limiters: list[tuple[RateLimiter, str]]) -> float | None:
    """Spend one attempt from each (limiter, key), or none of them: the wait of the first that refuses."""
    spent: list[tuple[RateLimiter, str]] = []
    for limiter, key in limiters:
        wait = limiter.acquire(key)
        if wait is not None:
            for done, done_key in spent:
                done.refund(done_key)
            return wait
        spent.append((limiter, key))
    return None
