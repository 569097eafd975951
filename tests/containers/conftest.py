"""The container suite: `make test-containers`. A real Docker engine (the local one where none answers), the
compose files as shipped with the embedded model server, every request through the proxy's published port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers import engine as engines
from tests.containers.client import sign_up_and_in
from tests.containers.compose import UP_TIMEOUT_SECONDS, Stack, write_env_file


@pytest.fixture(scope="session")
def engine() -> Iterator[engines.Engine]:
    try:
        provided = engines.provide()
    except LookupError as reason:
        pytest.skip(str(reason))
    yield provided
    engines.release(provided)


@pytest.fixture(scope="session")
def stack(engine: engines.Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env_file: Path = tmp_path_factory.mktemp("compose") / "containers.env"
    values = write_env_file(env_file, engine.env)
    running = Stack(env_file, values, engine.env)
    running.make("down", "VOLUMES=1")  # a project left by an interrupted run
    started = time.monotonic()
    up = running.make("up", timeout=UP_TIMEOUT_SECONDS)
    running.up_seconds = time.monotonic() - started
    print(up.stdout[-2000:], up.stderr[-4000:])
    yield running
    running.make("down", "VOLUMES=1")


@pytest.fixture(scope="session")
def token(stack: Stack) -> str:
    signed_in = sign_up_and_in(stack.gateway_url, "containers@example.com")
    stack.wait_serving_through_proxy(signed_in)
    return signed_in
