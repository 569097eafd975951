"""GatewayClient against the in-memory fake gateway: answers parsed, failures turned into plain messages."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from frontend.gateway_client import GatewayClient, GatewayError, SessionExpiredError, error_message
from stack.procs import free_port
from tests.frontend.fake_gateway import MAX_BYTES, FakeState, create_app


@pytest.fixture
def fake_state() -> FakeState:
    return FakeState()


@pytest.fixture
async def gateway(fake_state: FakeState) -> AsyncIterator[GatewayClient]:
    client = GatewayClient("http://fake", transport=httpx.ASGITransport(app=create_app(fake_state)))
    yield client
    await client.aclose()


@pytest.fixture
async def token(gateway: GatewayClient) -> str:
    await gateway.register("Ann", "ann@example.com", "s3cret")
    return await gateway.login("ann@example.com", "s3cret")


def png_file(folder: Path, name: str = "photo.png") -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 120, 40)).save(buffer, format="PNG")
    path = folder / name
    path.write_bytes(buffer.getvalue())
    return path


async def test_register_login_me(gateway: GatewayClient, token: str) -> None:
    user = await gateway.me(token)
    assert (user.name, user.email) == ("Ann", "ann@example.com")


async def test_wrong_password_is_plain(gateway: GatewayClient, token: str) -> None:
    with pytest.raises(GatewayError, match=r"^Wrong email or password\.$") as info:
        await gateway.login("ann@example.com", "nope")
    assert info.value.status == 401


async def test_a_taken_email_is_not_told_apart(gateway: GatewayClient, token: str) -> None:
    await gateway.register("Ann again", "ann@example.com", "x")  # answered as a new one would be
    with pytest.raises(GatewayError, match=r"^Wrong email or password\.$"):
        await gateway.login("ann@example.com", "x")


async def test_invalid_fields_are_listed(gateway: GatewayClient) -> None:
    with pytest.raises(GatewayError) as info:
        await gateway.register("Bob", "not-an-email", "x")
    assert info.value.status == 422
    assert info.value.message == "Email: value is not a valid email address."


def test_validation_errors_in_plain_words() -> None:
    detail = [
        {
            "type": "too_short",
            "loc": ["body", "password"],
            "msg": "Value should have …",
            "ctx": {"min_length": 4},
        },
        {"type": "missing", "loc": ["body", "name"], "msg": "Field required"},
        {"type": "value_error", "loc": ["body", "email"], "msg": "Value error, not an email."},
    ]
    assert error_message(httpx.Response(422, json={"detail": detail})) == (
        "Password must be at least 4 characters long. Name is required. Email: not an email."
    )


async def test_predict_sends_original_name_and_bytes(
    gateway: GatewayClient, token: str, tmp_path: Path
) -> None:
    path = png_file(tmp_path, "Holiday.PNG")
    first = await gateway.predict(token, path)
    again = await gateway.predict(token, path)
    assert first.image_file_name.endswith(".png")
    assert len(first.top_k) == 5
    assert first.prediction == first.top_k[0][0]
    assert (first.model_name, first.model_version) == ("fake", "3")
    assert (first.cached, again.cached) == (False, True)


@pytest.mark.parametrize(
    ("name", "content", "message", "status"),
    [
        ("notes.txt", b"hello", "File type is not supported.", 400),
        ("broken.jpg", b"\xff\xd8\xff not really a jpeg", "File is not a valid image.", 400),
        ("huge.png", b"\x89PNG" + b"\0" * (MAX_BYTES + 10), "File is too large", 413),
    ],
)
async def test_bad_files_get_gateway_message(
    gateway: GatewayClient, token: str, tmp_path: Path, name: str, content: bytes, message: str, status: int
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(GatewayError, match=message) as info:
        await gateway.predict(token, path)
    assert info.value.status == status


async def test_expired_token(
    gateway: GatewayClient, token: str, fake_state: FakeState, tmp_path: Path
) -> None:
    fake_state.expire_all_tokens()
    with pytest.raises(SessionExpiredError, match="sign in again"):
        await gateway.predict(token, png_file(tmp_path))
    with pytest.raises(SessionExpiredError):
        await gateway.list_feedback(token)


async def test_feedback_round_trip(gateway: GatewayClient, token: str, tmp_path: Path) -> None:
    with pytest.raises(GatewayError) as info:  # not one of this user's predictions
        await gateway.send_feedback(
            token, score=0.61, predicted_class="tabby", image_file_name="abc.png", feedback="correct"
        )
    assert info.value.status == 404
    pred = await gateway.predict(token, png_file(tmp_path))
    row = await gateway.send_feedback(
        token,
        score=pred.score,
        predicted_class=pred.prediction,
        image_file_name=pred.image_file_name,
        feedback="correct",
    )
    assert row["predicted_class"] == "tabby"
    assert [item["feedback"] for item in await gateway.list_feedback(token)] == ["correct"]


async def test_history_and_its_images(gateway: GatewayClient, token: str, tmp_path: Path) -> None:
    first = png_file(tmp_path, "first.png")
    await gateway.predict(token, first)
    await gateway.predict(token, png_file(tmp_path, "second.png"), "second.png")
    page = await gateway.list_predictions(token, limit=1, offset=1)
    assert (page.total, page.limit, page.offset) == (2, 1, 1)
    (item,) = page.items
    assert item.original_file_name == "first.png"  # newest first: the first one is on page 2
    assert item.top_k[0] == ("tabby", 0.61)
    assert (item.model_name, item.model_version) == ("fake", "3")
    assert await gateway.prediction_image(token, item.prediction_id) == first.read_bytes()
    await gateway.register("Bob", "bob@example.com", "pw")
    bob = await gateway.login("bob@example.com", "pw")
    with pytest.raises(GatewayError) as info:
        await gateway.prediction_image(bob, item.prediction_id)
    assert info.value.status == 404


async def test_model_unavailable(
    gateway: GatewayClient, token: str, fake_state: FakeState, tmp_path: Path
) -> None:
    fake_state.predict_status = 503
    with pytest.raises(GatewayError, match=r"^No model server is available\. Please try again") as info:
        await gateway.predict(token, png_file(tmp_path))
    assert info.value.status == 503


async def test_gateway_unreachable() -> None:
    client = GatewayClient(f"http://127.0.0.1:{free_port()}", timeout=5)
    try:
        with pytest.raises(GatewayError, match=r"^The service cannot be reached right now") as info:
            await client.login("a@b.c", "x")
        assert info.value.status is None
    finally:
        await client.aclose()


def test_server_errors_keep_the_sentence_not_the_internals() -> None:
    detail = "No model server replica is available (UNAVAILABLE: all backends failing; ipv4:10.0.0.1)."
    assert error_message(httpx.Response(503, json={"detail": detail})) == (
        "No model server replica is available. Please try again in a moment."
    )


def test_error_message_without_detail() -> None:
    assert (
        error_message(httpx.Response(504, text="<html>"))
        == "The model took too long to answer; please try again."
    )
    assert error_message(httpx.Response(418, json={"detail": ""})) == "The request failed (HTTP 418)."
