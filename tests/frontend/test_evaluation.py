"""The Evaluation tab's view of `GET /model/evaluation`: column order, figures, the plot, escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from frontend.evaluation import accuracy_plot, evaluation_html, ordered


def version(number: int, label: str | None, **figures: Any) -> dict[str, Any]:
    return {"model_name": "tiny", "model_version": number, "model_label": label, **figures}


STABLE = version(
    1, "stable", predictions=90, feedback=30, feedback_rate=1 / 3, correct=24,
    accuracy=0.8, accuracy_low=0.627, accuracy_high=0.912,
    confused=[{"predicted": "tiger_cat", "actual": "tabby", "count": 4}],
    latency_ms_p50=12.4, latency_ms_p95=30.2,
)  # fmt: skip
CANARY = version(
    2, "canary", predictions=10, feedback=5, feedback_rate=0.5, correct=5,
    accuracy=1.0, accuracy_low=0.566, accuracy_high=1.0, confused=[], latency_ms_p50=9.0, latency_ms_p95=11.0,
)  # fmt: skip
OLD = version(0, None, predictions=3, feedback=0, feedback_rate=0, correct=0, accuracy=None, confused=[])


def test_stable_then_canary_then_the_rest() -> None:
    rows = ordered([OLD, CANARY, STABLE], "stable", "canary")
    assert [r["model_version"] for r in rows] == [1, 2, 0]


def test_the_table_reads_as_a_person_reads_it() -> None:
    routes = [
        {"label": "stable", "version": 1, "percent": 90},
        {"label": "canary", "version": 2, "percent": 10},
    ]
    html = evaluation_html({"routes": routes, "versions": [CANARY, STABLE]})
    headers = re.findall(r"<th>(version [^<]*)</th>", html)
    assert headers == ["version 1 · stable", "version 2 · canary"]
    assert "80% [63%–91%] of 30" in html
    assert "30 (33%)" in html
    assert "12 / 30 ms" in html
    assert "tiger cat → tabby (4)" in html
    assert "90 % <b>stable</b> (version 1), 10 % <b>canary</b> (version 2)" in html


def test_the_plot_puts_each_version_on_its_interval() -> None:
    svg = ET.fromstring(accuracy_plot(ordered([STABLE, CANARY, OLD], "stable", "canary")))
    ns = "{http://www.w3.org/2000/svg}"
    groups = svg.findall(f"{ns}g") or svg.findall("g")
    assert len(groups) == 2  # the version with no verdicts has nothing to plot
    dots = [float(g.find("circle").attrib["cx"]) for g in groups]  # type: ignore[union-attr]
    spans = [g.find("line").attrib for g in groups]  # type: ignore[union-attr]
    assert dots[0] < dots[1]  # 80 % left of 100 %
    for dot, span in zip(dots, spans, strict=True):
        assert float(span["x1"]) <= dot <= float(span["x2"])


def test_the_routes_name_the_stable_and_canary_columns() -> None:
    routes = [
        {"label": "blue", "version": 2, "percent": 80},
        {"label": "green", "version": None, "percent": 20},
    ]
    html = evaluation_html({"routes": routes, "versions": [version(1, "green"), version(2, "blue")]})
    assert re.findall(r"<th>(version [^<]*)</th>", html) == ["version 2 · blue", "version 1 · green"]
    assert "20 % <b>green</b> (no version loaded)" in html


def test_no_versions_and_hostile_names() -> None:
    assert "No predictions yet" in evaluation_html({"versions": []})
    hostile = version(3, "<script>x</script>", predictions=1, feedback=1, feedback_rate=1, correct=1,
                      accuracy=1.0, accuracy_low=0.2, accuracy_high=1.0,
                      confused=[{"predicted": "<img src=x>", "actual": "a&b", "count": 1}])  # fmt: skip
    html = evaluation_html({"versions": [hostile]})
    assert "<script>" not in html
    assert "<img src=x>" not in html
    assert "&lt;script&gt;" in html
