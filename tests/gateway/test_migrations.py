"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import gateway.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from gateway.core.db import alembic_config


async def test_head_matches_the_models(fresh_database_url: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(fresh_database_url), "head")

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [
            diff
            for diff in compare_metadata(context, SQLModel.metadata)
            if not (
                isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version"
            )
        ]

    engine = create_async_engine(fresh_database_url)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(differences)
    finally:
        await engine.dispose()
    assert found == []
