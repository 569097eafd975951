"""The page's events through gradio_client, with the real Gradio app in-process and a fake gateway.

Each `FakeFrontend.client()` is a separate browser session with its own state. The same flows run against
the real gateway and model server in test_live.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file

from frontend.config import UNSURE_BELOW
from frontend.text import SURE, UNSURE, answer, model_line, readable
from tests.frontend.conftest import UNCHANGED, FakeFrontend, feedback_rows, outputs, page_auth, top_labels
from tests.frontend.fake_gateway import TOP5

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # inside Gradio's queue

SIGNED_IN = "Signed in as"
MESSAGE = "Sign-in message"


def register(client: Client, name: str, email: str, password: str = "pw-123") -> dict[str, Any]:
    return page_auth(client, "register", name=name, email=email, password=password)


def test_register_signs_in(fake_frontend: FakeFrontend) -> None:
    out = register(fake_frontend.client(), "Ann", "ann@example.com")
    assert out[SIGNED_IN].startswith("Signed in as **Ann** `ann@example.com`")
    assert out[MESSAGE] == ""
    assert out["Password"] == ""  # the typed password is cleared


def test_sign_in_and_wrong_password(fake_frontend: FakeFrontend) -> None:
    register(fake_frontend.client(), "Cy", "cy@example.com", "right")
    client = fake_frontend.client()
    wrong = page_auth(client, "sign-in", email="cy@example.com", password="wrong")
    assert wrong[MESSAGE] == "Wrong email or password."
    assert "Cy" not in str(wrong[SIGNED_IN])
    empty = page_auth(client, "sign-in", email="", password="")
    assert empty[MESSAGE] == "Enter your email and password."
    good = page_auth(client, "sign-in", email="cy@example.com", password="right")
    assert good[SIGNED_IN].startswith("Signed in as **Cy** `cy@example.com`")


def test_email_taken(fake_frontend: FakeFrontend) -> None:
    register(fake_frontend.client(), "Di", "di@example.com")
    again = register(fake_frontend.client(), "Di two", "di@example.com", "another-pw")
    assert again[MESSAGE] == "Wrong email or password."  # the gateway does not tell a taken email apart


def test_classify_needs_sign_in(fake_frontend: FakeFrontend, example_photos: list[Path]) -> None:
    with pytest.raises(httpx.HTTPStatusError, match="401"):  # not even the upload is taken
        outputs(fake_frontend.client(), "/classify", handle_file(str(example_photos[0])))
    out = outputs(fake_frontend.client(), "/classify", None)
    assert out[MESSAGE] == "Please sign in first."


def test_an_emptied_box_is_no_error(fake_frontend: FakeFrontend) -> None:
    client = fake_frontend.client()
    register(client, "Nia", "nia@example.com")
    out = outputs(client, "/classify", None)  # the box emptied: no error, nothing to say
    assert out["Classify message"] == ""


def test_classify_then_cached(fake_frontend: FakeFrontend, example_photos: list[Path]) -> None:
    client = fake_frontend.client()
    register(client, "Ed", "ed@example.com")
    photo = handle_file(str(example_photos[1]))
    first = outputs(client, "/classify", photo)
    assert top_labels(first["Top 5 labels"]) == [readable(label) for label, _ in TOP5]
    assert "tiger cat" in top_labels(first["Top 5 labels"])  # readable names; the API keeps tiger_cat
    assert first["Top 5 labels"]["confidences"][0]["confidence"] == pytest.approx(TOP5[0][1])
    assert first["Answer"] == "**tabby** · 61%"
    assert first["Model"] == "Model **fake** version **3** · computed now"
    assert first["Classify message"] == ""
    second = outputs(client, "/classify", photo)
    assert second["Model"] == "Model **fake** version **3** · answered from the cache"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"just text", "File type is not supported."),
        ("broken.jpg", b"\xff\xd8\xff\xe0 truncated", "File is not a valid image."),
        ("big.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 300_000, "File is too large"),
    ],
)
def test_bad_files_show_gateway_message(
    fake_frontend: FakeFrontend, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    client = fake_frontend.client()
    register(client, "Fay", f"fay-{name}@example.com")
    path = tmp_path / name
    path.write_bytes(content)
    out = outputs(client, "/classify", handle_file(str(path)))
    assert message in out["Classify message"]
    assert "Traceback" not in out["Classify message"]
    assert out["Top 5 labels"] in (None, {}) or not out["Top 5 labels"].get("confidences")


def test_feedback_and_my_feedback(fake_frontend: FakeFrontend, example_photos: list[Path]) -> None:
    client = fake_frontend.client()
    register(client, "Gus", "gus@example.com")
    assert "No feedback yet." in outputs(client, "/my_feedback")["My feedback"]
    early = outputs(client, "/send_feedback", "Correct", None, "")
    assert early["Feedback message"] == "Classify a photo first."
    shown = outputs(client, "/classify", handle_file(str(example_photos[0])))
    no_verdict = outputs(client, "/send_feedback", None, None, "")
    assert no_verdict["Feedback message"] == "Choose whether the top label is correct or wrong."
    sent = outputs(client, "/send_feedback", "Wrong", "Egyptian_cat", "  ears look Egyptian ")
    assert sent["Feedback message"] == "Thank you, your feedback is saved."
    assert sent["Is the top label right?"] is None
    assert sent["Comment (optional)"] == ""
    (row,) = feedback_rows(sent["My feedback"])
    (stored,) = fake_frontend.state.feedback["gus@example.com"]
    assert (stored["verdict"], stored["correct_label"], stored["feedback"]) == (
        "wrong",
        "Egyptian_cat",
        "ears look Egyptian",
    )
    assert row == [
        stored["created_at"][:10] + " " + stored["created_at"][11:16],
        "thumbnail",
        "tabby",
        "61.0%",
        "wrong; right label: Egyptian cat; comment: ears look Egyptian",
    ]
    assert shown["Top 5 labels"]["label"] == "tabby"
    listed = outputs(client, "/my_feedback")
    assert feedback_rows(listed["My feedback"]) == [row]

    outputs(client, "/send_feedback", "Correct", None, "second")
    newest_first = feedback_rows(outputs(client, "/my_feedback")["My feedback"])
    assert [r[4] for r in newest_first] == ["correct; comment: second", row[4]]


def test_history_lists_my_predictions(fake_frontend: FakeFrontend, example_photos: list[Path]) -> None:
    client = fake_frontend.client()
    register(client, "Hy", "hy@example.com")
    assert "No predictions yet" in outputs(client, "/history")["History"]
    for photo in example_photos[:2]:
        outputs(client, "/classify", handle_file(str(photo)))
    out = outputs(client, "/history")
    assert out["History"].startswith("Predictions 1–2 of 2, newest first.")
    captions = [item["caption"] for item in out["Past predictions"]]
    assert len(captions) == 2
    assert all(c.startswith("tabby 61%\n") and "asked" not in c for c in captions)  # two photos, once each


def test_sessions_are_separate(fake_frontend: FakeFrontend, example_photos: list[Path]) -> None:
    hal, ivy = fake_frontend.client(), fake_frontend.client()
    register(hal, "Hal", "hal@example.com")
    register(ivy, "Ivy", "ivy@example.com")
    outputs(hal, "/classify", handle_file(str(example_photos[2])))
    outputs(hal, "/send_feedback", "Correct", None, "hal's note")
    assert feedback_rows(outputs(ivy, "/my_feedback")["My feedback"]) == []
    assert "No predictions yet" in outputs(ivy, "/history")["History"]
    assert [r[4] for r in feedback_rows(outputs(hal, "/my_feedback")["My feedback"])] == [
        "correct; comment: hal's note"
    ]


def test_session_expired_then_signing_in_again_keeps_the_page(
    fake_frontend: FakeFrontend, example_photos: list[Path]
) -> None:
    """Issue 22 item 4: an expired session shows the sign-in form; the same person signing in again finds
    the page as it was, and the next call needs the new session (the old one is ended)."""
    client = fake_frontend.client()
    register(client, "Jo", "jo@example.com")
    shown = outputs(client, "/classify", handle_file(str(example_photos[0])))
    assert top_labels(shown["Top 5 labels"])
    fake_frontend.state.expire_all_tokens()
    out = outputs(client, "/classify", handle_file(str(example_photos[0])))
    assert out[MESSAGE] == "Your session has expired. Please sign in again."
    assert out["Top 5 labels"] is UNCHANGED  # the answer shown stays
    assert outputs(client, "/my_feedback")[MESSAGE] == "Your session has expired. Please sign in again."
    again = page_auth(client, "sign-in", email="jo@example.com", password="pw-123")
    assert again[SIGNED_IN].startswith("Signed in as **Jo**")
    assert again[MESSAGE] == ""
    assert again["Top 5 labels"] is UNCHANGED
    assert again["Classify message"] is UNCHANGED
    # the feedback form still works on the prediction shown before the session expired
    sent = outputs(client, "/send_feedback", "Correct", None, "after signing in again")
    assert sent["Feedback message"] == "Thank you, your feedback is saved."


def test_another_person_signing_in_after_expiry_starts_afresh(
    fake_frontend: FakeFrontend, example_photos: list[Path]
) -> None:
    client = fake_frontend.client()
    register(fake_frontend.client(), "Max", "max@example.com")
    register(client, "Ned", "ned@example.com")
    outputs(client, "/classify", handle_file(str(example_photos[0])))
    fake_frontend.state.expire_all_tokens()
    outputs(client, "/my_feedback")
    other = page_auth(client, "sign-in", email="max@example.com", password="pw-123")
    assert other[SIGNED_IN].startswith("Signed in as **Max**")
    assert other["Top 5 labels"] in ({}, None)


def test_sign_out(fake_frontend: FakeFrontend) -> None:
    client = fake_frontend.client()
    register(client, "Kim", "kim@example.com")
    out = page_auth(client, "sign-out")
    assert out[MESSAGE] == "You are signed out."  # in the neutral colour: see test_handlers
    assert out[SIGNED_IN] == ""
    assert outputs(client, "/my_feedback")[MESSAGE] == "Please sign in first."


def test_token_never_reaches_the_page(fake_frontend: FakeFrontend, example_photos: list[Path]) -> None:
    client = fake_frontend.client()
    seen = [register(client, "Lu", "lu@example.com")]
    seen.append(outputs(client, "/classify", handle_file(str(example_photos[0]))))
    seen.append(outputs(client, "/my_feedback"))
    tokens = [t for t, email in fake_frontend.state.tokens.items() if email == "lu@example.com"]
    assert tokens
    assert not any(token in repr(seen) for token in tokens)


def test_a_weak_answer_reads_as_not_sure() -> None:
    """Below the calibrated threshold the headline is "Not sure — maybe …", in its own style."""
    sure, sure_style = answer("espresso", 0.95, UNSURE_BELOW)
    assert (sure, sure_style) == ("**espresso** · 95%", SURE)
    weak, weak_style = answer("football_helmet", 0.18, UNSURE_BELOW)
    assert weak.startswith("**Not sure** — maybe football helmet (18%)")
    assert f"under {UNSURE_BELOW:.0%}" in weak
    assert weak_style == UNSURE != SURE
    assert answer("tabby", UNSURE_BELOW, UNSURE_BELOW)[1] == SURE
    assert model_line("tiny", "1", cached=True) == "Model **tiny** version **1** · answered from the cache"
