"""Feedback, health, readiness, metrics and a database that is down (in-process app, each database)."""

from __future__ import annotations

import asyncio
import struct

import pytest

from stack.procs import free_port
from tests.gateway.fake_serving import FakeServing
from tests.gateway.helpers import Gateway, image_bytes, running_gateway


async def test_feedback_is_stored_and_listed_for_its_user_only(
    api: Gateway, fake: FakeServing, fresh_user
) -> None:
    _, headers = fresh_user
    predicted = (await api.predict(headers, image_bytes(seed=400))).json()
    payload = {
        "score": predicted["score"],
        "predicted_class": predicted["prediction"],
        "image_file_name": predicted["image_file_name"],
        "feedback": "It is a dog, not a cat.",
    }
    created = await api.client.post("/feedback/", json=payload, headers=headers)
    assert created.status_code == 201, created.text
    row = created.json()
    assert {k: row[k] for k in payload} == payload
    assert row["prediction_id"] == predicted["prediction_id"]
    assert row["created_at"].endswith(("Z", "+00:00"))

    listed = await api.client.get("/feedback/", headers=headers)
    assert listed.status_code == 200
    assert listed.json() == [row]
    _, other_headers = await api.sign_up()
    assert (await api.client.get("/feedback/", headers=other_headers)).json() == []


async def test_feedback_for_an_unknown_image_is_404_and_not_stored(api: Gateway, fresh_user) -> None:
    _, headers = fresh_user
    payload = {"score": 0.9, "predicted_class": "tabby", "image_file_name": "elsewhere.jpg", "feedback": ""}
    created = await api.client.post("/feedback/", json=payload, headers=headers)
    assert created.status_code == 404
    assert "image_file_name" in created.json()["detail"]
    assert (await api.client.get("/feedback/", headers=headers)).json() == []


@pytest.mark.parametrize(
    "payload",
    [
        {"score": "high", "predicted_class": "tabby", "image_file_name": "a.jpg", "feedback": "x"},
        {"score": 1.5, "predicted_class": "tabby", "image_file_name": "a.jpg", "feedback": "x"},
        {"predicted_class": "tabby", "image_file_name": "a.jpg", "feedback": "x"},
        {"score": 0.5, "predicted_class": "tab\x00by", "image_file_name": "a.jpg", "feedback": "x"},
        {"score": 0.5, "predicted_class": "tabby", "image_file_name": "a.jpg", "feedback": "x" * 2001},
    ],
)
async def test_invalid_feedback_is_422(api: Gateway, user, payload: dict) -> None:
    _, headers = user
    assert (await api.client.post("/feedback/", json=payload, headers=headers)).status_code == 422


async def test_feedback_needs_a_token(api: Gateway) -> None:
    assert (await api.client.get("/feedback/")).status_code == 401
    payload = {"score": 0.5, "predicted_class": "tabby", "image_file_name": "a.jpg", "feedback": "x"}
    assert (await api.client.post("/feedback/", json=payload)).status_code == 401


async def test_the_root_is_a_health_url_that_points_at_the_docs(api: Gateway) -> None:
    root = await api.client.get("/")
    assert root.status_code == 200
    assert root.json() == {"status": "ok", "docs": "/docs", "health": "/health", "ready": "/ready"}
    assert (await api.client.get(root.json()["docs"])).status_code == 200


async def test_the_root_says_when_there_are_no_docs(gateway_settings, fake: FakeServing) -> None:
    async with running_gateway(gateway_settings(serving_target=fake.target, api_docs="off")) as gw:
        assert (await gw.client.get("/")).json()["docs"] is None


async def test_health_and_ready(api: Gateway, fake: FakeServing) -> None:
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    ready = await api.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "database": "ok",
        "serving": "ok",
        "model": {"name": "resnet50", "version": 3},
    }
    fake.behaviour.mode = "unavailable"
    not_ready = await api.client.get("/ready")
    assert not_ready.status_code == 503
    assert not_ready.json()["database"] == "ok"
    assert not_ready.json()["serving"] == "unavailable"


