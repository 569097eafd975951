"""The Evaluation tab (operators only): each model version as its users judged it, from
`GET /model/evaluation`, stable and canary side by side.

The figures are the gateway's; this only lays them out. The plot is the one thing a table says badly:
whether two versions' accuracy intervals overlap, i.e. whether the feedback so far can tell them apart.
"""

from __future__ import annotations

from html import escape
from typing import Any

from frontend.gateway_client import GatewayError, SessionExpiredError
from frontend.handlers import PageContext, Session, expired_view, signed_out_view
from frontend.text import readable
from frontend.updates import Message, Updates

NO_EVALUATION = (
    "No predictions yet. Once people classify photos and say whether the answer was right, the figures "
    "of each model version show here."
)
STABLE, CANARY = "stable", "canary"
PLOT_WIDTH, ROW_HEIGHT, LEFT, RIGHT = 560, 34, 150, 20


def ordered(versions: list[dict[str, Any]], stable: str, canary: str) -> list[dict[str, Any]]:
    """Stable first, then canary, then the rest newest version first (older or unlabelled traffic)."""

    def rank(row: dict[str, Any]) -> tuple[int, int]:
        label = row.get("model_label")
        first = 0 if label == stable else 1 if label == canary else 2
        return first, -int(row.get("model_version") or 0)

    return sorted(versions, key=rank)


def column_title(row: dict[str, Any]) -> str:
    label = row.get("model_label")
    return f"version {row.get('model_version')}" + (f" · {label}" if label else "")


def _share(part: Any, rate: Any) -> str:
    return f"{int(part or 0)} ({float(rate or 0):.0%})"


def _accuracy(row: dict[str, Any]) -> str:
    if row.get("accuracy") is None:
        return "no verdicts yet"
    low, high = row.get("accuracy_low"), row.get("accuracy_high")
    interval = f" [{float(low):.0%}–{float(high):.0%}]" if low is not None and high is not None else ""
    return f"{float(row['accuracy']):.0%}{interval} of {int(row.get('feedback') or 0)}"


def _latency(row: dict[str, Any]) -> str:
    p50, p95 = row.get("latency_ms_p50"), row.get("latency_ms_p95")
    if p50 is None:
        return "—"
    return f"{float(p50):.0f} / {float(p95 if p95 is not None else p50):.0f} ms"


def _confused(row: dict[str, Any]) -> str:
    pairs = row.get("confused") or []
    if not pairs:
        return "—"
    items = "".join(
        f"<li>{escape(readable(p.get('predicted', '')))} → {escape(readable(p.get('actual', '')))}"
        f" ({int(p.get('count') or 0)})</li>"
        for p in pairs
    )
    return f"<ol>{items}</ol>"


ROWS = (
    ("Model", lambda r: escape(str(r.get("model_name", "")))),
    ("Predictions", lambda r: str(int(r.get("predictions") or 0))),
    ("Verdicts (share of predictions)", lambda r: _share(r.get("feedback"), r.get("feedback_rate"))),
    ("Top-1 accuracy [95 % interval]", lambda r: escape(_accuracy(r))),
    ("Latency p50 / p95", lambda r: escape(_latency(r))),
    ("Most confused (said → right)", _confused),
)


def accuracy_plot(rows: list[dict[str, Any]]) -> str:
    """An SVG: per version, its accuracy as a dot on its 95 % interval, on one 0–100 % axis."""
    judged = [r for r in rows if r.get("accuracy") is not None]
    if not judged:
        return ""
    height = ROW_HEIGHT * len(judged) + 30
    span = PLOT_WIDTH - LEFT - RIGHT

    def x(value: Any) -> float:
        return LEFT + span * min(max(float(value), 0.0), 1.0)

    parts = [
        f'<svg class="accuracy-plot" viewBox="0 0 {PLOT_WIDTH} {height}" width="{PLOT_WIDTH}" '
        f'height="{height}" role="img" aria-label="Top-1 accuracy with 95 % intervals">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="4" x2="{x(tick):.1f}" y2="{height - 22}" class="grid"/>'
            f'<text x="{x(tick):.1f}" y="{height - 6}" text-anchor="middle">{tick:.0%}</text>'
        )
    for index, row in enumerate(judged):
        y = 4 + ROW_HEIGHT * index + ROW_HEIGHT / 2
        low, high = row.get("accuracy_low", row["accuracy"]), row.get("accuracy_high", row["accuracy"])
        kind = row.get("model_label") or "other"
        parts.append(
            f'<g class="version {escape(kind)}">'
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(column_title(row))}</text>'
            f'<line x1="{x(low):.1f}" y1="{y:.1f}" x2="{x(high):.1f}" y2="{y:.1f}" class="interval"/>'
            f'<circle cx="{x(row["accuracy"]):.1f}" cy="{y:.1f}" r="5"/></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def routing_line(routes: list[dict[str, Any]]) -> str:
    """Where the gateway sends users now: '90 % of users get stable (version 3), 10 % canary (version 4)'."""
    if not routes:
        return ""
    parts = []
    for route in routes:
        version = route.get("version")
        where = f"version {version}" if version is not None else "no version loaded"
        parts.append(
            f"{float(route.get('percent') or 0):g} % <b>{escape(str(route.get('label')))}</b> ({where})"
        )
    return f'<p class="routing">Users now: {", ".join(parts)}; each user stays on one side.</p>'


def evaluation_html(report: dict[str, Any]) -> str:
    """The report as a table, one column per version (stable, canary, then the rest), and the plot."""
    routes = list(report.get("routes") or [])
    stable = str(routes[0]["label"]) if routes else STABLE
    canary = str(routes[1]["label"]) if len(routes) > 1 else CANARY
    rows = ordered(list(report.get("versions") or []), stable, canary)
    if not rows:
        return f'{routing_line(routes)}<p class="empty-hint">{escape(NO_EVALUATION)}</p>'
    head = "".join(f"<th>{escape(column_title(r))}</th>" for r in rows)
    body = "".join(
        f"<tr><th scope='row'>{escape(name)}</th>{''.join(f'<td>{cell(r)}</td>' for r in rows)}</tr>"
        for name, cell in ROWS
    )
    return (
        f'<div class="evaluation">{routing_line(routes)}<table><thead><tr><th></th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>{accuracy_plot(rows)}</div>"
    )


async def load_evaluation(ctx: PageContext, session: Session) -> Updates:
    if not session:
        return signed_out_view("Please sign in first.")
    try:
        report = await ctx.client.evaluation(session["token"])
    except SessionExpiredError as exc:
        return expired_view(exc.message)
    except GatewayError as exc:
        return {"evaluation_msg": Message(exc.message)}
    return {"evaluation_msg": Message(), "evaluation_table": evaluation_html(report)}
