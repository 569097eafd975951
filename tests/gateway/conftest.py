"""Gateway fixtures: a database per session (SQLite, and PostgreSQL when TEST_DATABASE_URL is set), an
in-process fake model server for unit tests, and the app wired to either."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from contracts import demo
from gateway.core.config import Settings
from tests.gateway.fake_serving import FakeServing
from tests.gateway.helpers import Gateway, running_gateway
from tests.gateway.redis_server import redis_prefix  # noqa: F401  (a fixture of the limiter tests)

TEST_SECRET = "test-secret-key-for-the-gateway-suite"


def _plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _execute(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(_plain_dsn(server_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _temporary_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """A new PostgreSQL database on the server of `server_url`, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _execute(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await _execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """Every gateway test that touches the database runs once per backend; PostgreSQL gets a fresh
    database for the session, dropped at the end."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'gateway.db'}"
        return
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        pytest.skip("TEST_DATABASE_URL is not set")
    async with _temporary_database(server, "gateway_test") as url:
        yield url


@pytest.fixture(scope="session")
def upload_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="session")
def gateway_settings(database_url: str, upload_root: Path) -> Callable[..., Settings]:
    """Settings for a test app; keyword arguments override."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "database_url": database_url,
            "upload_dir": upload_root / uuid.uuid4().hex[:8],
            "secret_key": TEST_SECRET,
            "serving_timeout_seconds": 5.0,
            "model_status_ttl_seconds": 0.0,
            # The suite signs many users up and in from one address; test_abuse.py tests the limits.
            "login_failures_per_ip": 100_000,
            "login_failures_per_account": 100_000,
            "signups_per_ip": 100_000,
        }
        return Settings(**{**values, **overrides})

    return make


@pytest.fixture(scope="session")
async def fake_server() -> AsyncIterator[FakeServing]:
    server = await FakeServing().start()
    yield server
    await server.stop()


@pytest.fixture
def fake(fake_server: FakeServing) -> FakeServing:
    """The fake model server, behaving normally again at the start of each test."""
    fake_server.reset()
    return fake_server


@pytest.fixture(scope="session")
async def api(gateway_settings: Callable[..., Settings], fake_server: FakeServing) -> AsyncIterator[Gateway]:
    """The app on this session's database, talking to the fake model server."""
    async with running_gateway(gateway_settings(serving_target=fake_server.target)) as gateway:
        yield gateway


@pytest.fixture(scope="session")
async def admin_headers(api: Gateway) -> dict[str, str]:
    return await api.login(demo.ADMIN_EMAIL, demo.ADMIN_PASSWORD)


@pytest.fixture(scope="session")
async def user(api: Gateway) -> tuple[dict, dict[str, str]]:
    """A user shared by the tests of this session (public fields) and its Authorization header."""
    return await api.sign_up()


@pytest.fixture
async def fresh_user(api: Gateway) -> tuple[dict, dict[str, str]]:
    """A user of this test only."""
    return await api.sign_up()


# ---- a real `python -m serving` (slow tests) -------------------------------------------------------

SERVED_MODEL = "tiny"


@pytest.fixture(scope="session")
def serving_a(start_shared_serving, tiny_model_base: Path):
    """A real model server (the tiny model, served as `tiny`), shared by the session."""
    return start_shared_serving(tiny_model_base, SERVED_MODEL)


@pytest.fixture(scope="session")
async def real_api(gateway_settings, serving_a) -> AsyncIterator[Gateway]:
    """The app on this session's database, talking to the real model server."""
    settings = gateway_settings(
        serving_target=serving_a.grpc_target,
        model_name=SERVED_MODEL,
        serving_timeout_seconds=30.0,
        model_status_ttl_seconds=5.0,
    )
    async with running_gateway(settings) as gateway:
        yield gateway


@pytest.fixture(scope="module")
async def fresh_database_url(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """An empty database on this session's backend (for start-up and migration tests)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fresh') / 'fresh.db'}"
        return
    async with _temporary_database(database_url, "gateway_fresh") as url:
        yield url
