"""Database reads and writes (no HTTP here)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.core.security import hash_password, verify_password
from gateway.models import Feedback, FeedbackCreate, Prediction, User, UserCreate


class EmailTakenError(Exception):
    pass


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.exec(select(User).where(User.email == normalize_email(email)))
    return result.first()


async def create_user(session: AsyncSession, user_in: UserCreate) -> User:
    email = normalize_email(user_in.email)
    if await get_user_by_email(session, email) is not None:
        raise EmailTakenError(email)
    user = User(name=user_in.name, email=email, hashed_password=await hash_password(user_in.password))
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
    """Create the default admin when absent; True when created. Safe when several workers race."""
    try:
        await create_user(session, UserCreate.model_construct(name=name, email=email, password=password))
    except EmailTakenError:
        return False
    return True


async def find_cached_prediction(
    session: AsyncSession, md5: str, model_name: str, model_version: int
) -> Prediction | None:
    result = await session.exec(
        select(Prediction)
        .where(
            Prediction.md5 == md5,
            Prediction.model_name == model_name,
            Prediction.model_version == model_version,
        )
        .limit(1)
    )
    return result.first()


async def add_prediction(session: AsyncSession, prediction: Prediction) -> Prediction:
    session.add(prediction)
    await session.commit()
    await session.refresh(prediction)
    return prediction


async def create_feedback(session: AsyncSession, user: User, feedback_in: FeedbackCreate) -> Feedback:
    """Stored as given; linked to the user's latest prediction of that image when there is one."""
    latest = await session.exec(
        select(Prediction.id)
        .where(Prediction.user_id == user.id, Prediction.image_file_name == feedback_in.image_file_name)
        .order_by(col(Prediction.id).desc())
        .limit(1)
    )
    assert user.id is not None
    feedback = Feedback(user_id=user.id, prediction_id=latest.first(), **feedback_in.model_dump())
    session.add(feedback)
    await session.commit()
    await session.refresh(feedback)
    return feedback


async def list_feedback(session: AsyncSession, user: User, offset: int, limit: int) -> Sequence[Feedback]:
    result = await session.exec(
        select(Feedback)
        .where(Feedback.user_id == user.id)
        .order_by(col(Feedback.id))
        .offset(offset)
        .limit(limit)
    )
    return result.all()
