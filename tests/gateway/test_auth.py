"""Sign-up, login and bearer tokens (in-process app, on each database)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from jose import jwt
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import delete

from gateway.core.db import alembic_config
from gateway.core.security import SUBJECT
from gateway.models import User
from tests.gateway.conftest import TEST_SECRET
from tests.gateway.helpers import Gateway, unique_email


async def test_admin_login_returns_bearer_token(api: Gateway) -> None:
    response = await api.client.post("/login", data={"username": "admin@example.com", "password": "admin"})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    claims = jwt.decode(body["access_token"], TEST_SECRET, algorithms=["HS256"])
    assert claims["exp"] > time.time()


async def test_sign_up_returns_public_fields_only(api: Gateway) -> None:
    email = unique_email()
    response = await api.client.post("/user/", json={"name": "Ann", "email": email, "password": "pw-12345"})
    assert response.status_code == 201
    body = response.json()
    assert body == {"name": "Ann", "email": email}
    assert "pw-12345" not in response.text
    assert "argon2" not in response.text


async def test_registration_does_not_tell_whether_an_email_has_an_account(api: Gateway) -> None:
    email = unique_email()
    payload = {"name": "Ann", "email": email, "password": "pw-12345"}
    assert (await api.client.post("/user/", json=payload)).status_code == 201
    taken = await api.client.post(
        "/user/", json={"name": "Eve", "email": email.upper(), "password": "eve-pass-1"}
    )
    free = await api.client.post(
        "/user/", json={"name": "Eve", "email": unique_email(), "password": "eve-pass-1"}
    )
    assert taken.status_code == free.status_code == 201
    assert taken.json() == {"name": "Eve", "email": email}
    assert set(free.json()) == set(taken.json())
    assert taken.headers.keys() == free.headers.keys()
    owner = await api.client.post("/login", data={"username": email, "password": "pw-12345"})
    intruder = await api.client.post("/login", data={"username": email, "password": "eve-pass-1"})
    assert (owner.status_code, intruder.status_code) == (200, 401)  # the account was left as it was


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "Ann", "email": "not-an-email", "password": "pw-12345"},
        {"name": "Ann", "email": "a@example.com"},
        {"name": "", "email": "b@example.com", "password": "pw-12345"},
        {"name": "Ann\x00", "email": "c@example.com", "password": "pw-12345"},
        {"name": "Ann", "email": "d@example.com", "password": "x" * 129},
        {"name": 5, "email": "e@example.com", "password": "pw-12345"},
    ],
)
async def test_invalid_sign_up_is_422(api: Gateway, payload: dict) -> None:
    response = await api.client.post("/user/", json=payload)
    assert response.status_code == 422


async def test_me_returns_the_signed_in_user(api: Gateway, user: tuple[dict, dict[str, str]]) -> None:
    public, headers = user
    response = await api.client.get("/user/me", headers=headers)
    assert response.status_code == 200
    assert response.json() == public


async def test_wrong_password_and_unknown_email_look_the_same(api: Gateway, user: tuple[dict, dict]) -> None:
    public, _ = user
    wrong = await api.client.post("/login", data={"username": public["email"], "password": "nope-nope"})
    unknown = await api.client.post("/login", data={"username": unique_email(), "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "Incorrect email or password."}


def _token(claims: dict, key: str = TEST_SECRET, algorithm: str = "HS256") -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm=algorithm)}"}


async def _subject_of(api: Gateway, user_id: int) -> str:
    async with api.app.state.sessionmaker() as session:
        stored = await session.get(User, user_id)
    assert stored is not None
    return stored.subject


async def test_bad_tokens_are_401(api: Gateway, user: tuple[dict, dict[str, str]]) -> None:
    public, _ = user
    sub = await _subject_of(api, public["id"])
    now = datetime.now(UTC)
    future = now + timedelta(minutes=5)
    good = {"sub": sub, "iat": now, "exp": future}
    assert (await api.client.get("/user/me", headers=_token(good))).json() == public  # the cases below fail
    cases = {
        "forged": _token(good, key="someone-elses-key"),
        "expired": _token({**good, "exp": now - timedelta(seconds=5)}),
        "no expiry": _token({"sub": sub, "iat": now}),
        "no issue time": _token({"sub": sub, "exp": future}),
        "other algorithm": _token(good, algorithm="HS512"),
        "unsigned": {
            "Authorization": "Bearer "
            + _unsigned({"sub": sub, "iat": int(now.timestamp()), "exp": int(future.timestamp())})
        },
        "malformed": {"Authorization": "Bearer not.a.jwt"},
        "garbage": {"Authorization": "Bearer ~~~"},
        "not bearer": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "missing": {},
        "the user's id": _token({**good, "sub": str(public["id"])}),
        "superscript two": _token({**good, "sub": "\u00b2"}),
        "arabic-indic one": _token({**good, "sub": "\u0661"}),
        "non-ascii hex digits": _token({**good, "sub": sub[:-1] + "\uff10"}),
        "upper-case subject": _token({**good, "sub": sub.upper()}),
        "issued in the future": _token({**good, "iat": now + timedelta(minutes=10)}),
        "a hundred years": _token({**good, "exp": now + timedelta(days=36525)}),
        "lifetime past the setting": _token({**good, "exp": now + timedelta(minutes=61, seconds=30)}),
    }
    for name, headers in cases.items():
        response = await api.client.get("/user/me", headers=headers)
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"] == "Bearer", name


async def test_a_token_used_before_is_still_refused_once_it_expires(
    api: Gateway, user: tuple[dict, dict[str, str]]
) -> None:
    """The gateway remembers which tokens' signatures it checked (security._verified_claims), not that they
    are valid: the expiry is checked against the clock at every use."""
    public, _ = user
    now = datetime.now(UTC)
    headers = _token(
        {"sub": await _subject_of(api, public["id"]), "iat": now, "exp": now + timedelta(seconds=2)}
    )
    assert (await api.client.get("/user/me", headers=headers)).status_code == 200
    assert (await api.client.get("/user/me", headers=headers)).status_code == 200  # verified once, remembered
    await asyncio.sleep(max(0.0, (now + timedelta(seconds=2.5) - datetime.now(UTC)).total_seconds()))
    response = await api.client.get("/user/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def _unsigned(claims: dict) -> str:
    import base64
    import json

    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_token_of_a_deleted_user_is_refused(
    api: Gateway, fresh_user: tuple[dict, dict[str, str]]
) -> None:
    public, headers = fresh_user
    assert (await api.client.get("/user/me", headers=headers)).status_code == 200
    async with api.app.state.sessionmaker() as session:
        await session.exec(delete(User).where(User.id == public["id"]))
        await session.commit()
    response = await api.client.get("/user/me", headers=headers)
    assert response.status_code == 401
    assert "no longer exists" in response.json()["detail"]


async def test_password_hash_is_argon2_and_stays_in_the_database(
    api: Gateway, user: tuple[dict, dict]
) -> None:
    public, _ = user
    async with api.app.state.sessionmaker() as session:
        stored = await session.get(User, public["id"])
    assert stored is not None
    assert stored.hashed_password.startswith("$argon2")
    spec = (await api.client.get("/openapi.json")).json()
    assert "hashed_password" not in str(spec)


async def test_a_deleted_users_token_never_names_the_next_user(api: Gateway) -> None:
    """SQLite gives a deleted user's rowid to the next user; a token names a subject, never reused."""
    public, headers = await api.sign_up()
    async with api.app.state.sessionmaker() as session:
        await session.exec(delete(User).where(User.id == public["id"]))
        await session.commit()
    successor, _ = await api.sign_up()
    response = await api.client.get("/user/me", headers=headers)
    assert response.status_code == 401
    if api.settings.database_url.startswith("sqlite"):
        assert successor["id"] == public["id"]  # the case the subject is for


async def test_migration_0003_gives_existing_users_a_subject(fresh_database_url: str) -> None:
    config = alembic_config(fresh_database_url)
    await asyncio.to_thread(command.upgrade, config, "0002")
    engine = create_async_engine(fresh_database_url)
    try:
        async with engine.begin() as conn:
            for user_id in (1, 2):
                await conn.execute(
                    text(
                        "INSERT INTO users (id, name, email, hashed_password, created_at) VALUES "
                        f"({user_id}, 'A', 'a{user_id}@example.com', 'x', CURRENT_TIMESTAMP)"
                    )
                )
        await asyncio.to_thread(command.upgrade, config, "0003")
        async with engine.connect() as conn:
            subjects = (await conn.execute(text("SELECT subject FROM users ORDER BY id"))).scalars().all()
            indexes = await conn.run_sync(lambda sync: inspect(sync).get_indexes("users"))
    finally:
        await engine.dispose()
    assert len(set(subjects)) == 2
    assert all(SUBJECT.fullmatch(subject) for subject in subjects)
    assert {"name": "ix_users_subject", "unique": True} in [
        {"name": index["name"], "unique": bool(index["unique"])} for index in indexes
    ]
