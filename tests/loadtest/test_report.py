"""`make bench`'s report from measurements: the plan is named, the costs subtract what they say, the
markdown shows every row and component."""

from __future__ import annotations

from typing import Any

import pytest

from loadtest import report
from loadtest.measure import COMPONENTS, GATEWAY, GRPC_FLOOR, HTTP_FLOOR, LOAD_GENERATOR, SERVER
from loadtest.plan import FULL, Plan


def test_the_plan_takes_keywords_only() -> None:
    with pytest.raises(TypeError):
        Plan((1,), 1.0, 16, 10, 1.0, 10, 1.0, 4, 1.0)  # type: ignore[misc]
    assert Plan(**FULL.to_json()) == FULL


def _load(rps: float, cpu: dict[str, float]) -> dict[str, Any]:
    return {
        "throughput_rps": rps,
        "p50_ms": 1.0,
        "p95_ms": 2.0,
        "p99_ms": 3.0,
        "ok": 100,
        "errors": 0,
        "cpu_ms_per_request": cpu,
        "cores_busy": {name: 0.5 for name in cpu},
        "client": "wrk",
        "load_average_1m": 1.0,
    }


MEASUREMENTS: dict[str, Any] = {
    "a_in_process": {
        "images_per_s": 200.0,
        "best_batch_size": 8,
        "by_batch_size": {"1": 150.0, "8": 200.0},
        "cpu_ms_per_image": 9.0,
        "cpu_ms_per_image_by_batch_size": {"1": 11.0, "8": 9.0},
        "callers": 2,
    },
    "b_serving_batching_off": _load(120.0, {SERVER: 14.0, LOAD_GENERATOR: 0.1}),
    "b_serving_batching_on": _load(150.0, {SERVER: 13.0, LOAD_GENERATOR: 0.1}),
    "floor_grpc": _load(1500.0, {GRPC_FLOOR: 0.5, LOAD_GENERATOR: 0.05}),
    "c_gateway_uncached": _load(80.0, {SERVER: 13.5, GATEWAY: 7.0, LOAD_GENERATOR: 0.2}),
    "d_gateway_cached": _load(160.0, {SERVER: 0.0, GATEWAY: 6.0, LOAD_GENERATOR: 0.15}),
    "floor_http": _load(1700.0, {HTTP_FLOOR: 0.6, LOAD_GENERATOR: 0.07}),
}


def test_costs_are_each_layer_against_the_model_and_its_floor() -> None:
    m = MEASUREMENTS
    costs = report.costs(m)
    model = m["a_in_process"]["cpu_ms_per_image"]
    on = m["b_serving_batching_on"]["cpu_ms_per_request"][SERVER]
    assert costs["server ms beyond the model (b, batching on)"] == pytest.approx(on - model)
    off = m["b_serving_batching_off"]["cpu_ms_per_request"][SERVER]
    assert costs["server ms beyond the model (b, batching off)"] == pytest.approx(
        off - m["a_in_process"]["cpu_ms_per_image_by_batch_size"]["1"]
    )
    floor = m["floor_grpc"]["cpu_ms_per_request"][GRPC_FLOOR]
    assert costs["server beyond the model / gRPC floor"] == pytest.approx((on - model) / floor, rel=1e-3)
    gateway = m["c_gateway_uncached"]["cpu_ms_per_request"][GATEWAY]
    http_floor = m["floor_http"]["cpu_ms_per_request"][HTTP_FLOOR]
    assert costs["gateway uncached / HTTP floor"] == pytest.approx(gateway / http_floor, rel=1e-3)
    dearest = max(
        m[row]["cpu_ms_per_request"][LOAD_GENERATOR]
        for row in ("c_gateway_uncached", "d_gateway_cached", "floor_http")
    )
    assert costs["load generator ms, HTTP"] == dearest


def test_ratios_and_budgets() -> None:
    m = MEASUREMENTS
    ratios = report.ratios(m, serving_only=False)
    assert ratios["c/a"] == pytest.approx(
        m["c_gateway_uncached"]["throughput_rps"] / m["a_in_process"]["images_per_s"]
    )
    assert ratios["d/c"] == pytest.approx(
        m["d_gateway_cached"]["throughput_rps"] / m["c_gateway_uncached"]["throughput_rps"]
    )
    costs = report.costs(m)
    verdicts = report.verdicts({"ratios": ratios, "costs": costs})
    for name, verdict in verdicts.items():
        sense, bound = report.BUDGETS[name]
        value = {**ratios, **costs}[name]
        met = value >= bound if sense == "≥" else value <= bound
        assert verdict == f"{sense} {bound:g} {'met' if met else 'NOT met'}", name
    assert "NOT met" in verdicts["gateway ms, cached (d)"]  # 6 ms against 1.2
    assert verdicts["load generator ms, gRPC"].endswith(" met")  # 0.1 ms against 0.3


def test_markdown_has_every_row_and_component() -> None:
    m = MEASUREMENTS
    bench_report = {
        "title": "make bench",
        "date": "today",
        "command": "python -m loadtest.bench",
        "machine": {
            "cpu_model": "cpu",
            "isa_flags": "avx2",
            "cores": 2,
            "load_average_1m_at_start": 1.0,
            "platform": "linux",
            "versions": {"python": "3.11"},
        },
        "model": {"name": "tiny", "version": 1, "note": "test"},
        "runtime": {"asked": "auto", "runtime": "tensorflow", "precision": "f32"},
        "clients": {"http": "wrk", "grpc": "h2load"},
        "settings": {"concurrency": 16},
        "measurements": m,
        "ratios": report.ratios(m, serving_only=False),
        "costs": report.costs(m),
        "notes": ["a note"],
    }
    text = report.markdown(bench_report)
    header = next(line for line in text.splitlines() if line.startswith("| measurement | model in process"))
    assert all(f" {component} " in header for component in COMPONENTS)
    for key in m:
        assert f"| {report.ROW_LABELS[key]}" in text, key
    for name in bench_report["costs"]:
        assert f"| {name} |" in text
    assert "wrk" in text
    assert "h2load" in text
