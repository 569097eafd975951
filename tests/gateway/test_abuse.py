"""Issue 11, the gateway's part, tried as an attacker would against the real app (in-process, each database):
image bombs, sign-in abuse, secrets in answers, other users' uploads, exposure, a full disk. The same
attacks over real HTTP against a uvicorn process, with its memory measured, are in test_abuse_live.py."""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlmodel import select

from contracts import demo
from gateway.core.config import Settings
from gateway.models import Prediction
from gateway.services import storage
from tests.gateway.abuse_payloads import animated_gif, jpeg_of_comments, png_of_text_chunks, png_of_zeros
from tests.gateway.fake_serving import FakeServing
from tests.gateway.helpers import Gateway, image_bytes, running_gateway, unique_email

PUBLIC_CLIENT = ("203.0.113.7", 40000)  # TEST-NET-3: not loopback


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def _rows_of(api: Gateway, user_id: int) -> list[Prediction]:
    async with api.app.state.sessionmaker() as session:
        return list((await session.exec(select(Prediction).where(Prediction.user_id == user_id))).all())


@asynccontextmanager
async def _client_from(app, address: tuple[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=address)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


# ---- item 2: image bombs --------------------------------------------------------------------------


async def test_png_dimension_bomb_is_refused_from_its_header(
    api: Gateway, fake: FakeServing, fresh_user
) -> None:
    public, headers = fresh_user
    bomb = png_of_zeros(8000, 8000)  # ~250 KB, 256 MB decoded
    assert len(bomb) < 400_000
    response = await api.predict(headers, bomb, filename="bomb.png")
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail == "The image is too large: 8000 × 8000 is 64 megapixels, the limit is 50 megapixels."
    assert fake.behaviour.predict_calls == 0
    assert _files_under(api.settings.upload_dir / str(public["id"])) == []
    assert await _rows_of(api, public["id"]) == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [("comments.jpg", "jpeg"), ("text.png", "png")],
)
async def test_a_header_walk_of_millions_of_steps_is_refused_before_pillow_walks_it(
    api: Gateway, fake: FakeServing, fresh_user, name: str, kind: str
) -> None:
    """Pillow's open walked 24 MB of 6-byte JPEG comments (or a million PNG text chunks) in ~5 s of CPU."""
    public, headers = fresh_user
    data = jpeg_of_comments(20 * 1024 * 1024) if kind == "jpeg" else png_of_text_chunks(1_000_000)
    assert len(data) <= api.settings.max_upload_bytes
    response = await api.predict(headers, data, filename=name)
    assert response.status_code == 400, response.text
    assert "(no " in response.json()["detail"]
    assert fake.behaviour.predict_calls == 0
    assert _files_under(api.settings.upload_dir / str(public["id"])) == []
    assert await _rows_of(api, public["id"]) == []
    few = jpeg_of_comments(600) if kind == "jpeg" else png_of_text_chunks(10)  # the same, as images have
    assert (await api.predict(headers, few, filename=name)).status_code == 200


async def test_animated_gif_over_the_frame_limit_is_refused(
    api: Gateway, fake: FakeServing, fresh_user
) -> None:
    public, headers = fresh_user
    many = animated_gif(150)  # MAX_IMAGE_FRAMES is 100
    response = await api.predict(headers, many, filename="many.gif", content_type="image/gif")
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "The animation has too many frames: more than 100, the limit."
    assert fake.behaviour.predict_calls == 0
    assert not list((api.settings.upload_dir / str(public["id"])).glob("*"))
    few = animated_gif(5)
    assert (await api.predict(headers, few, filename="few.gif", content_type="image/gif")).status_code == 200


async def test_every_frame_counts_against_the_pixel_limit(gateway_settings, fake: FakeServing) -> None:
    async with running_gateway(gateway_settings(serving_target=fake.target, max_image_pixels=100_000)) as gw:
        _, headers = await gw.sign_up()
        one_frame = animated_gif(1, size=(200, 200))  # 40 000 pixels: fits
        assert (await gw.predict(headers, one_frame, "one.gif", "image/gif")).status_code == 200
        eight = animated_gif(
            8, size=(200, 200)
        )  # 320 000 pixels in all: the model server decodes every frame
        response = await gw.predict(headers, eight, "eight.gif", "image/gif")
        assert response.status_code == 400, response.text
        assert "8 frames" in response.json()["detail"]
    assert fake.behaviour.predict_calls == 1


# ---- item 7: auth ---------------------------------------------------------------------------------


