"""`--runtime auto` in a real server: the fastest candidate that passes the accuracy gate, decided once per
version and CPU, and reported in headers, metadata and metrics."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import grpc
import openvino as ov
import pytest

from tests.serving.helpers import jpeg, metric_samples, predict_request, prediction_stub, scrape
from tests.serving_fixtures import StartServing

BF16_CAPABLE = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
EFFICIENTNET = "efficientnet-lite0"


def _predict_headers(target: str, model: str) -> dict[str, str]:
    from skimage import data

    with grpc.insecure_channel(target) as channel:
        _, call = prediction_stub(channel).Predict.with_call(
            predict_request(model, [jpeg(data.chelsea())]), timeout=120
        )
    return dict(call.initial_metadata())


def _metadata(rest_url: str, model: str) -> dict:
    with urllib.request.urlopen(f"{rest_url}/v1/models/{model}/metadata", timeout=30) as response:
        return json.load(response)


@pytest.mark.slow
def test_auto_serves_the_fastest_passing_candidate_and_says_why(
    start_serving: StartServing, efficientnet_base: Path, tmp_path: Path
) -> None:
    base = tmp_path / EFFICIENTNET
    shutil.copytree(efficientnet_base / "1", base / "1")
    server = start_serving(base, EFFICIENTNET, extra_args=("--runtime", "auto"))
    try:
        log = server.service.log_text()
        [decision_file] = (base / "1" / "assets.extra" / "openvino").glob("runtime-choice-*.json")
        decision = json.loads(decision_file.read_text())
        verdicts = decision["gate"]["verdicts"]
        judged = set(verdicts)
        assert judged == ({"openvino-f32", "openvino-bf16"} if BF16_CAPABLE else {"openvino-f32"})
        passing = {"tensorflow"} | {name for name, v in verdicts.items() if v["passed"]}
        assert set(decision["images_per_second"]) == passing
        chosen = decision["chosen"]
        assert decision["images_per_second"][chosen] == max(decision["images_per_second"].values())
        assert f"auto: {EFFICIENTNET} version 1: {chosen}: fastest of {len(passing)}" in log
        runtime, _, precision = chosen.partition("-")

        headers = _predict_headers(server.grpc_target, EFFICIENTNET)
        assert headers["x-model-runtime"] == runtime
        assert headers["x-model-precision"] == (precision or "f32")
        assert headers["x-model-selected-by"] == "auto"
        assert headers["x-model-selection"].startswith(f"{chosen}: fastest of")
        assert _metadata(server.rest_url, EFFICIENTNET)["runtime"]["selection"] == decision["selection"]
        info = metric_samples(scrape(server.rest_url), "tensorflow_serving_runtime_info")
        auto = [labels for labels in info if 'selected_by="auto"' in labels]
        assert len(auto) == 1
        assert f'runtime="{runtime}"' in auto[0]
    finally:
        server.stop()

    # a restart on the same CPU loads the decision instead of measuring again
    again = start_serving(base, EFFICIENTNET, extra_args=("--runtime", "auto"))
    try:
        log = again.service.log_text()
        assert "(cached in" in log
        assert "measuring" not in log
        assert _predict_headers(again.grpc_target, EFFICIENTNET)["x-model-selection"] == decision["selection"]
    finally:
        again.stop()
