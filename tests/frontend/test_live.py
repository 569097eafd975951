"""The page via gradio_client against live processes: model server (tiny), gateway, `python -m frontend`."""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from frontend.assets import load_labels
from frontend.config import Settings
from frontend.text import readable
from stack.procs import Service
from tests.frontend.conftest import (
    LIVE_MAX_UPLOAD_BYTES,
    LiveGateway,
    LiveStack,
    feedback_rows,
    outputs,
    page_auth,
    top_labels,
)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")]

MESSAGE = "Sign-in message"


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def signed_in_client(live_stack: LiveStack) -> tuple[Client, str, str]:
    client, email, password = live_stack.client(), new_email(), "pass-word-1"
    out = page_auth(client, "register", name="Tess", email=email, password=password)
    assert out[MESSAGE] == "", out[MESSAGE]
    return client, email, password


def gateway_detail(live_stack: LiveStack, email: str, password: str, name: str, content: bytes) -> str:
    """What the gateway itself answers for this upload (the page must show exactly this)."""
    with httpx.Client(base_url=live_stack.gateway_url, timeout=30) as http:
        token = http.post("/login", data={"username": email, "password": password}).json()["access_token"]
        response = http.post(
            "/model/predict", files={"file": (name, content)}, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.is_error, response.text
    return response.json()["detail"]


def test_sign_in_classify_and_feedback(live_stack: LiveStack, example_photos: list[Path]) -> None:
    client, email, password = signed_in_client(live_stack)
    out = page_auth(client, "sign-out")
    assert out[MESSAGE] == "You are signed out."
    out = page_auth(client, "sign-in", email=email, password=password)
    assert out["Signed in as"].startswith(f"Signed in as **Tess** `{email}`")

    # a fresh photo (never seen by this gateway), then the same bytes again
    photo = example_photos[0].parent / f"fresh-{uuid.uuid4().hex[:6]}.png"
    Image.new("RGB", (120, 90), tuple(uuid.uuid4().bytes[:3])).save(photo)
    first = outputs(client, "/classify", handle_file(str(photo)))
    assert first["Classify message"] == ""
    labels = top_labels(first["Top 5 labels"])
    assert len(labels) == 5
    assert set(labels) <= {readable(label) for label in load_labels(Settings().labels_file)}
    assert first["Model"].startswith("Model **tiny** version **1** · computed now")
    again = outputs(client, "/classify", handle_file(str(photo)))
    assert again["Model"].startswith("Model **tiny** version **1** · answered from the cache")
    assert top_labels(again["Top 5 labels"]) == labels

    sent = outputs(client, "/send_feedback", "Wrong", "tabby", "a test comment")
    assert sent["Feedback message"] == "Thank you, your feedback is saved."
    (row,) = feedback_rows(sent["My feedback"])
    when, _photo, predicted, _score, text = row
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", when)
    assert predicted == labels[0]
    assert text == "wrong; right label: tabby; comment: a test comment"

    # stored in the gateway for this user, not only shown
    with httpx.Client(base_url=live_stack.gateway_url, timeout=30) as http:
        token = http.post("/login", data={"username": email, "password": password}).json()["access_token"]
        stored = http.get("/feedback/", headers={"Authorization": f"Bearer {token}"}).json()
    image_file_name = hashlib.md5(photo.read_bytes()).hexdigest() + ".png"
    assert [(readable(f["predicted_class"]), f["image_file_name"]) for f in stored] == [
        (labels[0], image_file_name)
    ]
    # the verdict and the right label as fields the gateway counts; the comment as the free text
    assert [(f["verdict"], f["correct_label"], f["feedback"]) for f in stored] == [
        ("wrong", "tabby", "a test comment")
    ]


def test_several_users_at_once(live_stack: LiveStack, tmp_path: Path) -> None:
    """Four browser sessions classify and send feedback at the same time; nobody sees another's answer."""

    def one_user(index: int) -> tuple[str, list[list[str]], str]:
        client, _email, _password = signed_in_client(live_stack)
        photo = tmp_path / f"user{index}.png"
        Image.new("RGB", (64 + index, 48), (40 * index, 200 - 30 * index, 90)).save(photo)
        shown = outputs(client, "/classify", handle_file(str(photo)))
        assert shown["Classify message"] == ""
        sent = outputs(client, "/send_feedback", "Correct", None, f"user {index}")
        expected_name = hashlib.md5(photo.read_bytes()).hexdigest() + ".png"
        return expected_name, feedback_rows(sent["My feedback"]), f"correct; comment: user {index}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one_user, range(4)))
    for expected_name, rows, text in results:
        # the photo cell: a thumbnail, or the file name from a gateway that cannot serve the photo
        assert [(row[1], row[4]) for row in rows] in ([("thumbnail", text)], [(expected_name, text)])


def test_wrong_password(live_stack: LiveStack) -> None:
    out = page_auth(live_stack.client(), "sign-in", email="admin@example.com", password="not-the-password")
    assert out[MESSAGE] == "Wrong email or password."
    assert "admin" not in str(out["Signed in as"]).lower()


def test_admin_can_sign_in(live_stack: LiveStack) -> None:
    out = page_auth(live_stack.client(), "sign-in", email="admin@example.com", password="admin")
    assert out[MESSAGE] == ""
    assert "admin@example.com" in out["Signed in as"]


def test_email_taken(live_stack: LiveStack) -> None:
    out = page_auth(
        live_stack.client(), "register", name="Someone", email="admin@example.com", password="whatever-1"
    )
    assert out[MESSAGE] == "Wrong email or password."  # the gateway does not tell a taken email apart


def _big_png() -> bytes:
    """A real PNG over the gateway's limit (noise does not compress)."""
    pixels = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    assert buffer.tell() > LIVE_MAX_UPLOAD_BYTES
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.txt", b"plain text, not a picture"),
        ("photo.bmp", b"BM" + b"\0" * 100),
        ("broken.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 cut short"),
        ("huge.png", None),
    ],
)
def test_bad_file_shows_gateway_message(
    live_stack: LiveStack, tmp_path: Path, name: str, content: bytes | None
) -> None:
    client, email, password = signed_in_client(live_stack)
    content = content if content is not None else _big_png()
    path = tmp_path / name
    path.write_bytes(content)
    out = outputs(client, "/classify", handle_file(str(path)))
    expected = gateway_detail(live_stack, email, password, name, content)
    assert out["Classify message"] == expected
    assert out["Top 5 labels"] in (None, {}) or not out["Top 5 labels"].get("confidences")
    if name.endswith((".txt", ".bmp")):
        assert expected == "File type is not supported."


