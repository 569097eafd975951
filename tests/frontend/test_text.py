"""How labels and feedback read on the page, and when the demo login is shown."""

from __future__ import annotations

import pytest

from frontend.config import Settings
from frontend.text import (
    feedback_display,
    feedback_fields,
    feedback_summary,
    label_choices,
    model_line,
    readable,
)


@pytest.mark.parametrize(
    ("label", "shown"),
    [("Eskimo_dog", "Eskimo dog"), ("window_screen", "window screen"), ("tabby", "tabby"), ("a__b_", "a b")],
)
def test_readable(label: str, shown: str) -> None:
    assert readable(label) == shown


def test_dropdown_shows_words_and_sends_identifiers() -> None:
    assert label_choices(["Siberian_husky"]) == [("Siberian husky", "Siberian_husky")]


def test_feedback_sent_as_fields_with_identifier_shown_in_words() -> None:
    sent = feedback_fields("Wrong", " Siberian_husky ", " my_dog; no_doubt ")
    assert sent == {"verdict": "wrong", "correct_label": "Siberian_husky", "feedback": "my_dog; no_doubt"}
    shown = "wrong; right label: Siberian husky; comment: my_dog; no_doubt"
    assert feedback_summary(dict(sent)) == shown
    assert feedback_fields("Correct", "ignored_label", None) == {
        "verdict": "correct",
        "correct_label": None,
        "feedback": "",
    }
    assert feedback_summary({"verdict": "correct", "correct_label": None, "feedback": ""}) == "correct"


def test_feedback_from_before_the_fields_reads_as_before() -> None:
    stored = "wrong; right label: Siberian_husky; comment: my_dog; no_doubt"
    assert feedback_display(stored) == "wrong; right label: Siberian husky; comment: my_dog; no_doubt"
    assert feedback_summary({"feedback": stored, "verdict": None}) == feedback_display(stored)


@pytest.mark.parametrize(
    ("url", "hint", "shown"),
    [
        ("http://127.0.0.1:8000", None, True),
        ("http://localhost:8000", None, True),
        ("http://[::1]:8000", None, True),
        ("http://gateway:8000", None, False),
        ("https://classify.example.com", None, False),
        ("https://classify.example.com", True, True),
        ("http://127.0.0.1:8000", False, False),
    ],
)
def test_demo_login_only_for_a_local_gateway(url: str, hint: bool | None, shown: bool) -> None:
    assert Settings(gateway_url=url, demo_login_hint=hint).show_demo_login() is shown


def test_the_model_line_names_the_label_that_answered() -> None:

    assert (
        model_line("tiny", "2", cached=False, label="canary")
        == "Model **tiny** version **2** (canary) · computed now"
    )
    assert model_line("tiny", "2", cached=True) == "Model **tiny** version **2** · answered from the cache"
