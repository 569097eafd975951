"""`make bench QUICK=1` and a 10-second `make loadtest`, end to end on real processes with the tiny model.

They check that the reports are produced and well formed, never how fast anything was.
"""

from __future__ import annotations

import csv
import json
import socket
import subprocess
from pathlib import Path

import pytest

from loadtest import testbed
from loadtest.measure import GATEWAY, GRPC_FLOOR, HTTP_FLOOR, LOAD_GENERATOR, SERVER
from stack.procs import PYTHON, REPO_ROOT, free_port, model_available

pytestmark = pytest.mark.slow

LOCUST_COLUMNS = {"Type", "Name", "Request Count", "Failure Count", "Requests/s", "50%", "95%", "99%"}
RATIOS = {"b/a", "c/a", "c/b", "d/c", "b_off/a", "b_on/b_off"}
# Each row's watched processes, and those of them that must have been busy.
ROWS = {
    "b_serving_batching_on": ({SERVER}, {SERVER}),
    "b_serving_batching_off": ({SERVER}, {SERVER}),
    "floor_grpc": ({GRPC_FLOOR}, {GRPC_FLOOR}),
    "c_gateway_uncached": ({SERVER, GATEWAY}, {SERVER, GATEWAY}),
    "d_gateway_cached": ({SERVER, GATEWAY}, {GATEWAY}),  # the cache answers: the model server may idle
    "floor_http": ({HTTP_FLOOR}, {HTTP_FLOOR}),
}
COSTS = {
    "server ms beyond the model (b, batching on)",
    "gRPC floor ms",
    "gateway ms, uncached (c)",
    "gateway ms, cached (d)",
    "HTTP floor ms",
    "load generator ms, HTTP",
    "load generator ms, gRPC",
}
LOAD_FIGURES = {"requests", "ok", "errors", "elapsed_s", "throughput_rps", "p50_ms", "p95_ms", "p99_ms"}


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [PYTHON, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{args} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done


def test_quick_bench_writes_every_figure_and_ratio(tiny_model_base: Path, tmp_path: Path) -> None:
    done = _run(
        [
            "loadtest.bench",
            "--quick",
            # a runtime other than the reference, chosen here rather than by auto's decision (tested in
            # tests/serving/test_auto_runtime_live.py), so that the against-the-reference rows are measured
            "--runtime",
            "openvino",
            "--precision",
            "f32",
            "--model-base-path",
            str(tiny_model_base),
            "--reports-dir",
            str(tmp_path),
        ],
        timeout=600,
    )

    [json_path] = tmp_path.glob("bench-*.json")
    report = json.loads(json_path.read_text())
    assert report["kind"] == "bench"
    assert report["quick"] is True
    assert report["machine"]["cores"] >= 1
    assert report["machine"]["cpu_model"]
    assert {"python", "tensorflow-cpu", "grpcio", "httpx"} <= set(report["machine"]["versions"])
    assert report["model"]["name"] == tiny_model_base.name

    measurements = report["measurements"]
    in_process = measurements["a_in_process"]
    assert set(in_process["by_batch_size"]) == {"1", "8"}
    assert in_process["images_per_s"] == max(in_process["by_batch_size"].values()) > 0
    assert in_process["cpu_ms_per_image"] > 0
    for key, (watched, busy) in ROWS.items():
        figures = measurements[key]
        assert set(figures) >= LOAD_FIGURES, key
        assert figures["errors"] == 0, (key, figures["error_samples"])
        assert figures["ok"] > 0
        assert figures["throughput_rps"] > 0
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
        assert "max_requests" not in figures or figures["ok"] <= figures["max_requests"]
        # Every process of the row is accounted, and each watched one did work.
        assert set(figures["cpu_ms_per_request"]) == {*watched, LOAD_GENERATOR}, key
        for component in busy:
            assert figures["cpu_ms_per_request"][component] > 0, (key, component)
    assert set(report["costs"]) >= COSTS
    assert report["clients"]["http"]
    assert report["clients"]["grpc"]

    # a runtime other than the reference is measured against the reference too
    assert report["runtime"]["runtime"] == "openvino"
    assert set(report["ratios"]) == RATIOS | {"a/a_tensorflow", "c/a_tensorflow"}
    assert all(value > 0 for value in report["ratios"].values()), report["ratios"]
    assert report["ratios"]["c/a"] == pytest.approx(
        measurements["c_gateway_uncached"]["throughput_rps"] / in_process["images_per_s"], rel=1e-3
    )

    markdown = json_path.with_suffix(".md").read_text()
    for name in RATIOS:
        assert f"| {name} |" in markdown
    assert "| d. gateway" in markdown
    assert "| HTTP floor (bare endpoint)" in markdown
    assert str(json_path) in done.stdout


def test_ten_second_loadtest_writes_locust_reports(tiny_model_base: Path, tmp_path: Path) -> None:
    done = _run(
        [
            "loadtest.run",
            "--users",
            "4",
            "--spawn-rate",
            "4",
            "--duration",
            "10s",
            "--wait",
            "0.1,0.3",
            "--tags",
            "uncached,cached,feedback,serving",
            "--model-base-path",
            str(tiny_model_base),
            "--reports-dir",
            str(tmp_path),
        ],
        timeout=300,
    )

    [run_dir] = [path for path in tmp_path.iterdir() if path.is_dir()]
    assert (run_dir / "report.html").read_text().lstrip().lower().startswith("<!doctype html")
    with (run_dir / "locust_stats.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) >= LOCUST_COLUMNS
    by_name = {row["Name"]: row for row in rows}
    for name in (
        "/login",
        "/model/predict [uncached]",
        "/model/predict [cached]",
        "/feedback/",
        "serving :predict",
        "Aggregated",
    ):
        assert int(by_name[name]["Request Count"]) > 0, name
        assert int(by_name[name]["Failure Count"]) == 0, (name, (run_dir / "locust_failures.csv").read_text())

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["users"] == 4
    [single] = summary["runs"].values()
    assert single["replicas"] == 1
    assert {row["name"] for row in single["stats"]} >= {"/model/predict [cached]", "all requests"}
    table_header = next(line for line in done.stdout.splitlines() if line.startswith("request"))
    assert all(column in table_header for column in ("req/s", "p50 ms", "p95 ms", "p99 ms", "failures"))
    # The stack it started is gone: its gateway port answers no more.
    assert "stopped the stack" in done.stdout


def test_a_port_taken_after_it_was_chosen_moves_to_free_ports(
    tiny_model_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other programs on the machine may bind a port between the check and the server's start."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        monkeypatch.setattr(testbed, "_port_pair", lambda: (free_port(), taken))
        with testbed.Testbed(tmp_path, tiny_model_base, say=lambda line: None) as local:
            [replica] = local.start_serving(1, batching=False)
            assert replica.rest_port != taken
            assert model_available(replica.rest_url, tiny_model_base.name)
            assert len(local.replicas) == 1
        assert replica.service.proc.poll() is not None  # stopped with the stack
    assert any("Address already in use" in log.read_text() for log in tmp_path.glob("serving-*.log"))
