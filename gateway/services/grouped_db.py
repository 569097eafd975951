"""The predict path's database round trips, each shared by every request in flight (core/grouped.py): the
token's user, looked up before the body is read; the caller's earlier answer for these bytes (the cache);
the prediction row, written once answered. Each group holds a connection only while it runs.

Nothing is cached: every request's user is read after it arrived and every row is committed before its
answer is sent, so a deleted user's token is refused at once and an acknowledged prediction is stored. A
group of rows that the database refuses as a whole for one row's sake (IntegrityError: a user deleted in
the meantime) is written again row by row, so only that row's request fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import crud
from gateway.core.grouped import GroupRunner
from gateway.models import CacheKey, Prediction, User

TopKRows = list[dict[str, Any]]
"""A prediction's stored top_k column: [{"label": …, "score": …}, …]."""


class GroupedDatabase:
    def __init__(self, engine: AsyncEngine, max_group: int = 64) -> None:
        self._engine = engine
        self._users: GroupRunner[str, User | None] = GroupRunner(self._find_users, max_group)
        self._rows: GroupRunner[Prediction, Prediction] = GroupRunner(self._add_rows, max_group)
        self._cached: GroupRunner[CacheKey, TopKRows | None] = GroupRunner(self._find_cached, max_group)

    async def user(self, subject: str) -> User | None:
        """The user a token's subject names, read now (None: no such user, e.g. deleted)."""
        return await self._users.submit(subject)

    async def cached(self, key: CacheKey) -> TopKRows | None:
        """The top-k of one of the key's user's own predictions of these bytes by this model version."""
        return await self._cached.submit(key)

    async def record(self, prediction: Prediction) -> Prediction:
        """`prediction` committed, with its id."""
        return await self._rows.submit(prediction)

    async def _find_users(self, subjects: Sequence[str]) -> list[User | None]:
        async with self._engine.connect() as conn:
            found = await crud.get_users_by_subjects(conn, set(subjects))
        return [found.get(subject) for subject in subjects]

    async def _find_cached(self, keys: Sequence[CacheKey]) -> list[TopKRows | None]:
        async with self._engine.connect() as conn:
            found = await crud.find_cached_predictions(conn, set(keys))
        return [found.get(key) for key in keys]

    async def _add_rows(self, rows: Sequence[Prediction]) -> list[Prediction | BaseException]:
        try:
            async with self._engine.begin() as conn:
                await crud.add_predictions(conn, rows)
            return list(rows)
        except IntegrityError:
            if len(rows) == 1:
                raise
        results: list[Prediction | BaseException] = []
        for row in rows:
            try:
                async with self._engine.begin() as conn:
                    await crud.add_predictions(conn, [row])
                results.append(row)
            except IntegrityError as exc:
                results.append(exc)
        return results
