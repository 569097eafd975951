"""The predict path's grouped statements on a SQLite file: a group in one hop to a thread of its own, its
statements compiled once (core/compiled.py) and run on that thread's own sqlite3 connection.

Through SQLAlchemy a round trip cost about a millisecond of CPU (pool, transaction, execution context,
result rows) for a statement SQLite answers in microseconds; here what is left is mostly the thread hop.
The connections get the engine's pragmas and busy timeout (core/db.py). A driver error
is raised as SQLAlchemy's wrapper of it (IntegrityError, OperationalError, …), as the engine's path
raises it, so the gateway's handlers answer it the same way.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.exc import DBAPIError

from gateway import crud
from gateway.core.compiled import CompiledStatement
from gateway.core.db import SQLITE_BUSY_TIMEOUT_S, sqlite_pragmas
from gateway.models import CacheKey, Prediction, User
from gateway.services.grouped_db import RUNNERS, TopKRows

T = TypeVar("T")


class SqliteStatements:
    def __init__(self, path: Path) -> None:
        self._path = path
        dialect = SQLiteDialect_pysqlite()
        self._user = CompiledStatement(crud.USER_BY_SUBJECT, dialect)
        self._top_k = CompiledStatement(crud.CACHED_TOP_K, dialect)
        self._insert = CompiledStatement(crud.INSERT_PREDICTION, dialect)
        self._threads = ThreadPoolExecutor(RUNNERS, thread_name_prefix="grouped-db")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    async def users(self, subjects: Collection[str]) -> dict[str, User]:
        return await self._run(lambda conn: self._users(conn, subjects))

    async def cached(self, keys: Collection[CacheKey]) -> dict[CacheKey, TopKRows]:
        return await self._run(lambda conn: self._cached(conn, keys))

    async def add(self, rows: Sequence[Prediction]) -> None:
        await self._run(lambda conn: self._add(conn, rows))

    def _users(self, conn: sqlite3.Connection, subjects: Collection[str]) -> dict[str, User]:
        found = {}
        for subject in subjects:
            raw = conn.execute(self._user.sql, self._user.parameters({"subject": subject})).fetchone()
            if raw is not None:
                found[subject] = User(**self._user.row(raw))
        return found

    def _cached(self, conn: sqlite3.Connection, keys: Collection[CacheKey]) -> dict[CacheKey, TopKRows]:
        found = {}
        names = [column.key for column in crud.CACHE_KEY_COLUMNS]
        for key in keys:
            raw = conn.execute(self._top_k.sql, self._top_k.parameters(dict(zip(names, key, strict=True))))
            if (row := raw.fetchone()) is not None:
                found[key] = self._top_k.row(row)["top_k"]
        return found

    def _add(self, conn: sqlite3.Connection, rows: Sequence[Prediction]) -> None:
        """All rows in one transaction, ids set on them once it committed; none stored if one is refused."""
        ids = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for row in rows:
                values = self._insert.parameters(row.model_dump(exclude={"id"}))
                ids.append(conn.execute(self._insert.sql, values).lastrowid)
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
        for row, row_id in zip(rows, ids, strict=True):
            row.id = row_id

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def in_thread() -> T:
            try:
                return work(self._connection())
            except sqlite3.Error as exc:
                raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc

        return await asyncio.get_running_loop().run_in_executor(self._threads, in_thread)

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened at its first group (autocommit: `_add` opens its transaction)."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            try:
                sqlite_pragmas(connection, None)
            except BaseException:
                connection.close()
                raise
            with self._lock:
                self._connections.append(connection)
            self._local.connection = connection
        return connection