async def test_the_demo_secrets_are_refused_on_a_public_address(gateway_settings, fake: FakeServing) -> None:
    for unsafe in (
        {"secret_key": demo.SECRET_KEY, "admin_password": "a-real-admin-password"},
        {"admin_password": demo.ADMIN_PASSWORD},
        {"admin_password": "short"},
    ):
        settings = gateway_settings(serving_target=fake.target, gateway_host="0.0.0.0", **unsafe)
        with pytest.raises(Exception, match=r"Refusing to start on 0\.0\.0\.0"):
            async with running_gateway(settings):
                pass
    # The explicit demo switch, or a real key and password, start.
    allowed = gateway_settings(
        serving_target=fake.target, secret_key=demo.SECRET_KEY, allow_demo_secrets=True
    )
    async with running_gateway(allowed) as gw:
        assert (await gw.client.get("/health")).status_code == 200
    real = gateway_settings(serving_target=fake.target, admin_password="a-real-admin-password")
    async with running_gateway(real) as gw:
        assert (await gw.client.get("/health")).status_code == 200


def test_secret_keys_shorter_than_32_bytes_are_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(secret_key="x" * 31)
    assert Settings(secret_key="x" * 32).secret_key == "x" * 32


LIMITS = {"login_failures_per_ip": 20, "login_failures_per_account": 5, "signups_per_ip": 10}  # the defaults


@pytest.fixture
async def limited(gateway_settings, fake: FakeServing) -> AsyncIterator[Gateway]:
    """An app with the default sign-in and registration limits (the suite's other apps have none)."""
    # A long window: nothing is earned back while a slow machine runs the test (Argon2 takes its time).
    settings = gateway_settings(serving_target=fake.target, auth_rate_window_seconds=3600, **LIMITS)
    async with running_gateway(settings) as gw:
        yield gw


def test_the_limits_tested_are_the_defaults() -> None:
    assert {name: Settings.model_fields[name].default for name in LIMITS} == LIMITS


async def _sign_in_from(app, address: str, email: str, password: str) -> httpx.Response:
    async with _client_from(app, (address, 5000)) as client:
        return await client.post("/login", data={"username": email, "password": password})


async def test_guessing_a_password_is_stopped_with_429(limited: Gateway) -> None:
    """One address guessing one account: its 5 wrong passwords empty the account's bucket and its own quiet
    attempts, so it gets 429 unchecked, even for the right password; the owner elsewhere still signs in."""
    email, password = unique_email(), "the-right-password"
    assert (
        await limited.client.post("/user/", json={"name": "V", "email": email, "password": password})
    ).status_code == 201
    answers = [
        (await _sign_in_from(limited.app, "198.51.100.1", email, f"guess-{attempt}")).status_code
        for attempt in range(12)
    ]
    assert answers == [401] * 5 + [429] * 7
    right = await _sign_in_from(limited.app, "198.51.100.1", email, password)
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) >= 1
    assert "Try again in" in right.json()["detail"]
    owner = await _sign_in_from(limited.app, "192.0.2.10", email, password)
    assert owner.status_code == 200


async def test_strangers_failing_for_an_account_do_not_lock_its_owner_out(limited: Gateway) -> None:
    """Issue 21 item 7: 5 wrong passwords from 5 addresses, then the right one (from a sixth, and from one
    of the five, which failed once and is not hammering): 200."""
    email, password = unique_email(), "the-right-password"
    await limited.client.post("/user/", json={"name": "V", "email": email, "password": password})
    wrong = [
        (await _sign_in_from(limited.app, f"198.51.100.{n}", email, "guess")).status_code for n in range(5)
    ]
    locked = await _sign_in_from(limited.app, "198.51.100.0", email, "another-guess")
    assert (wrong, locked.status_code) == ([401] * 5, 401)  # checked: that address is not hammering yet
    assert (await _sign_in_from(limited.app, "203.0.113.50", email, password)).status_code == 200
    assert (await _sign_in_from(limited.app, "198.51.100.3", email, password)).status_code == 200


async def test_an_address_spraying_accounts_cannot_try_locked_ones(limited: Gateway) -> None:
    """The quiet attempts are per address on all accounts: an address that failed on others is hammering."""
    email, password = unique_email(), "the-right-password"
    await limited.client.post("/user/", json={"name": "V", "email": email, "password": password})
    for n in range(5):  # strangers lock the account
        await _sign_in_from(limited.app, f"198.51.100.{20 + n}", email, "guess")
    sprayer = "198.51.100.99"
    for _ in range(3):  # LOGIN_QUIET_IP_FAILURES
        assert (await _sign_in_from(limited.app, sprayer, unique_email(), "x")).status_code == 401
    assert (await _sign_in_from(limited.app, sprayer, email, password)).status_code == 429


