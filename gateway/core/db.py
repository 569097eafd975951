"""Async SQLAlchemy engine and sessions (SQLite via aiosqlite or PostgreSQL via asyncpg), migrations."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import State

from gateway.core.config import Settings

log = logging.getLogger("gateway.db")
ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"
SQLITE_BUSY_TIMEOUT_S = 30
PG_CONNECT_TIMEOUT_S = 5
PRIVATE = 0o600


def sqlite_path(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    # With WAL, NORMAL syncs at checkpoints instead of at every commit. Safe: a crash of the process loses
    # nothing, and a power loss or OS crash can only lose the last few committed transactions; the database
    # is never corrupted (unlike NORMAL in rollback-journal mode). A lost row is a cache entry or a history
    # line, which is an acceptable price for not paying an fsync per prediction.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def private_file(path: Path) -> None:
    """Create `path` readable and writable by this user only, or take group and other bits off an existing
    one. SQLite gives its -wal and -shm files the mode of the database file."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, PRIVATE)


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if (path := sqlite_path(url)) is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                if file == path or file.exists():
                    private_file(file)
        except OSError as exc:  # reported by /ready and as 503s, like any database that is down
            log.error("cannot create the SQLite file %s: %s", path, exc)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    # a database whose address no longer answers (a stopped container) fails a connect in seconds, not after
    # asyncpg's 60 s: requests get their 503 while it is down
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args={"timeout": PG_CONNECT_TIMEOUT_S},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def alembic_config(database_url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = database_url
    return config


def _upgrade(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


async def run_migrations(database_url: str) -> None:
    """Alembic's async env.py runs its own event loop, so it runs in a worker thread."""
    await asyncio.to_thread(_upgrade, database_url)


async def init_db(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Migrate (when enabled) and create the default admin when absent."""
    from gateway import crud  # crud depends on the models, which env.py also imports

    if settings.run_migrations:
        await run_migrations(settings.database_url)
    async with sessionmaker() as session:
        admin = (settings.admin_name, settings.admin_email, settings.admin_password)
        if await crud.ensure_admin(session, *admin):
            log.info("created the default admin user %s", settings.admin_email)


async def ensure_database(state: State) -> None:
    """`init_db` once per process: at start-up, and again from /ready while the database was down."""
    if state.db_initialized:
        return
    async with state.db_init_lock:
        if not state.db_initialized:
            await init_db(state.settings, state.sessionmaker)
            state.db_initialized = True
