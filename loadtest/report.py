"""`make bench`'s report: the ratios and costs derived from the measurements, as JSON and as markdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadtest.machine import one_line
from loadtest.measure import COMPONENTS, GATEWAY, GRPC_FLOOR, HTTP_FLOOR, LOAD_GENERATOR, MODEL, SERVER

# Issue 18's budgets: (figure, "≥" or "≤", bound).
BUDGETS: dict[str, tuple[str, float]] = {
    "c/a": ("≥", 0.80),
    "d/c": ("≥", 20.0),
    "d req/s": ("≥", 500.0),
    "gateway ms, uncached (c)": ("≤", 2.5),
    "gateway ms, cached (d)": ("≤", 1.2),
    "server ms beyond the model (b, batching on)": ("≤", 1.5),
    "load generator ms, HTTP": ("≤", 0.3),
    "load generator ms, gRPC": ("≤", 0.3),
}
ROW_LABELS = {
    "a_in_process": "a. in process",
    "a_tensorflow": "a'. TensorFlow in process",
    "b_serving_batching_off": "b. serving gRPC, batching off",
    "b_serving_batching_on": "b. serving gRPC, batching on",
    "floor_grpc": "gRPC floor (echo server)",
    "c_gateway_uncached": "c. gateway, distinct pictures",
    "d_gateway_cached": "d. gateway, cached pictures",
    "floor_http": "HTTP floor (bare endpoint)",
}


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 4) if denominator > 0 else 0.0


def ratios(m: dict[str, Any], serving_only: bool) -> dict[str, float]:
    b_on = m["b_serving_batching_on"]["throughput_rps"]
    b_off = m["b_serving_batching_off"]["throughput_rps"]
    if serving_only:
        by_size = m["a_in_process"]["by_batch_size"]
        return {
            "b_on/a_batch8": ratio(b_on, by_size.get("8", 0.0)),
            "b_off/a_batch1": ratio(b_off, by_size.get("1", 0.0)),
            "b_on/b_off": ratio(b_on, b_off),
        }
    a = m["a_in_process"]["images_per_s"]
    c = m["c_gateway_uncached"]["throughput_rps"]
    d = m["d_gateway_cached"]["throughput_rps"]
    figures = {
        "b/a": ratio(b_on, a),
        "c/a": ratio(c, a),
        "c/b": ratio(c, b_on),
        "d/c": ratio(d, c),
        "b_off/a": ratio(b_off, a),
        "b_on/b_off": ratio(b_on, b_off),
    }
    if "a_tensorflow" in m:  # this runtime against the reference, both in process, same batch, same run
        figures["a/a_tensorflow"] = ratio(a, m["a_tensorflow"]["images_per_s"])
        figures["c/a_tensorflow"] = ratio(c, m["a_tensorflow"]["images_per_s"])
    return figures


def _cpu(m: dict[str, Any], row: str, component: str) -> float | None:
    value = m.get(row, {}).get("cpu_ms_per_request", {}).get(component)
    return None if value is None else float(value)


def costs(m: dict[str, Any]) -> dict[str, float]:
    """CPU ms per request of each layer against its floor, all from the same run."""
    a = m["a_in_process"]
    model_ms = float(a["cpu_ms_per_image"])
    model_ms_batch1 = float(a["cpu_ms_per_image_by_batch_size"].get("1", model_ms))
    found: dict[str, float] = {"model ms per image (a, best batch)": model_ms}
    pairs = {
        "server ms beyond the model (b, batching on)": ("b_serving_batching_on", model_ms),
        "server ms beyond the model (b, batching off)": ("b_serving_batching_off", model_ms_batch1),
        "server ms beyond the model (c)": ("c_gateway_uncached", model_ms),
    }
    for name, (row, model_cost) in pairs.items():
        server = _cpu(m, row, SERVER)
        if server is not None:
            found[name] = server - model_cost
    singles = {
        "gRPC floor ms": ("floor_grpc", GRPC_FLOOR),
        "gateway ms, uncached (c)": ("c_gateway_uncached", GATEWAY),
        "gateway ms, cached (d)": ("d_gateway_cached", GATEWAY),
        "HTTP floor ms": ("floor_http", HTTP_FLOOR),
    }
    for name, (row, component) in singles.items():
        value = _cpu(m, row, component)
        if value is not None:
            found[name] = value
    http_rows = ("c_gateway_uncached", "d_gateway_cached", "floor_http")
    grpc_rows = ("b_serving_batching_off", "b_serving_batching_on", "floor_grpc")
    for name, rows in (("load generator ms, HTTP", http_rows), ("load generator ms, gRPC", grpc_rows)):
        values = [v for v in (_cpu(m, row, LOAD_GENERATOR) for row in rows) if v is not None]
        if values:
            found[name] = max(values)  # the dearest row: the budget holds for every row
    floor_ratios = {
        "server beyond the model / gRPC floor": (
            "server ms beyond the model (b, batching on)",
            "gRPC floor ms",
        ),
        "gateway uncached / HTTP floor": ("gateway ms, uncached (c)", "HTTP floor ms"),
        "gateway cached / HTTP floor": ("gateway ms, cached (d)", "HTTP floor ms"),
    }
    for name, (numerator, denominator) in floor_ratios.items():
        if numerator in found and denominator in found:
            found[name] = ratio(found[numerator], found[denominator])
    if "d_gateway_cached" in m:
        found["d req/s"] = float(m["d_gateway_cached"]["throughput_rps"])
    return {name: round(value, 3) for name, value in found.items()}


def verdicts(report: dict[str, Any]) -> dict[str, str]:
    figures = {**report["ratios"], **report["costs"]}
    found = {}
    for name, (sense, bound) in BUDGETS.items():
        if name in figures:
            met = figures[name] >= bound if sense == "≥" else figures[name] <= bound
            found[name] = f"{sense} {bound:g} {'met' if met else 'NOT met'}"
    return found


def _load_row(label: str, figures: dict[str, Any]) -> str:
    return (
        f"| {label} | {figures['throughput_rps']:.2f} req/s | {figures['p50_ms']:.1f} | "
        f"{figures['p95_ms']:.1f} | {figures['p99_ms']:.1f} | {figures['ok']} | {figures['errors']} |"
    )


def _cpu_cell(figures: dict[str, Any], component: str) -> str:
    if component not in figures.get("cpu_ms_per_request", {}):
        return "–"
    return f"{figures['cpu_ms_per_request'][component]:.2f} ({figures['cores_busy'][component]:.2f} cores)"


def markdown(report: dict[str, Any]) -> str:
    m = report["measurements"]
    a = m["a_in_process"]
    lines = [
        f"{report['title']} — {report['date']}",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {one_line(report['machine'])}  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in report["machine"]["versions"].items()) + "  ",
        f"Model: {report['model']['name']} v{report['model']['version']} — {report['model']['note']}  ",
        f"Runtime: {report['runtime']['runtime']} {report['runtime']['precision']} "
        f"(asked: {report['runtime']['asked']})  ",
        f"Load generators: HTTP rows {report['clients']['http']}; gRPC rows {report['clients']['grpc']}",
        "",
        "| measurement | throughput | p50 ms | p95 ms | p99 ms | ok | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, value in a["by_batch_size"].items():
        best = " (best)" if int(size) == a["best_batch_size"] else ""
        lines.append(
            f"| a. in process, batch {size}, {a['callers']} callers{best} | {value:.2f} img/s | | | | | |"
        )
    if "a_tensorflow" in m:
        reference = m["a_tensorflow"]
        lines.append(
            f"| a'. TensorFlow in process, batch {reference['best_batch_size']} (reference) | "
            f"{reference['images_per_s']:.2f} img/s | | | | | |"
        )
    concurrency = report["settings"]["concurrency"]
    for key, figures in m.items():
        if "throughput_rps" in figures:
            lines.append(_load_row(f"{ROW_LABELS[key]}, {concurrency} clients", figures))
    lines += [
        "",
        "CPU per request (ms; per image for a) of each process, read from /proc, and cores it kept busy:",
        "",
        "| measurement | " + " | ".join(COMPONENTS) + " | client | load average |",
        "|---|" + "---|" * (len(COMPONENTS) + 2),
    ]
    for key, figures in m.items():
        if key.startswith("a_"):
            cells = [f"{figures['cpu_ms_per_image']:.2f}" if c == MODEL else "–" for c in COMPONENTS]
            lines.append(
                f"| {ROW_LABELS[key]}, batch {figures['best_batch_size']} | {' | '.join(cells)} | | |"
            )
        else:
            cells = [_cpu_cell(figures, component) for component in COMPONENTS]
            cells += [figures["client"], str(figures["load_average_1m"])]
            lines.append(f"| {ROW_LABELS[key]} | {' | '.join(cells)} |")
    budget = verdicts(report)
    lines += ["", "| cost (CPU per request, same run) | ms or ratio | budget (issue 18) |", "|---|---|---|"]
    for name, value in report["costs"].items():
        lines.append(f"| {name} | {value:.3f} | {budget.get(name, '')} |")
    lines += ["", "| ratio | value | target |", "|---|---|---|"]
    for name, value in report["ratios"].items():
        lines.append(f"| {name} | {value:.3f} | {budget.get(name, '')} |")
    lines += ["", *report["notes"]]
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], reports_dir: Path, stamp: str) -> tuple[Path, Path]:
    reports_dir.mkdir(parents=True, exist_ok=True)
    json_path = reports_dir / f"{report['kind']}-{stamp}.json"
    md_path = json_path.with_suffix(".md")
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path
