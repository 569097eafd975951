"""The predict path's database round trips, each shared by every request in flight (core/grouped.py): the
token's user, looked up before the body is read; the caller's earlier answer for these bytes (the cache);
the prediction row, written once answered.

Nothing is cached: every request's user is read after it arrived and every row is committed before its
answer is sent, so a deleted user's token is refused at once and an acknowledged prediction is stored. A
group of rows that the database refuses as a whole for one row's sake (IntegrityError: a user deleted in
the meantime) is written again row by row, so only that row's request fails. A group's statements run on
the database's own driver (grouped_sqlite.py, grouped_postgres.py), or through the engine (EngineStatements:
any other database, and the reference the drivers are tested against).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import crud
from gateway.core.grouped import GroupRunner
from gateway.models import CacheKey, PredictionValues, User

RUNNERS = 3  # users, cache, rows: each runs one group at a time
TopKRows = list[dict[str, Any]]
"""A prediction's stored top_k column: [{"label": …, "score": …}, …]."""


class GroupStatements(Protocol):
    """One group's statements, on one connection each; `add` stores every row of the group or none of
    them (IntegrityError when the database refuses one) and answers their ids. With `reads_in_place`, the
    reads take no round trip (no hop to another thread to share), so they are not grouped."""

    reads_in_place: bool

    async def users(self, subjects: Collection[str]) -> dict[str, User]: ...

    async def cached(self, keys: Collection[CacheKey]) -> dict[CacheKey, TopKRows]: ...

    async def add(self, rows: Sequence[PredictionValues]) -> list[int]: ...

    async def close(self) -> None: ...


class EngineStatements:
    """Through the async engine, each group's statements in one transaction through one `run_sync`: any
    database without a driver of its own here (an in-memory SQLite), and the reference the drivers'
    statements are tested against."""

    reads_in_place = False

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def users(self, subjects: Collection[str]) -> dict[str, User]:
        async with self._engine.begin() as conn:
            return await conn.run_sync(crud.get_users_by_subjects, subjects)

    async def cached(self, keys: Collection[CacheKey]) -> dict[CacheKey, TopKRows]:
        async with self._engine.begin() as conn:
            return await conn.run_sync(crud.find_cached_predictions, keys)

    async def add(self, rows: Sequence[PredictionValues]) -> list[int]:
        async with self._engine.begin() as conn:
            return await conn.run_sync(crud.add_predictions, rows)

    async def close(self) -> None:
        pass  # the engine is the application's


class GroupedDatabase:
    def __init__(self, statements: GroupStatements, max_group: int = 64) -> None:
        self.statements = statements
        self._users: GroupRunner[str, User | None] = GroupRunner(self._find_users, max_group)
        self._rows: GroupRunner[PredictionValues, int] = GroupRunner(self._add_rows, max_group)
        self._cached: GroupRunner[CacheKey, TopKRows | None] = GroupRunner(self._find_cached, max_group)

    async def close(self) -> None:
        await self.statements.close()

    async def user(self, subject: str) -> User | None:
        """The user a token's subject names, read now (None: no such user, e.g. deleted)."""
        if self.statements.reads_in_place:
            return (await self.statements.users({subject})).get(subject)
        return await self._users.submit(subject)

    async def cached(self, key: CacheKey) -> TopKRows | None:
        """The top-k of one of the key's user's own predictions of these bytes by this model version."""
        if self.statements.reads_in_place:
            return (await self.statements.cached({key})).get(key)
        return await self._cached.submit(key)

    async def record(self, row: PredictionValues) -> int:
        """The row committed; its id."""
        return await self._rows.submit(row)

    async def _find_users(self, subjects: Sequence[str]) -> list[User | None]:
        found = await self.statements.users(set(subjects))
        return [found.get(subject) for subject in subjects]

    async def _find_cached(self, keys: Sequence[CacheKey]) -> list[TopKRows | None]:
        found = await self.statements.cached(set(keys))
        return [found.get(key) for key in keys]

    async def _add_rows(self, rows: Sequence[PredictionValues]) -> Sequence[int | BaseException]:
        try:
            return await self.statements.add(rows)
        except IntegrityError:
            if len(rows) == 1:
                raise
        results: list[int | BaseException] = []
        for row in rows:
            try:
                results.extend(await self.statements.add([row]))
            except IntegrityError as exc:
                results.append(exc)
        return results