def test_gateway_down_then_session_expired(
    live_stack: LiveStack, live_gateway: LiveGateway, example_photos: list[Path]
) -> None:
    """The gateway comes back with another SECRET_KEY, so the old token is refused (later tests sign in)."""
    client, email, password = signed_in_client(live_stack)
    live_gateway.stop()
    try:
        down = page_auth(live_stack.client(), "sign-in", email=email, password=password)
        assert down[MESSAGE] == "The service cannot be reached right now; please try again in a moment."
    finally:
        live_gateway.start(SECRET_KEY="frontend-tests-rotated-" + "y" * 32)
    expired = outputs(client, "/classify", handle_file(str(example_photos[0])))
    assert expired[MESSAGE] == "Your session has expired. Please sign in again."
    again = page_auth(client, "sign-in", email=email, password=password)
    assert again[MESSAGE] == ""
    assert email in again["Signed in as"]


def test_token_never_in_frontend_log(live_stack: LiveStack, live_frontend: tuple[Service, str]) -> None:
    """After every flow above, the frontend's log holds no JWT (they all start with 'eyJ') and no header."""
    signed_in_client(live_stack)
    text = live_frontend[0].log_text()
    assert "/model/predict" in text  # the log is the right one and it did log requests
    assert "eyJ" not in text
    assert "Bearer" not in text
