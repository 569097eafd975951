"""The predict path's statements on the database's own driver (gateway/services/grouped_sqlite.py on
SQLite, grouped_postgres.py on PostgreSQL) against the engine's (EngineStatements), on the same real
database: the same users, the same cached answers, rows stored with the same values, the driver's errors
raised as SQLAlchemy's; and each driver's own rules."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy import exc as sa_exc
from sqlmodel import select

from gateway import crud
from gateway.models import Prediction, PredictionValues, User, prediction_values
from gateway.services.grouped_db import EngineStatements, GroupStatements
from gateway.services.grouped_postgres import PostgresStatements
from gateway.services.grouped_sqlite import SqliteStatements
from stack.procs import PYTHON, REPO_ROOT
from tests.gateway.helpers import Gateway

NO_SUCH_USER = 2**31 - 2


@pytest.fixture
def statements(api: Gateway) -> tuple[GroupStatements, EngineStatements]:
    """The app's statements (its database's driver) and the engine's, on the app's database."""
    return api.app.state.grouped_db.statements, EngineStatements(api.app.state.engine)


def _row(user_id: int, n: int, **fields: object) -> PredictionValues:
    values: dict[str, object] = {
        "user_id": user_id,
        "md5": f"{n:032x}",
        "image_file_name": f"{n:032x}.png",
        "original_file_name": "Ünïcode photo.png",
        "model_name": "m",
        "model_version": 3,
        "model_label": "canary",
        "label": "tabby",
        "score": 0.625,
        "top_k": [{"label": "tabby", "score": 0.625}, {"label": "tiger cat", "score": 0.125}],
        "cached": False,
        "serving_ms": 12.5,
    }
    return prediction_values(**{**values, **fields})


async def test_users_are_read_as_the_engine_reads_them(
    api: Gateway, statements: tuple[GroupStatements, EngineStatements], fresh_user: tuple[dict, dict]
) -> None:
    driver, engine = statements
    async with api.app.state.sessionmaker() as session:
        subjects = {user.subject for user in (await session.exec(select(User))).all()}
    assert len(subjects) >= 2  # the admin and this test's user at least
    asked = subjects | {"no-such-subject"}
    fast, reference = await driver.users(asked), await engine.users(asked)
    assert set(fast) == subjects
    for subject in subjects:
        assert fast[subject].model_dump() == reference[subject].model_dump()
        assert fast[subject].created_at.tzinfo is not None
        assert type(fast[subject].is_admin) is bool


async def test_rows_are_stored_and_found_as_through_the_engine(
    api: Gateway, statements: tuple[GroupStatements, EngineStatements], fresh_user: tuple[dict, dict]
) -> None:
    driver, engine = statements
    user_id = fresh_user[0]["id"]
    fast_rows = [_row(user_id, 8100 + i) for i in range(3)] + [_row(user_id, 8103, serving_ms=None)]
    reference_rows = [_row(user_id, 8200 + i) for i in range(3)] + [_row(user_id, 8203, serving_ms=None)]
    ids = await driver.add(fast_rows)
    reference_ids = await engine.add(reference_rows)
    assert len(set(ids)) == 4

    async with api.app.state.sessionmaker() as session:
        stored = {row.id: row for row in (await session.exec(select(Prediction))).all()}
    for row, row_id, reference_id in zip(fast_rows, ids, reference_ids, strict=True):
        got, expected = stored[row_id].model_dump(), stored[reference_id].model_dump()
        for differs in ("id", "md5", "image_file_name", "created_at"):
            got.pop(differs), expected.pop(differs)
        assert got == expected
        assert stored[row_id].created_at == row["created_at"]
        assert stored[row_id].md5 == row["md5"]

    keys = [(user_id, row["md5"], "m", 3) for row in fast_rows + reference_rows] + [
        (user_id, "0" * 32, "m", 3)
    ]
    assert await driver.cached(keys) == await engine.cached(keys)
    assert len(await driver.cached(keys)) == 8
    assert (await driver.cached(keys[:1]))[keys[0]] == fast_rows[0]["top_k"]


async def test_a_group_with_a_refused_row_stores_none_and_raises_sqlalchemys_integrity_error(
    api: Gateway, statements: tuple[GroupStatements, EngineStatements], fresh_user: tuple[dict, dict]
) -> None:
    driver, _ = statements
    user_id = fresh_user[0]["id"]
    rows = [_row(user_id, 8300), _row(NO_SUCH_USER, 8301)]  # the foreign key refuses the second
    with pytest.raises(sa_exc.IntegrityError):
        await driver.add(rows)
    assert await driver.cached([(user_id, rows[0]["md5"], "m", 3)]) == {}  # the first was rolled back too
    assert len(await driver.add(rows[:1])) == 1  # the connection is usable again
    assert await driver.cached([(user_id, rows[0]["md5"], "m", 3)]) != {}


async def test_sqlites_errors_are_raised_as_sqlalchemys(tmp_path: Path) -> None:
    """As the engine raises them, so the gateway's handlers answer them alike (OperationalError: 503)."""
    not_migrated = SqliteStatements(tmp_path / "empty.db")
    not_a_database = tmp_path / "not-a-database.db"
    not_a_database.write_bytes(b"this is not a SQLite file" * 100)
    broken = SqliteStatements(not_a_database)
    try:
        with pytest.raises(sa_exc.OperationalError, match="no such table"):
            await not_migrated.users({"someone"})
        with pytest.raises(sa_exc.DatabaseError, match="not a database"):
            await broken.cached([(1, "0" * 32, "m", 1)])
    finally:
        await not_migrated.close()
        await broken.close()


