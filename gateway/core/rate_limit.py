"""Token buckets for sign-in and registration attempts: in this process, or shared through Redis
(gateway/core/redis_limit.py) by every worker of every gateway.

Each key (a client address or an account) of a bucket may spend `limit` attempts at once, then earns one back
every `window / limit` seconds. A refused attempt learns how long to wait (Retry-After). Keys are kept as
16-byte digests (a caller chooses the account names it tries); in process their number is bounded: the
least recently used are forgotten first, so the limiters hold a few MB at most.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

MAX_KEYS = 100_000


def digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(frozen=True)
class Bucket:
    name: str
    limit: int
    window_seconds: float

    @property
    def rate(self) -> float:
        """Attempts earned back per second."""
        return self.limit / self.window_seconds


Spend = tuple[Bucket, str]  # one attempt of one key (a client address, an account) in one bucket


class LimiterUnavailableError(Exception):
    """The shared limiter (Redis) cannot be asked: attempts it guards are refused (fail closed)."""


class Limiter(Protocol):
    async def acquire(self, spends: Sequence[Spend]) -> float | None:
        """Spend one attempt of each, or none of them: None when allowed, else the seconds to wait."""

    async def refund(self, spends: Sequence[Spend]) -> None:
        """Give back attempts that turned out not to count."""

    async def take(self, spends: Sequence[Spend]) -> None:
        """Spend one attempt of each that has one left; never refuses."""

    async def close(self) -> None: ...


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
        return digest(key)

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


class LocalLimiter:
    """The buckets of this worker process alone (no REDIS_URL): N workers x M gateways allow N x M times
    the limits."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.buckets: dict[Bucket, RateLimiter] = {}

    def _of(self, bucket: Bucket) -> RateLimiter:
        if bucket not in self.buckets:
            self.buckets[bucket] = RateLimiter(bucket.limit, bucket.window_seconds, self.clock)
        return self.buckets[bucket]

    async def acquire(self, spends: Sequence[Spend]) -> float | None:
        spent: list[Spend] = []
        for bucket, key in spends:
            wait = self._of(bucket).acquire(key)
            if wait is not None:
                await self.refund(spent)
                return wait
            spent.append((bucket, key))
        return None

    async def refund(self, spends: Sequence[Spend]) -> None:
        for bucket, key in spends:
            self._of(bucket).refund(key)

    async def take(self, spends: Sequence[Spend]) -> None:
        for bucket, key in spends:
            self._of(bucket).acquire(key)

    async def close(self) -> None:
        return None
