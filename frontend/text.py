"""How labels, times, scores and feedback read on the page (the API keeps the original label names)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, TypedDict

from contracts.labels import NUM_CLASSES

CORRECT, WRONG = "Correct", "Wrong"
SURE, UNSURE = "answer-sure", "answer-unsure"  # the answer's style (frontend.style)
WHAT_IT_KNOWS = (
    f"It knows the {NUM_CLASSES:,} ImageNet classes (animals, plants, food, objects, vehicles, places); "
    "it has no class for people, so a portrait gets a guess about what they wear or hold."
)


def readable(label: str) -> str:
    """'Eskimo_dog' -> 'Eskimo dog': ImageNet's identifiers as words (the identifier itself is kept)."""
    return " ".join(str(label).replace("_", " ").split())


def label_choices(labels: list[str]) -> list[tuple[str, str]]:
    """Dropdown choices: readable name shown, original identifier as the value sent to the gateway."""
    return [(readable(label), label) for label in labels]


def answer(label: str, score: float, unsure_below: float) -> tuple[str, str]:
    """The headline over the top 5, and its style: an answer, or "not sure" below the threshold."""
    if score >= unsure_below:
        return f"**{readable(label)}** · {score:.0%}", SURE
    return (
        f"**Not sure** — maybe {readable(label)} ({score:.0%})  \n"
        f"On our test photos, answers scoring under {unsure_below:.0%} were more often wrong than right.",
        UNSURE,
    )


def short_answer(label: str, score: float, unsure_below: float) -> str:
    """The answer in a line under a thumbnail: 'tabby 61%', or 'Not sure — maybe tabby (18%)'."""
    if score >= unsure_below:
        return f"{readable(label)} {score:.0%}"
    return f"Not sure — maybe {readable(label)} ({score:.0%})"


def when(value: Any) -> str:
    """'2026-11-27T08:26:01.123+00:00' -> '2026-11-27 08:26' (what a person reads; UTC as stored)."""
    text = str(value or "")
    return text[:16].replace("T", " ") if len(text) >= 16 else text


def short_when(value: Any) -> str:
    """'2026-11-27T08:26:01+00:00' -> 'Nov 27 08:26' (fits under a thumbnail)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return when(value)
    return moment.strftime("%b %d %H:%M")


def percent(score: Any) -> str:
    return f"{float(score):.1%}" if isinstance(score, int | float) else str(score or "")


class FeedbackFields(TypedDict):
    verdict: str
    correct_label: str | None
    feedback: str


def feedback_fields(verdict: str, right_label: str | None, comment: str | None) -> FeedbackFields:
    """What POST /feedback/ is sent: the verdict (`correct` / `wrong`) and, for Wrong, the right label (its
    identifier) as fields the gateway counts; the person's own comment as the free text."""
    label = right_label.strip() if verdict == WRONG and right_label and right_label.strip() else None
    return FeedbackFields(verdict=verdict.lower(), correct_label=label, feedback=(comment or "").strip())


def feedback_summary(item: dict[str, Any]) -> str:
    """A stored feedback row as a person reads it: 'wrong; right label: Egyptian cat; comment: …'. Rows
    from before the verdict fields carry all of it in their text."""
    verdict, text = item.get("verdict"), str(item.get("feedback") or "")
    if not verdict:
        return feedback_display(text)
    parts = [str(verdict)]
    if item.get("correct_label"):
        parts.append(f"right label: {readable(item['correct_label'])}")
    if text.strip():
        parts.append(f"comment: {text.strip()}")
    return "; ".join(parts)


_RIGHT_LABEL = re.compile(r"(right label: )([^;]*)")


def feedback_display(stored: str) -> str:
    """The stored feedback as a person reads it: the right label's identifier made readable."""
    return _RIGHT_LABEL.sub(lambda m: m.group(1) + readable(m.group(2)), str(stored or ""), count=1)


def model_line(
    name: str, version: str, *, cached: bool, reopened_at: str | None = None, label: str | None = None
) -> str:
    if reopened_at is not None:
        source = f"from your history, {when(reopened_at)} UTC"
    else:
        source = "answered from the cache" if cached else "computed now"
    version_text = f" version **{version}**" if version else ""
    if version and label:
        version_text += f" ({label})"
    return f"Model **{name or 'unknown'}**{version_text} · {source}"
