"""The predict path's grouped statements on PostgreSQL, compiled once (core/compiled.py) and run on the
asyncpg connection itself.

Through SQLAlchemy's asyncio engine a round trip cost 1.3–1.6 ms of the gateway's CPU, most of it greenlet
hand-offs (pool checkout, pre-ping, reset on return), for statements asyncpg runs in a few hundredths of
a millisecond. Rules:
1. Each runner (users, cache, rows: one group at a time each) keeps one of the engine's pooled
   connections checked out (SQLAlchemy's pool, connect arguments and type codecs), so a group costs no
   checkout: each worker process keeps three of its DB_POOL_SIZE connections so.
2. A kept connection the server has closed (a restart: asyncpg sees the socket end) is given up before
   use and another checked out. One that fails during a group (otherwise than by the server refusing a
   statement) is invalidated; a read group is then run once more on a new connection, a write group is
   not (its commit may have happened) and fails, as it would have through the engine.
3. The statements are the ones of a SQLite file (one key or row each): in a group they run one after
   another on the same connection, the rows of a group in one transaction. A group of n keys is n round
   trips: cheap to a database on the same host or network (~0.05 ms each), the cost to watch with a
   distant one (multi-key statements, `= ANY($1)` and `unnest`, would make it one).
4. asyncpg's errors are raised as SQLAlchemy's wrapper of them (IntegrityError, ProgrammingError …), as
   the engine raises them, so the gateway's handlers answer them alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, NoReturn, TypeVar

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway import crud
from gateway.models import CacheKey, PredictionValues, User
from gateway.services.grouped_db import TopKRows

T = TypeVar("T")
Driver = Any  # asyncpg.Connection, through SQLAlchemy's adapter


class PostgresStatements:
    reads_in_place = False

    def __init__(self, engine: AsyncEngine) -> None:
        dialect = engine.dialect
        self._dbapi = dialect.loaded_dbapi
        self._statements = crud.CompiledPredictStatements(dialect)
        self._users = _KeptConnection(engine)
        self._cache = _KeptConnection(engine)
        self._rows = _KeptConnection(engine)

    async def close(self) -> None:
        for kept in (self._users, self._cache, self._rows):
            await kept.close()

    async def users(self, subjects: Collection[str]) -> dict[str, User]:
        statements = self._statements

        async def work(driver: Driver) -> dict[str, User]:
            found = {}
            for subject in subjects:
                raw = await driver.fetchrow(statements.user.sql, *statements.user_parameters(subject))
                if raw is not None:
                    found[subject] = statements.user_of(raw)
            return found

        return await self._read(self._users, work)

    async def cached(self, keys: Collection[CacheKey]) -> dict[CacheKey, TopKRows]:
        statements = self._statements

        async def work(driver: Driver) -> dict[CacheKey, TopKRows]:
            found = {}
            for key in keys:
                raw = await driver.fetchrow(statements.top_k.sql, *statements.key_parameters(key))
                if raw is not None:
                    found[key] = statements.top_k_of(raw)
            return found

        return await self._read(self._cache, work)

    async def add(self, rows: Sequence[PredictionValues]) -> list[int]:
        """All rows in one transaction, or none of them if one is refused; their ids."""
        statements = self._statements

        async def work(driver: Driver) -> list[int]:
            async with driver.transaction():
                return [
                    await driver.fetchval(statements.insert.sql, *statements.row_parameters(row))
                    for row in rows
                ]

        try:
            return await self._rows.run(work)
        except Exception as exc:
            self._raise_translated(exc)

    async def _read(self, kept: _KeptConnection, work: Callable[[Driver], Awaitable[T]]) -> T:
        """Rule 2: once more on a new connection when the kept one failed."""
        try:
            return await kept.run(work)
        except ConnectionLostError:
            pass
        except Exception as exc:
            self._raise_translated(exc)
        try:
            return await kept.run(work)
        except Exception as exc:
            self._raise_translated(exc)

    def _raise_translated(self, error: Exception) -> NoReturn:
        translated = self._translated(error)
        if translated is error:
            raise error
        raise translated from error

    def _translated(self, error: BaseException) -> BaseException:
        """Rule 4; other errors (a connection refused: OSError) as they are."""
        if isinstance(error, ConnectionLostError) and error.__cause__ is not None:
            error = error.__cause__
        if not isinstance(error, Exception):
            return error
        try:
            AsyncAdapt_asyncpg_connection._handle_exception_no_connection(self._dbapi, error)
        except self._dbapi.Error as translated:
            return DBAPIError.instance(None, None, translated, self._dbapi.Error)
        except Exception as other:
            return other
        return error  # pragma: no cover - the adapter always raises


class ConnectionLostError(Exception):
    """A kept connection failed during a group (its cause says how); it was invalidated."""


class _KeptConnection:
    """Rules 1 and 2 for one runner's connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._driver: Driver = None

    async def run(self, work: Callable[[Driver], Awaitable[T]]) -> T:
        if self._conn is not None and self._driver.is_closed():
            await self._give_up(None)
        if self._conn is None:
            conn = await self._engine.connect()
            try:
                self._driver = (await conn.get_raw_connection()).driver_connection
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        try:
            return await work(self._driver)
        except Exception as exc:
            if isinstance(exc, asyncpg.PostgresError) and not _ends_connection(exc, self._driver):
                raise  # the server refused a statement: the connection is fine
            await self._give_up(exc)
            raise ConnectionLostError(str(exc)) from exc

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def _give_up(self, error: BaseException | None) -> None:
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            try:
                await conn.invalidate(error)
            finally:
                await conn.close()


def _ends_connection(error: Exception, driver: Driver) -> bool:
    """Whether an error the server sent ended the connection too (class 08, an administrator's shutdown)."""
    ending = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError)
    return isinstance(error, ending) or driver.is_closed()