async def test_a_sqlite_read_that_finds_the_database_locked_waits_for_it_in_a_thread(tmp_path: Path) -> None:
    """Rule 1: the in-place read never waits on the event loop; a thread's read waits out the lock. (A
    database still in rollback-journal mode, so that another connection's transaction locks readers out.)"""
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite:///{path}")
    crud.USERS.create(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(crud.USERS).values(subject="s", name="n", email="e@example.com", hashed_password="h")
        )
    engine.dispose()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    statements = SqliteStatements(path)
    try:
        read = asyncio.create_task(statements.users({"s"}))
        await asyncio.sleep(0.3)  # the loop is free meanwhile
        assert not read.done()
        holder.execute("ROLLBACK")
        found = await asyncio.wait_for(read, 10)
    finally:
        holder.close()
        await statements.close()
    assert found["s"].email == "e@example.com"


async def test_a_postgres_connection_the_server_closed_is_replaced_before_use(
    api: Gateway, statements: tuple[GroupStatements, EngineStatements], fresh_user: tuple[dict, dict]
) -> None:
    """grouped_postgres.py's rule 2: after the server ended the kept connections (a restart), the next
    reads and writes go through on new ones."""
    driver, _ = statements
    if not isinstance(driver, PostgresStatements):
        pytest.skip("PostgreSQL's kept connections: this session's database is SQLite")
    public = fresh_user[0]
    async with api.app.state.sessionmaker() as session:
        subject = (await session.exec(select(User).where(User.email == public["email"]))).one().subject
    row = _row(public["id"], 8400)
    assert subject in await driver.users({subject})
    assert len(await driver.add([row])) == 1
    async with api.app.state.engine.connect() as conn:
        ended = await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        assert any(ended.scalars())
    await asyncio.sleep(0.5)  # the closed sockets reach asyncpg
    assert subject in await driver.users({subject})
    assert len(await driver.add([_row(public["id"], 8401)])) == 1
    assert len(await driver.cached([(public["id"], row["md5"], "m", 3)])) == 1


async def test_a_postgres_read_whose_connection_dies_mid_query_is_run_again_on_a_new_one(
    api: Gateway, statements: tuple[GroupStatements, EngineStatements], fresh_user: tuple[dict, dict]
) -> None:
    """grouped_postgres.py's rule 2, mid-group: the server ends the connection while the read waits."""
    driver, _ = statements
    if not isinstance(driver, PostgresStatements):
        pytest.skip("PostgreSQL's kept connections: this session's database is SQLite")
    email = fresh_user[0]["email"]
    async with api.app.state.sessionmaker() as session:
        subject = (await session.exec(select(User).where(User.email == email))).one().subject
    assert subject in await driver.users({subject})  # the runner's connection is kept from here
    async with api.app.state.engine.connect() as holder:
        await holder.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))  # the read waits for it
        read = asyncio.create_task(driver.users({subject}))
        await asyncio.sleep(0.5)
        assert not read.done()
        await holder.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
        )
        await asyncio.sleep(0.5)
        assert not read.done()  # run again, waiting for the lock on a new connection
        await holder.rollback()  # releases the lock
    found = await asyncio.wait_for(read, 10)
    assert found[subject].email == email


def test_a_user_read_by_a_fresh_process_before_any_orm_query_has_its_fields(tmp_path: Path) -> None:
    """crud.user_from_row skips the table model's constructor, which configured SQLAlchemy's mappers: a
    gateway that started while its database was down reads users before any ORM query."""
    code = (
        "from gateway import crud; "
        "user = crud.user_from_row({'id': 7, 'subject': 's', 'name': 'n', 'email': 'e@example.com', "
        "'hashed_password': 'h', 'is_admin': False, 'created_at': None}); print(user.id, user.email)"
    )
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["7", "e@example.com"]


def test_a_new_predictions_values_take_the_models_defaults_and_refuse_other_columns() -> None:
    given = {
        "user_id": 1,
        "md5": "0" * 32,
        "image_file_name": f"{'0' * 32}.png",
        "model_name": "m",
        "model_version": 1,
        "label": "tabby",
        "score": 0.5,
        "top_k": [{"label": "tabby", "score": 0.5}],
    }
    values = prediction_values(**given)
    assert (values["cached"], values["serving_ms"], values["model_label"]) == (False, None, None)
    assert values["created_at"].tzinfo is not None
    assert "id" not in values
    with pytest.raises(TypeError, match="columns"):
        prediction_values(**given, no_such_column=1)
    with pytest.raises(TypeError, match="columns"):
        prediction_values(**given, id=5)
    with pytest.raises(TypeError, match="md5"):
        prediction_values(**{key: value for key, value in given.items() if key != "md5"})
