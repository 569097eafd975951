"""The lists on the page as a person reads them: "My feedback" as an HTML table, History captions."""

from __future__ import annotations

from html import escape
from typing import Any

from frontend.gateway_client import PastPrediction
from frontend.images import data_uri
from frontend.text import feedback_summary, percent, readable, short_when, when

FEEDBACK_HEADERS = ["When (UTC)", "Photo", "Predicted", "Score", "Feedback"]
NO_FEEDBACK = (
    "No feedback yet. Classify a photo, or reopen one from History, and tell whether the top label is "
    "right: what you send shows here."
)
NO_HISTORY = "No predictions yet. Classify a photo and it shows here, newest first."


def newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda i: i.get("id") or 0, reverse=True)


def feedback_table(items: list[dict[str, Any]], thumbnails: dict[int, bytes | None]) -> str:
    """Rows newest first; the photo as a thumbnail when the gateway still has it, else its file name."""
    if not items:
        return f'<p class="empty-hint">{escape(NO_FEEDBACK)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in FEEDBACK_HEADERS)
    rows = []
    for item in newest_first(items):
        thumb = thumbnails.get(item.get("prediction_id") or -1)
        if thumb:
            photo = f'<img class="thumb" src="{data_uri(thumb)}" alt="your photo">'
        else:
            photo = f'<span class="file-name">{escape(str(item.get("image_file_name", "")))}</span>'
        cells = [
            f'<td class="when">{escape(when(item.get("created_at")))}</td>',
            f'<td class="photo">{photo}</td>',
            f'<td class="predicted">{escape(readable(item.get("predicted_class", "")))}</td>',
            f'<td class="score">{escape(percent(item.get("score")))}</td>',
            f'<td class="feedback">{escape(feedback_summary(item))}</td>',
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        '<div class="feedback-list"><table><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def history_caption(item: PastPrediction) -> str:
    return f"{readable(item.prediction)} {item.score:.0%} · {short_when(item.created_at)}"


def history_info(offset: int, shown: int, total: int) -> str:
    if total == 0 or shown == 0:
        return NO_HISTORY
    return (
        f"Predictions {offset + 1}–{offset + shown} of {total}, newest first. "
        "Pick one to see it again and give feedback."
    )
