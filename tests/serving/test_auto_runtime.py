"""`--runtime auto`: the fastest candidate that passes the accuracy gate, decided once per version and CPU."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import grpc
import openvino as ov
import pytest

from serving import auto_runtime
from serving.auto_runtime import Candidate, parse_candidates
from tests.serving.helpers import jpeg, metric_samples, predict_request, prediction_stub, scrape
from tests.serving_fixtures import StartServing

BF16_CAPABLE = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
EFFICIENTNET = "efficientnet-lite0"


def test_the_reference_is_always_a_candidate_and_int8_only_when_named() -> None:
    assert [c.name for c in parse_candidates("openvino-f32")] == ["tensorflow", "openvino-f32"]
    default = [c.name for c in parse_candidates(",".join(auto_runtime.DEFAULT_CANDIDATES))]
    assert "openvino-int8" not in default
    assert "openvino-int8" in [c.name for c in parse_candidates("tensorflow,openvino-int8")]
    with pytest.raises(ValueError, match="unknown candidate 'openvino-fp16'"):
        parse_candidates("openvino-fp16")


def test_bf16_is_a_candidate_only_where_the_cpu_runs_it() -> None:
    kept, dropped = auto_runtime.runnable_here(parse_candidates("tensorflow,openvino-f32,openvino-bf16"))
    names = [c.name for c in kept]
    if BF16_CAPABLE:
        assert names == ["tensorflow", "openvino-f32", "openvino-bf16"]
        assert dropped == {}
    else:
        assert names == ["tensorflow", "openvino-f32"]
        assert dropped == {"openvino-bf16": "this CPU has neither AVX512-BF16 nor AMX"}


def test_the_decision_cache_is_keyed_by_candidates_and_export(tmp_path: Path, tiny_model_base: Path) -> None:
    version_dir = tmp_path / "tiny" / "1"
    shutil.copytree(tiny_model_base / "1", version_dir)
    candidates = parse_candidates("tensorflow,openvino-f32")
    key = auto_runtime.cache_key(candidates)
    assert key != auto_runtime.cache_key(parse_candidates("tensorflow,openvino-int8"))
    assert auto_runtime.read_decision(version_dir, key) is None
    path = auto_runtime.write_decision(version_dir, key, {"chosen": "openvino-f32", "selection": "x"})
    assert path is not None
    assert path.is_relative_to(version_dir)
    assert auto_runtime.read_decision(version_dir, key)["chosen"] == "openvino-f32"  # type: ignore[index]
    assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".runtime-choice")]
    # a file this code did not write (valid JSON, not a decision) means: decide again, not a crash
    original = path.read_text()
    path.write_text("[]")
    assert auto_runtime.read_decision(version_dir, key) is None
    path.write_text(original)
    # a changed export (another graph) is decided again
    (version_dir / "saved_model.pb").write_bytes((version_dir / "saved_model.pb").read_bytes() + b"\0")
    assert auto_runtime.read_decision(version_dir, key) is None


def test_an_unknown_candidate_stops_the_server_at_start() -> None:
    from serving.runtimes import RuntimeUnavailableError, servable_loader

    with pytest.raises(RuntimeUnavailableError, match="--auto_candidates: unknown candidate 'gpu'"):
        servable_loader("auto", "f32", auto_candidates="tensorflow,gpu")


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


def test_candidate_names_round_trip() -> None:
    for name in ("tensorflow", "openvino-f32", "openvino-bf16", "openvino-int8"):
        assert Candidate.parse(name).name == name
