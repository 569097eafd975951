"""The sign-in and registration buckets in Redis, shared by every worker of every gateway (REDIS_URL).

One Lua script does each operation on all its keys at once, atomically, with Redis's own clock (the gateways'
clocks never have to agree), so N workers x M gateways allow exactly what the settings say. A bucket that is
full again has no key; the others expire once they would be full.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.core.rate_limit import LimiterUnavailableError, Spend, digest

CONNECT_TIMEOUT_S = 1.0
# KEYS: one per bucket key. ARGV[1]: acquire (all or none) | refund | take (each that can);
# then per key its capacity and its rate (attempts earned back per second).
SCRIPT = """
local mode = ARGV[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local levels = {}
for i, key in ipairs(KEYS) do
  local capacity, rate = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local stored = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(stored[1]), tonumber(stored[2])
  if tokens == nil or at == nil then tokens, at = capacity, now end
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
  if mode == 'acquire' and tokens < 1 then
    return tostring((1 - tokens) / rate)
  end
  levels[i] = tokens
end
for i, key in ipairs(KEYS) do
  local capacity, rate = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local tokens = levels[i]
  if mode == 'refund' then
    tokens = math.min(capacity, tokens + 1)
  elseif tokens >= 1 then
    tokens = tokens - 1
  end
  if tokens >= capacity then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
    redis.call('PEXPIRE', key, math.ceil((capacity - tokens) / rate * 1000) + 1000)
  end
end
return false
"""


class RedisLimiter:
    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self.client = Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S
        )
        self.script = self.client.register_script(SCRIPT)

    def _key(self, spend: Spend) -> str:
        bucket, key = spend
        return f"{self.prefix}{bucket.name}:{digest(key).hex()}"

    async def _run(self, mode: str, spends: Sequence[Spend]) -> float | None:
        if not spends:
            return None
        args: list[str | float] = [mode]
        for bucket, _ in spends:
            args += [bucket.limit, bucket.rate]
        try:
            wait = await self.script(keys=[self._key(spend) for spend in spends], args=args)
        except (RedisError, OSError) as exc:
            raise LimiterUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        return None if wait is None else float(wait)

    async def acquire(self, spends: Sequence[Spend]) -> float | None:
        return await self._run("acquire", spends)

    async def refund(self, spends: Sequence[Spend]) -> None:
        await self._run("refund", spends)

    async def take(self, spends: Sequence[Spend]) -> None:
        await self._run("take", spends)

    async def close(self) -> None:
        await self.client.aclose()
