"""The lists on the page as a person reads them: "My feedback" as an HTML table, History captions."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class HistoryTile:
    """One photo in History: its newest prediction, and when it was asked (newest first)."""

    item: PastPrediction
    asked: tuple[str, ...]


def repeats_grouped(items: list[PastPrediction]) -> list[HistoryTile]:
    """Newest first, one tile per photo and model version: the same stored image (its MD5 name) asked
    again, answered from the cache, is one tile with its times, not a new one each time."""
    groups: dict[tuple[str, str, str], list[PastPrediction]] = {}
    for item in items:
        groups.setdefault((item.image_file_name, item.model_name, item.model_version), []).append(item)
    return [HistoryTile(same[0], tuple(i.created_at for i in same)) for same in groups.values()]


def history_caption(tile: HistoryTile) -> str:
    """'tabby 61%' over 'Dec 02 14:03', or 'asked 4 times, last Dec 02 14:03' (shown whole: style.py)."""
    item = tile.item
    last = short_when(item.created_at)
    times = f"asked {len(tile.asked)} times, last {last}" if len(tile.asked) > 1 else last
    return f"{readable(item.prediction)} {item.score:.0%}\n{times}"


def history_info(offset: int, shown: int, total: int, photos: int | None = None) -> str:
    if total == 0 or shown == 0:
        return NO_HISTORY
    grouped = (
        f" ({photos} photos: repeats of one are one tile)" if photos is not None and photos < shown else ""
    )
    return (
        f"Predictions {offset + 1}–{offset + shown} of {total}{grouped}, newest first. "
        "Pick one to see it again and give feedback."
    )
