"""Versions appearing on disk while serving, and a graceful SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from stack.procs import Service, free_port, wait_until
from tests.serving.helpers import http, metric_samples, png, predict_request, prediction_stub, scrape
from tests.serving_fixtures import SERVING_DIR, ServingProcess, StartServing, serving_args

pytestmark = pytest.mark.slow


def _states(server: ServingProcess) -> dict[str, str]:
    status, body = http("GET", f"{server.rest_url}/v1/models/{server.model_name}")
    assert status == 200
    return {entry["version"]: entry["state"] for entry in body["model_version_status"]}


def test_new_version_is_loaded_and_served_without_restart(
    start_serving: StartServing, tiny_model_base: Path, tmp_path: Path
) -> None:
    """Also runs the repository's serving/models.config (base_path /models/resnet50 -> --models_dir)."""
    base = tmp_path / "resnet50"
    shutil.copytree(tiny_model_base / "1", base / "1")
    server = start_serving(
        tmp_path / "unused",
        "resnet50",
        extra_args=[f"--model_config_file={SERVING_DIR / 'models.config'}", f"--models_dir={tmp_path}"],
    )
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_stub(channel)
        assert stub.Predict(predict_request("resnet50", [png(1)]), timeout=60).model_spec.version.value == 1

        versions_seen: list[int] = []
        failures: list[grpc.RpcError] = []
        done = threading.Event()

        def keep_predicting() -> None:
            while not done.is_set():
                try:
                    versions_seen.append(
                        stub.Predict(
                            predict_request("resnet50", [png(2)]), timeout=60
                        ).model_spec.version.value
                    )
                except grpc.RpcError as error:
                    failures.append(error)

        with ThreadPoolExecutor(1) as pool:
            traffic = pool.submit(keep_predicting)
            # publish version 2 the way an exporter should: complete folder, then one rename
            shutil.copytree(tiny_model_base / "1", base / ".2.incoming")
            (base / ".2.incoming").rename(base / "2")
            wait_until(lambda: _states(server).get("2") == "AVAILABLE", 120, server.service.proc, "version 2")
            wait_until(lambda: versions_seen[-1:] == [2], 30, server.service.proc, "traffic on version 2")
            done.set()
            traffic.result()

        assert failures == []
        assert versions_seen[0] == 1
        response = stub.Predict(predict_request("resnet50", [png(3)]), timeout=60)
        assert response.model_spec.version.value == 2
        wait_until(lambda: _states(server).get("1") == "END", 60, server.service.proc, "version 1 unloaded")
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(predict_request("resnet50", [png(3)], version=1), timeout=60)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    server.stop()


def test_sigterm_finishes_in_flight_requests_then_exits_zero(
    start_serving: StartServing, tiny_model_base: Path, tmp_path: Path
) -> None:
    config = tmp_path / "batching.config"
    # a long batch timeout keeps the requests queued (in flight) when SIGTERM arrives
    config.write_text(
        "max_batch_size { value: 64 }\nbatch_timeout_micros { value: 3000000 }\n"
        "num_batch_threads { value: 1 }\nmax_enqueued_batches { value: 4 }\n"
    )
    server = start_serving(tiny_model_base, "tiny", extra_args=[f"--batching_parameters_file={config}"])
    callers = 4
    with grpc.insecure_channel(server.grpc_target) as channel, ThreadPoolExecutor(callers) as pool:
        stub = prediction_stub(channel)
        futures = [
            pool.submit(stub.Predict, predict_request("tiny", [png(seed)]), timeout=60)
            for seed in range(callers)
        ]

        def all_queued() -> bool:
            depth = metric_samples(scrape(server.rest_url), "tensorflow_serving_batch_queue_depth")
            return depth.get('{model_name="tiny"}') == callers

        wait_until(all_queued, 30, server.service.proc, "requests queued")
        os.killpg(server.service.proc.pid, signal.SIGTERM)
        results = [future.result() for future in futures]
    assert [r.outputs["labels"].tensor_shape.dim[0].size for r in results] == [1] * callers
    assert server.service.proc.wait(60) == 0
    assert "Server stopped" in server.service.log_text()


def test_a_taken_grpc_port_is_refused_not_shared(
    start_serving: StartServing, tiny_model_base: Path, tmp_path: Path
) -> None:
    """grpc's default SO_REUSEPORT would let a second server silently take half of the first one's traffic."""
    first = start_serving(tiny_model_base, "tiny")
    second = Service(
        serving_args(tiny_model_base, "tiny", first.grpc_port, free_port(), batching=False),
        tmp_path / "second.log",
    )
    try:
        wait_until(lambda: second.proc.poll() is not None, 120, what="second server on a taken port")
    finally:
        second.stop()
    assert second.proc.returncode != 0
    assert f"gRPC port {first.grpc_port} is already in use" in second.log_text()
    assert first.model_available()
