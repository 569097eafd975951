"""Database reads and writes (no HTTP here)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Insert, Select, and_, bindparam, insert, tuple_
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import configure_mappers
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.core.compiled import CompiledStatement
from gateway.core.security import hash_password, verify_password
from gateway.models import (
    CacheKey,
    Feedback,
    FeedbackCreate,
    Prediction,
    PredictionValues,
    User,
    UserCreate,
)


class EmailTakenError(Exception):
    pass


def normalize_email(email: str) -> str:
    return email.strip().lower()


# ---- the predict path's grouped statements (services/grouped_db.py): SQLAlchemy Core, not the ORM, whose
# unit of work costs more CPU than the statements themselves. Through the engine (EngineStatements) a group
# is one statement on a synchronous connection (run_sync) ----------------------------------------------

USERS = User.__table__  # type: ignore[attr-defined]
PREDICTIONS = Prediction.__table__  # type: ignore[attr-defined]
CACHE_KEY_COLUMNS = (
    PREDICTIONS.c.user_id,
    PREDICTIONS.c.md5,
    PREDICTIONS.c.model_name,
    PREDICTIONS.c.model_version,
)


# The same three, one key or row per statement, for the drivers (services/grouped_sqlite.py,
# grouped_postgres.py): compiled once and run on the driver's own connection, a statement costs
# microseconds, far less than SQLAlchemy's execution of it.
USER_BY_SUBJECT: Select[Any] = sa_select(USERS).where(USERS.c.subject == bindparam("subject"))
CACHED_TOP_K: Select[Any] = (
    sa_select(PREDICTIONS.c.top_k)
    .where(and_(*(column == bindparam(column.key) for column in CACHE_KEY_COLUMNS)))
    .limit(1)
)
INSERT_PREDICTION: Insert = insert(PREDICTIONS).values(
    {
        column.key: bindparam(column.key, type_=column.type)
        for column in PREDICTIONS.columns
        if column.key != "id"
    }
)


CACHE_KEY_NAMES = tuple(column.key for column in CACHE_KEY_COLUMNS)


class CompiledPredictStatements:
    """The three statements above compiled for one driver's dialect, and what turns the predict path's
    values into their parameters and their rows into answers."""

    def __init__(self, dialect: Dialect) -> None:
        self.user = CompiledStatement(USER_BY_SUBJECT, dialect)
        self.top_k = CompiledStatement(CACHED_TOP_K, dialect)
        self.insert = CompiledStatement(INSERT_PREDICTION, dialect)

    def user_parameters(self, subject: str) -> tuple[Any, ...]:
        return self.user.parameters({"subject": subject})

    def user_of(self, raw: Sequence[Any]) -> User:
        return user_from_row(self.user.row(raw))

    def key_parameters(self, key: CacheKey) -> tuple[Any, ...]:
        return self.top_k.parameters(dict(zip(CACHE_KEY_NAMES, key, strict=True)))

    def top_k_of(self, raw: Sequence[Any]) -> list[dict[str, Any]]:
        top_k: list[dict[str, Any]] = self.top_k.row(raw)["top_k"]
        return top_k

    def row_parameters(self, row: PredictionValues) -> tuple[Any, ...]:
        return self.insert.parameters(row)


def user_from_row(row: Mapping[str, Any]) -> User:
    """A user as the predict path's lookups read it: a detached value, never added to a session, so built
    without the table model's constructor (~0.05 ms of CPU, the lookup's largest part). That constructor
    was also what configured SQLAlchemy's mappers, without which a table model's attributes cannot be read:
    configured here, once (a gateway that started while its database was down has run no ORM query yet)."""
    return User.model_construct(**row)


configure_mappers()


def get_users_by_subjects(conn: Connection, subjects: Collection[str]) -> dict[str, User]:
    """The users these token subjects name (one query), by subject; a subject of no user is absent."""
    result = conn.execute(sa_select(USERS).where(USERS.c.subject.in_(subjects)))
    return {row.subject: user_from_row(row._asdict()) for row in result}


def find_cached_predictions(
    conn: Connection, keys: Collection[CacheKey]
) -> dict[CacheKey, list[dict[str, Any]]]:
    """The top-k of one of each key's user's own predictions (one query for all the keys); a key none
    answers is absent."""
    result = conn.execute(
        sa_select(*CACHE_KEY_COLUMNS, PREDICTIONS.c.top_k).where(tuple_(*CACHE_KEY_COLUMNS).in_(list(keys)))
    )
    return {(row.user_id, row.md5, row.model_name, row.model_version): row.top_k for row in result}


def add_predictions(conn: Connection, rows: Sequence[PredictionValues]) -> list[int]:
    """Several rows in one statement (a multi-row INSERT … RETURNING id), their ids in the rows' order; the
    caller's transaction commits them."""
    statement = insert(PREDICTIONS).returning(PREDICTIONS.c.id, sort_by_parameter_order=True)
    return list(conn.execute(statement, list(rows)).scalars())


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.exec(select(User).where(User.email == normalize_email(email)))
    return result.first()


