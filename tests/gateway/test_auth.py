"""Sign-up, login and bearer tokens (in-process app, on each database)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from jose import jwt
from sqlmodel import delete

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
    assert set(body) == {"id", "name", "email"}
    assert body["email"] == email
    assert "pw-12345" not in response.text
    assert "argon2" not in response.text


async def test_duplicate_email_is_400(api: Gateway) -> None:
    email = unique_email()
    payload = {"name": "Ann", "email": email, "password": "pw-12345"}
    assert (await api.client.post("/user/", json=payload)).status_code == 201
    again = await api.client.post("/user/", json={**payload, "email": email.upper()})
    assert again.status_code == 400
    assert again.json() == {"detail": "Email already registered."}


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


async def test_bad_tokens_are_401(api: Gateway, user: tuple[dict, dict[str, str]]) -> None:
    public, _ = user
    sub = str(public["id"])
    future = datetime.now(UTC) + timedelta(minutes=5)
    cases = {
        "forged": _token({"sub": sub, "exp": future}, key="someone-elses-key"),
        "expired": _token({"sub": sub, "exp": datetime.now(UTC) - timedelta(seconds=5)}),
        "no expiry": _token({"sub": sub}),
        "other algorithm": _token({"sub": sub, "exp": future}, algorithm="HS512"),
        "unsigned": {"Authorization": "Bearer " + _unsigned({"sub": sub, "exp": int(future.timestamp())})},
        "malformed": {"Authorization": "Bearer not.a.jwt"},
        "garbage": {"Authorization": "Bearer ~~~"},
        "not bearer": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "missing": {},
        "non-numeric subject": _token({"sub": "admin", "exp": future}),
    }
    for name, headers in cases.items():
        response = await api.client.get("/user/me", headers=headers)
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"] == "Bearer", name


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
