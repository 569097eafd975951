"""The predict path's database round trips, each shared by every request in flight (core/grouped.py): the
token's user, looked up before the body is read; the caller's earlier answer for these bytes (the cache);
the prediction row, written once answered. Each group holds a connection only while it runs.

Nothing is cached: every request's user is read after it arrived and every row is committed before its
answer is sent, so a deleted user's token is refused at once and an acknowledged prediction is stored. A
group of rows that the database refuses as a whole for one row's sake (IntegrityError: a user deleted in
the meantime) is written again row by row, so only that row's request fails.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import crud
from gateway.core.grouped import GroupRunner
from gateway.models import CacheKey, Prediction, User

T = TypeVar("T")
RUNNERS = 3  # users, cache, rows: each runs one group at a time
TopKRows = list[dict[str, Any]]
"""A prediction's stored top_k column: [{"label": …, "score": …}, …]."""


class GroupedDatabase:
    """`engine` serves PostgreSQL (each group's statements through one `run_sync`); with `sqlite` (a
    synchronous engine on the same file) each group's statements run in one hop to a thread of its own."""

    def __init__(self, engine: AsyncEngine, sqlite: Engine | None = None, max_group: int = 64) -> None:
        self._engine = engine
        self._sqlite = sqlite
        self._threads = ThreadPoolExecutor(RUNNERS, thread_name_prefix="grouped-db") if sqlite else None
        self._users: GroupRunner[str, User | None] = GroupRunner(self._find_users, max_group)
        self._rows: GroupRunner[Prediction, Prediction] = GroupRunner(self._add_rows, max_group)
        self._cached: GroupRunner[CacheKey, TopKRows | None] = GroupRunner(self._find_cached, max_group)

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        if self._sqlite is not None:
            self._sqlite.dispose()

    async def user(self, subject: str) -> User | None:
        """The user a token's subject names, read now (None: no such user, e.g. deleted)."""
        return await self._users.submit(subject)

    async def cached(self, key: CacheKey) -> TopKRows | None:
        """The top-k of one of the key's user's own predictions of these bytes by this model version."""
        return await self._cached.submit(key)

    async def record(self, prediction: Prediction) -> Prediction:
        """`prediction` committed, with its id."""
        return await self._rows.submit(prediction)

    async def _transaction(self, work: Callable[[Connection], T]) -> T:
        """`work` in one transaction, committed when it returns."""
        if self._sqlite is None or self._threads is None:
            async with self._engine.begin() as conn:
                return await conn.run_sync(work)
        sqlite = self._sqlite

        def in_thread() -> T:
            with sqlite.begin() as conn:
                return work(conn)

        return await asyncio.get_running_loop().run_in_executor(self._threads, in_thread)

    async def _find_users(self, subjects: Sequence[str]) -> list[User | None]:
        found = await self._transaction(lambda conn: crud.get_users_by_subjects(conn, set(subjects)))
        return [found.get(subject) for subject in subjects]

    async def _find_cached(self, keys: Sequence[CacheKey]) -> list[TopKRows | None]:
        found = await self._transaction(lambda conn: crud.find_cached_predictions(conn, set(keys)))
        return [found.get(key) for key in keys]

    async def _add_rows(self, rows: Sequence[Prediction]) -> list[Prediction | BaseException]:
        try:
            await self._transaction(lambda conn: crud.add_predictions(conn, rows))
            return list(rows)
        except IntegrityError:
            if len(rows) == 1:
                raise
        results: list[Prediction | BaseException] = []
        for row in rows:
            try:
                await self._transaction(functools.partial(crud.add_predictions, predictions=[row]))
                results.append(row)
            except IntegrityError as exc:
                results.append(exc)
        return results