async def create_user(session: AsyncSession, user_in: UserCreate, *, is_admin: bool = False) -> User:
    """EmailTakenError when the email has an account; the password is hashed either way, so that a taken
    email takes as long as a free one. Only the configured admin is created with `is_admin` (ensure_admin):
    registration through the API never sets it."""
    email = normalize_email(user_in.email)
    taken = await get_user_by_email(session, email) is not None
    hashed = await hash_password(user_in.password)
    if taken:
        raise EmailTakenError(email)
    user = User(name=user_in.name, email=email, hashed_password=hashed, is_admin=is_admin)
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as exc:  # another request registered the same email meanwhile
        await session.rollback()
        raise EmailTakenError(email) from exc
    await session.refresh(user)
    return user


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    user = await get_user_by_email(session, email)
    ok = await verify_password(password, user.hashed_password if user else None)
    return user if ok else None


async def ensure_admin(session: AsyncSession, name: str, email: str, password: str) -> bool:
    """Create the default admin when absent, or make the existing user of that email an admin (its password
    is left as it is); True when created. Safe when several workers race."""
    try:
        await create_user(
            session, UserCreate.model_construct(name=name, email=email, password=password), is_admin=True
        )
    except EmailTakenError:
        await session.exec(
            update(User)
            .where(col(User.email) == normalize_email(email), col(User.is_admin).is_(False))
            .values(is_admin=True)
        )
        await session.commit()
        return False
    return True


class PredictionNotFoundError(Exception):
    pass


class CorrectLabelIsPredictedError(Exception):
    """The right label a `wrong` verdict names is what the model answered for that prediction."""


async def create_feedback(
    session: AsyncSession, user: User, feedback_in: FeedbackCreate
) -> tuple[Feedback, Prediction]:
    """Stored as given, linked to the user's latest prediction of that image (returned too);
    PredictionNotFoundError when the user has none (another user's file, or a name never predicted)."""
    latest = await session.exec(
        select(Prediction)
        .where(Prediction.user_id == user.id, Prediction.image_file_name == feedback_in.image_file_name)
        .order_by(col(Prediction.id).desc())
        .limit(1)
    )
    prediction = latest.first()
    if prediction is None:
        raise PredictionNotFoundError(feedback_in.image_file_name)
    if feedback_in.correct_label is not None and feedback_in.correct_label == prediction.label:
        raise CorrectLabelIsPredictedError(prediction.label)
    assert user.id is not None
    feedback = Feedback(user_id=user.id, prediction_id=prediction.id, **feedback_in.model_dump())
    session.add(feedback)
    await session.commit()
    await session.refresh(feedback)
    return feedback, prediction


async def list_feedback(session: AsyncSession, user: User, offset: int, limit: int) -> Sequence[Feedback]:
    result = await session.exec(
        select(Feedback)
        .where(Feedback.user_id == user.id, col(Feedback.prediction_id).is_not(None))
        .order_by(col(Feedback.id))
        .offset(offset)
        .limit(limit)
    )
    return result.all()


async def list_predictions(
    session: AsyncSession, user: User, offset: int, limit: int
) -> tuple[Sequence[Prediction], int]:
    """A page of the user's predictions, newest first, and how many they have in all."""
    rows = await session.exec(
        select(Prediction)
        .where(Prediction.user_id == user.id)
        .order_by(col(Prediction.id).desc())
        .offset(offset)
        .limit(limit)
    )
    total = await session.exec(
        select(func.count()).select_from(Prediction).where(Prediction.user_id == user.id)
    )
    return rows.all(), total.one()


async def get_own_prediction(session: AsyncSession, user: User, prediction_id: int) -> Prediction | None:
    prediction = await session.get(Prediction, prediction_id)
    if prediction is None or prediction.user_id != user.id:
        return None
    return prediction