async def test_one_address_guessing_many_accounts_is_stopped(limited: Gateway) -> None:
    limit = LIMITS["login_failures_per_ip"]
    async with _client_from(limited.app, PUBLIC_CLIENT) as client:
        answers = [
            (
                await client.post("/login", data={"username": unique_email(), "password": "nope-nope"})
            ).status_code
            for _ in range(limit + 3)
        ]
    assert answers == [401] * limit + [429] * 3
    # Another address is not affected.
    async with _client_from(limited.app, ("198.51.100.200", 5000)) as other:
        assert (
            await other.post("/login", data={"username": unique_email(), "password": "x"})
        ).status_code == 401


async def test_successful_sign_ins_are_not_counted(limited: Gateway) -> None:
    email, password = unique_email(), "the-right-password"
    await limited.client.post("/user/", json={"name": "V", "email": email, "password": password})
    for _ in range(LIMITS["login_failures_per_account"] + 3):
        assert (
            await limited.client.post("/login", data={"username": email, "password": password})
        ).status_code == 200


async def test_registrations_from_one_address_are_limited(limited: Gateway) -> None:
    limit = LIMITS["signups_per_ip"]
    async with _client_from(limited.app, PUBLIC_CLIENT) as client:
        answers = [
            (
                await client.post(
                    "/user/", json={"name": "Spam", "email": unique_email(), "password": "spam-spam-spam"}
                )
            )
            for _ in range(limit + 2)
        ]
    assert [a.status_code for a in answers] == [201] * limit + [429] * 2
    assert int(answers[-1].headers["retry-after"]) >= 1


async def test_passwords_need_8_characters(api: Gateway) -> None:
    short = await api.client.post(
        "/user/", json={"name": "S", "email": unique_email(), "password": "1234567"}
    )
    assert short.status_code == 422
    assert (
        await api.client.post("/user/", json={"name": "S", "email": unique_email(), "password": "12345678"})
    ).status_code == 201


async def test_a_password_with_spaces_signs_in_as_registered(api: Gateway) -> None:
    email, password = unique_email(), " secret pass "
    assert (
        await api.client.post("/user/", json={"name": "S", "email": email, "password": password})
    ).status_code == 201
    assert (
        await api.client.post("/login", data={"username": email, "password": password})
    ).status_code == 200
    # What was typed, not a trimmed version of it.
    assert (
        await api.client.post("/login", data={"username": email, "password": password.strip()})
    ).status_code == 401


async def test_validation_errors_never_echo_what_was_sent(api: Gateway, user) -> None:
    secret = "Sup3r-Secret-Value"
    _, headers = user
    answers = [
        await api.client.post("/user/", json={"name": "", "email": "a@example.com", "password": secret}),
        await api.client.post("/user/", json={"name": "A", "email": "not-an-email", "password": secret}),
        await api.client.post("/user/", json={"name": "A", "email": "a@example.com", "password": secret[:5]}),
        await api.client.post("/login", data={"password": secret}),
        await api.client.post(
            "/feedback/",
            headers=headers,
            json={"score": 9, "predicted_class": secret, "image_file_name": "a"},
        ),
    ]
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert secret not in answer.text
        assert secret[:5] not in answer.text
        assert all("loc" in error and "msg" in error for error in answer.json()["detail"])


# ---- item 8: privacy ------------------------------------------------------------------------------


async def test_another_users_upload_is_never_revealed(
    api: Gateway, fake: FakeServing, admin_headers: dict[str, str], fresh_user
) -> None:
    data = image_bytes("PNG", size=(41, 23), seed=1101)
    first = await api.predict(admin_headers, data, filename="secret-plans.png")
    assert first.status_code == 200
    _public, headers = fresh_user
    second = await api.predict(headers, data, filename="mine.png")
    assert second.status_code == 200
    assert second.json()["cached"] is False  # nothing tells B that someone sent these bytes before
    assert "secret-plans" not in second.text
    assert fake.behaviour.predict_calls == 2
    history = (await api.client.get("/model/predictions", headers=headers)).json()
    assert [item["original_file_name"] for item in history["items"]] == ["mine.png"]
    image = await api.client.get(f"/model/predictions/{first.json()['prediction_id']}/image", headers=headers)
    assert image.status_code == 404
    feedback = {"score": 0.5, "predicted_class": "tabby", "feedback": "x"}
    # B's feedback on A's file: refused (B never predicted it; the name is derived from the bytes A sent).
    other = image_bytes("PNG", size=(41, 23), seed=1102)
    admin_only = (await api.predict(admin_headers, other)).json()["image_file_name"]
    answer = await api.client.post(
        "/feedback/", headers=headers, json={**feedback, "image_file_name": admin_only}
    )
    assert answer.status_code == 404
    assert (await api.client.get("/feedback/", headers=headers)).json() == []
    # And B's own cache works for B.
    again = await api.predict(headers, data, filename="mine.png")
    assert again.json()["cached"] is True


