"""The machine's Redis (127.0.0.1:6379) for the limiter and page-session tests: a DB number and a key prefix
of their own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from stack.procs import free_port

REDIS_DB = 11  # the gateway tests' own database on the shared server
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"


def down_url() -> str:
    """A Redis URL where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