async def test_metrics_count_requests_and_cache(api: Gateway, fake: FakeServing, user) -> None:
    _, headers = user
    data = image_bytes(seed=401)
    await api.predict(headers, data)
    await api.predict(headers, data)
    text = (await api.client.get("/metrics")).text
    assert (
        'gateway_http_request_duration_seconds_count{method="POST",route="/model/predict",status="200"}'
        in text
    )
    assert 'gateway_prediction_cache_total{result="hit"}' in text
    assert 'gateway_serving_call_duration_seconds_count{code="OK",method="Predict"}' in text


def _unreachable(database_url: str, tmp_path) -> str:
    if database_url.startswith("sqlite"):
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("a file where the database's folder should be")
        return f"sqlite+aiosqlite:///{blocker}/sub/gateway.db"
    return f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"


async def test_database_down_is_503_not_a_crash(
    gateway_settings, database_url: str, fake: FakeServing, tmp_path
) -> None:
    settings = gateway_settings(serving_target=fake.target, database_url=_unreachable(database_url, tmp_path))
    if database_url.startswith("sqlite"):
        settings.upload_dir = tmp_path / "uploads"
    try:
        context = running_gateway(settings)
        gw = await context.__aenter__()
    except Exception as exc:  # pragma: no cover - the app must start without its database
        pytest.fail(f"the gateway did not start while its database was down: {exc!r}")
    try:
        assert (await gw.client.get("/health")).status_code == 200
        ready = await gw.client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["database"] == "unavailable"
        assert ready.json()["serving"] == "ok"
        for response in (
            await gw.client.post("/login", data={"username": "admin@example.com", "password": "admin"}),
            await gw.client.post(
                "/user/", json={"name": "A", "email": "a@example.com", "password": "pw-12345"}
            ),
        ):
            assert response.status_code == 503, response.text
            assert response.json() == {"detail": "The database is unavailable; try again later."}
    finally:
        await context.__aexit__(None, None, None)


async def test_a_database_name_that_no_longer_resolves_is_503(
    gateway_settings, fake: FakeServing, tmp_path
) -> None:
    """A stopped compose database loses its DNS name: asyncpg raises socket.gaierror (no ConnectionError)."""
    url = "postgresql+asyncpg://postgres@no-such-database-host.invalid:5432/nothing"
    settings = gateway_settings(serving_target=fake.target, database_url=url)
    async with running_gateway(settings) as gw:
        response = await gw.client.post("/login", data={"username": "admin@example.com", "password": "admin"})
        assert response.status_code == 503, response.text
        assert response.json() == {"detail": "The database is unavailable; try again later."}


async def _shutting_down_postgres(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """What PostgreSQL answers a new connection while it shuts down (SQLSTATE 57P03, cannot_connect_now)."""
    length = struct.unpack("!I", await reader.readexactly(4))[0]
    body = await reader.readexactly(length - 4)
    if struct.unpack("!I", body[:4])[0] == 80877103:  # SSLRequest: refuse TLS, then the startup message
        writer.write(b"N")
        length = struct.unpack("!I", await reader.readexactly(4))[0]
        await reader.readexactly(length - 4)
    fields = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is shutting down\0\0"
    writer.write(b"E" + struct.pack("!I", len(fields) + 4) + fields)
    await writer.drain()
    writer.close()


async def test_a_database_that_is_shutting_down_is_503(gateway_settings, fake: FakeServing) -> None:
    """A PostgreSQL restart refuses new connections for a moment: asyncpg's CannotConnectNowError."""
    server = await asyncio.start_server(_shutting_down_postgres, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test"
    try:
        async with running_gateway(gateway_settings(serving_target=fake.target, database_url=url)) as gw:
            response = await gw.client.post(
                "/login", data={"username": "admin@example.com", "password": "admin"}
            )
            assert response.status_code == 503, response.text
            assert response.json() == {"detail": "The database is unavailable; try again later."}
    finally:
        server.close()
        await server.wait_closed()
