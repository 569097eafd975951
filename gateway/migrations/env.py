"""Alembic environment (async). Several gateway workers may start at once: PostgreSQL serialises them
with an advisory lock, SQLite with a lock file beside the database."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import gateway.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from gateway.core.config import get_settings
from gateway.core.db import PRIVATE, sqlite_path

MIGRATION_LOCK_ID = 0x6761_7465  # "gate": any constant shared by every worker
config = context.config
database_url: str = config.attributes.get("database_url") or get_settings().database_url
target_metadata = SQLModel.metadata
if "database_url" not in config.attributes and not logging.getLogger().handlers:  # the alembic CLI
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@contextlib.contextmanager
def sqlite_file_lock() -> Iterator[None]:
    path = sqlite_path(database_url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".migrate.lock")
    with open(os.open(lock_path, os.O_CREAT | os.O_WRONLY, PRIVATE), "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def run_migrations_offline() -> None:
    context.configure(url=database_url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Held until this transaction ends; the next worker then sees the new version and does nothing.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    with sqlite_file_lock():
        asyncio.run(run_migrations_online())
