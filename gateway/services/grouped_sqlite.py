"""The predict path's statements on a SQLite file, compiled once (core/compiled.py) and run on sqlite3
connections of their own.

Through SQLAlchemy a round trip cost about a millisecond of CPU (pool, transaction, execution context,
result rows) for statements SQLite answers in microseconds. Rules:
1. Reads (a user by subject, a cached answer by key: indexed lookups) run in place, on the event loop's
   own connection, which never waits for a lock: in WAL mode a read does not wait for writers and takes
   less CPU than the hop to a thread would (like the upload store's one stat). A read that finds the
   database busy all the same (a checkpoint or a recovery holding it) runs in a thread instead, which
   waits for it up to the busy timeout.
2. Writes (a group of rows, one transaction) run in one hop to a thread, on that thread's connection: a
   write may wait for another process's transaction.
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
from gateway.core.db import SQLITE_BUSY_TIMEOUT_S, sqlite_pragmas
from gateway.models import CacheKey, PredictionValues, User
from gateway.services.grouped_db import RUNNERS, TopKRows

T = TypeVar("T")
BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SqliteStatements:
    reads_in_place = True

    def __init__(self, path: Path) -> None:
        self._path = path
        self._statements = crud.CompiledPredictStatements(SQLiteDialect_pysqlite())
        self._threads = ThreadPoolExecutor(RUNNERS, thread_name_prefix="grouped-db")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._in_place: sqlite3.Connection | None = None

    async def close(self) -> None:
        self._threads.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._in_place = None

    async def users(self, subjects: Collection[str]) -> dict[str, User]:
        return await self._read(lambda conn: self._users(conn, subjects))

    async def cached(self, keys: Collection[CacheKey]) -> dict[CacheKey, TopKRows]:
        return await self._read(lambda conn: self._cached(conn, keys))

    async def add(self, rows: Sequence[PredictionValues]) -> list[int]:
        return await self._run(lambda conn: self._add(conn, rows))

    def _users(self, conn: sqlite3.Connection, subjects: Collection[str]) -> dict[str, User]:
        statements, found = self._statements, {}
        for subject in subjects:
            raw = conn.execute(statements.user.sql, statements.user_parameters(subject)).fetchone()
            if raw is not None:
                found[subject] = statements.user_of(raw)
        return found

    def _cached(self, conn: sqlite3.Connection, keys: Collection[CacheKey]) -> dict[CacheKey, TopKRows]:
        statements, found = self._statements, {}
        for key in keys:
            raw = conn.execute(statements.top_k.sql, statements.key_parameters(key)).fetchone()
            if raw is not None:
                found[key] = statements.top_k_of(raw)
        return found

    def _add(self, conn: sqlite3.Connection, rows: Sequence[PredictionValues]) -> list[int]:
        """All rows in one transaction, or none of them if one is refused; their ids."""
        ids = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for row in rows:
                cursor = conn.execute(self._statements.insert.sql, self._statements.row_parameters(row))
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
        return ids

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Rule 1."""
        try:
            return work(self._in_place_connection())
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in BUSY:  # the primary code of an extended one
                raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
        except sqlite3.Error as exc:
            raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
        return await self._run(work)

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
            connection = self._local.connection = self._open(SQLITE_BUSY_TIMEOUT_S)
        return connection

    def _in_place_connection(self) -> sqlite3.Connection:
        if self._in_place is None:
            self._in_place = self._open(0)
        return self._in_place

    def _open(self, busy_timeout_s: float) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self._path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            sqlite_pragmas(connection, None)
        except BaseException:
            connection.close()
            raise
        with self._lock:
            self._connections.append(connection)
        return connection
