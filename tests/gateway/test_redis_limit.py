"""The Redis limiter against the real Redis: all-or-none, refunds, waits, expiry, and a Redis that is down."""

from __future__ import annotations

import pytest
import redis

from gateway.core.rate_limit import Bucket, LimiterUnavailableError
from gateway.core.redis_limit import RedisLimiter
from tests.gateway.redis_server import REDIS_URL, down_url

HOUR = 3600.0


async def test_acquire_is_all_or_none_and_refund_gives_back(redis_prefix: str) -> None:
    limiter = RedisLimiter(REDIS_URL, redis_prefix)
    small, big = Bucket("small", 2, HOUR), Bucket("big", 100, HOUR)
    try:
        assert await limiter.acquire([(small, "k"), (big, "k")]) is None
        assert await limiter.acquire([(small, "k"), (big, "k")]) is None
        wait = await limiter.acquire([(big, "k"), (small, "k")])
        assert wait is not None
        assert HOUR / 2 * 0.9 < wait <= HOUR / 2  # one attempt comes back every window / limit
        assert await limiter.acquire([(small, "other")]) is None  # keys are independent
        await limiter.refund([(small, "k")])
        assert await limiter.acquire([(small, "k")]) is None
        await limiter.take([(small, "k"), (big, "k")])  # never refuses, spends where it can
        client = redis.Redis.from_url(REDIS_URL)
        tokens = {
            key.decode(): float(client.hget(key, "tokens") or 0)
            for key in client.scan_iter(f"{redis_prefix}*")
        }
        ttls = [client.pttl(key) for key in client.scan_iter(f"{redis_prefix}*")]
        client.close()
    finally:
        await limiter.close()
    assert sorted(tokens.values())[:2] == pytest.approx([0.0, 1.0], abs=0.01)
    assert min(tokens.values()) >= 0
    assert all(0 < ttl <= (HOUR + 1) * 1000 for ttl in ttls)  # keys expire once they would be full


async def test_a_redis_that_is_down_is_an_error_not_an_allowance() -> None:
    limiter = RedisLimiter(down_url(), "x:")
    try:
        with pytest.raises(LimiterUnavailableError):
            await limiter.acquire([(Bucket("b", 5, 60.0), "k")])
    finally:
        await limiter.close()
