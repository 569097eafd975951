"""RedisSessionStore on the machine's Redis: a session is kept under the SHA-256 of its id until the token's
`exp`, two stores on one Redis share it, ending it ends it for both, and Redis unreachable raises
SessionsUnavailableError (the page's fail-closed signal) for each operation."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time

import pytest
import redis

from frontend.sessions import RedisSessionStore, SessionsUnavailableError
from tests.gateway.redis_server import REDIS_URL, down_url


def token(exp: float) -> str:
    """A JWT-shaped token (the store reads `exp`, unverified; the gateway verifies)."""
    payload = base64.urlsafe_b64encode(json.dumps({"sub": "1", "exp": exp}).encode()).rstrip(b"=")
    return f"eyJhbGciOiJIUzI1NiJ9.{payload.decode()}.signature"


async def test_a_session_is_shared_hashed_and_expires_with_its_token(redis_prefix: str) -> None:
    one, two = (
        RedisSessionStore(REDIS_URL, redis_prefix, 3600),
        RedisSessionStore(REDIS_URL, redis_prefix, 3600),
    )
    plain = redis.Redis.from_url(REDIS_URL)
    try:
        exp = time.time() + 600
        session_id, session = await one.create(token(exp), "Ann", "ann@example.com", is_admin=True)
        assert session.expires_at == exp  # the token ends first
        key = redis_prefix + hashlib.sha256(session_id.encode()).hexdigest()
        assert [k.decode() for k in plain.scan_iter(f"{redis_prefix}*")] == [key]
        assert session_id.encode() not in (plain.get(key) or b"")
        assert plain.pexpiretime(key) == math.ceil(exp * 1000)
        assert await two.get(session_id) == session
        assert await two.get(session_id + "x") is None
        await two.end(session_id)
        assert await one.get(session_id) is None
        assert plain.exists(key) == 0

        capped, _ = await one.create(token(time.time() + 10 * 3600), "Bo", "bo@example.com")
        ttl = plain.ttl(redis_prefix + hashlib.sha256(capped.encode()).hexdigest())
        assert 3500 < ttl <= 3600  # at most max_seconds, whatever the token says
    finally:
        await one.close()
        await two.close()
        plain.close()


async def test_redis_unreachable_is_unavailable_not_signed_out() -> None:
    store = RedisSessionStore(down_url(), "page-test-down:", 3600)
    try:
        with pytest.raises(SessionsUnavailableError):
            await store.create(token(time.time() + 600), "Ann", "ann@example.com")
        with pytest.raises(SessionsUnavailableError):
            await store.get("some-id")
        with pytest.raises(SessionsUnavailableError):
            await store.end("some-id")
        assert await store.get(None) is None  # no cookie: nothing to ask Redis
    finally:
        await store.close()