# ---- item 9: exposure -----------------------------------------------------------------------------


async def test_ready_names_the_part_that_is_down_without_internals(api: Gateway, fake: FakeServing) -> None:
    fake.behaviour.mode = "unavailable"
    answer = await api.client.get("/ready")
    assert answer.status_code == 503
    assert answer.json() == {"status": "not ready", "database": "ok", "serving": "unavailable", "model": None}
    assert "draining" not in answer.text
    assert "UNAVAILABLE" not in answer.text


async def test_metrics_and_docs_are_not_public(gateway_settings, fake: FakeServing) -> None:
    async with running_gateway(gateway_settings(serving_target=fake.target)) as gw:
        async with _client_from(gw.app, PUBLIC_CLIENT) as outsider:
            for path in ("/metrics", "/docs", "/redoc", "/openapi.json"):
                assert (await outsider.get(path)).status_code == 404, path
            assert (await outsider.get("/health")).status_code == 200
        for path in ("/metrics", "/docs", "/openapi.json"):  # loopback: the operator on the machine
            assert (await gw.client.get(path)).status_code == 200, path
    token = "operator-metrics-token-0123456789"
    async with running_gateway(
        gateway_settings(serving_target=fake.target, metrics_token=token, api_docs="off")
    ) as gw:
        async with _client_from(gw.app, PUBLIC_CLIENT) as scraper:
            assert (await scraper.get("/metrics")).status_code == 401
            assert (
                await scraper.get("/metrics", headers={"Authorization": "Bearer wrong"})
            ).status_code == 401
            scraped = await scraper.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert scraped.status_code == 200
            assert "gateway_http_request_duration_seconds" in scraped.text
        assert (await gw.client.get("/metrics")).status_code == 401  # the token applies to everyone
        assert (await gw.client.get("/docs")).status_code == 404


# ---- item 10: a full disk, failed classifications, refused requests -------------------------------


def _full_disk_write(_fd: int, _data: bytes) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


async def test_a_full_disk_is_507_and_leaves_nothing(
    api: Gateway, fake: FakeServing, fresh_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    public, headers = fresh_user
    data = image_bytes("PNG", seed=1201)
    with monkeypatch.context() as full:
        full.setattr(storage, "_write_all", _full_disk_write)
        answer = await api.predict(headers, data)
    assert answer.status_code == 507, answer.text
    assert "storage is full" in answer.json()["detail"]
    assert _files_under(api.settings.upload_dir / str(public["id"])) == []  # no file, no partial file
    assert not list(api.settings.upload_dir.glob(".upload-*"))
    assert await _rows_of(api, public["id"]) == []
    # Space again: the same upload goes through.
    assert (await api.predict(headers, data)).status_code == 200


async def test_a_full_database_disk_is_507_and_the_stored_file_is_removed(
    api: Gateway, fake: FakeServing, fresh_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    public, headers = fresh_user

    async def full(*_args: object, **_kwargs: object) -> None:
        raise sa_exc.OperationalError(
            "INSERT INTO predictions", {}, sqlite3.OperationalError("database or disk is full")
        )

    monkeypatch.setattr(api.app.state.grouped_db.statements, "add", full)
    answer = await api.predict(headers, image_bytes("PNG", seed=1203))
    assert answer.status_code == 507, answer.text
    assert "storage is full" in answer.json()["detail"]
    assert _files_under(api.settings.upload_dir / str(public["id"])) == []  # written, then removed


async def test_an_upload_the_model_refuses_is_not_kept(api: Gateway, fake: FakeServing, fresh_user) -> None:
    public, headers = fresh_user
    fake.behaviour.mode = "invalid"
    data = image_bytes("PNG", seed=1202)
    answer = await api.predict(headers, data)
    assert answer.status_code == 400
    md5 = hashlib.md5(data).hexdigest()
    assert list(api.settings.upload_dir.rglob(f"{md5}*")) == []
    assert await _rows_of(api, public["id"]) == []
