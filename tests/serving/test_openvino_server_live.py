"""`python -m serving --runtime openvino`: same API as the TensorFlow runtime, same answers, and says so."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import openvino as ov
import pytest
from skimage import data
from tensorflow_serving.apis import get_model_metadata_pb2

from stack.procs import PYTHON, wait_until
from tests.serving.helpers import (
    b64,
    http,
    jpeg,
    metric_samples,
    outputs,
    png,
    predict_request,
    prediction_stub,
    scrape,
)
from tests.serving_fixtures import ServingProcess, StartServing

pytestmark = pytest.mark.slow

OPENVINO_F32 = ("--runtime", "openvino", "--precision", "f32")
EFFICIENTNET = "efficientnet-lite0"


def _photos() -> list[bytes]:
    """Eight different photos shipped with scikit-image, as JPEG."""
    gray = [data.camera(), data.moon(), data.text(), data.page()]
    colour = [data.chelsea(), data.coffee(), data.astronaut(), data.rocket()]
    return [jpeg(image) for image in colour] + [jpeg(np.stack([image] * 3, axis=-1)) for image in gray]


def _predict(
    channel: grpc.Channel, model: str, images: list[bytes]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    response, call = prediction_stub(channel).Predict.with_call(predict_request(model, images), timeout=120)
    return outputs(response), dict(call.initial_metadata())


def _assert_same_answers(got: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    """Scores (sorted, so comparable by position) within 1e-3; labels equal wherever TensorFlow's own
    scores separate them by more than float32 noise (the random tiny model has near-ties)."""
    np.testing.assert_allclose(got["scores"], reference["scores"], rtol=0, atol=1e-3)
    scores = reference["scores"]
    gaps = np.minimum(
        np.abs(np.diff(scores, axis=1, prepend=np.inf)), np.abs(np.diff(scores, axis=1, append=-np.inf))
    )
    separated = gaps > 1e-7  # f32 runtimes differ by ~1e-8 on these ~1e-3 scores
    assert separated.mean() >= 0.5, "the comparison must cover most labels"
    np.testing.assert_array_equal(got["labels"][separated], reference["labels"][separated])


@pytest.fixture(scope="module")
def ov_base(tiny_model_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny model, so a version can be added without touching other tests' servers."""
    base = tmp_path_factory.mktemp("openvino-models") / "tiny"
    shutil.copytree(tiny_model_base / "1", base / "1")
    return base


@pytest.fixture(scope="module")
def ov_server(start_shared_serving: StartServing, ov_base: Path) -> Iterator[ServingProcess]:
    server = start_shared_serving(ov_base, "tiny", extra_args=OPENVINO_F32)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ov_channel(ov_server: ServingProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(ov_server.grpc_target) as channel:
        yield channel


@pytest.mark.parametrize("count", [0, 1, 8])
def test_predict_agrees_with_the_tensorflow_server(
    ov_channel: grpc.Channel, tiny_channel: grpc.Channel, count: int
) -> None:
    images = [png(seed) for seed in range(40, 40 + count)]
    got, headers = _predict(ov_channel, "tiny", images)
    reference, reference_headers = _predict(tiny_channel, "tiny", images)
    assert got["labels"].shape == (count, 5)
    assert got["labels"].dtype == reference["labels"].dtype == object
    assert got["class_ids"].dtype == np.int64
    if count:  # an empty batch answers empty on both runtimes
        _assert_same_answers(got, reference)
    assert (headers["x-model-runtime"], headers["x-model-precision"]) == ("openvino", "f32")
    assert (reference_headers["x-model-runtime"], reference_headers["x-model-precision"]) == (
        "tensorflow",
        "f32",
    )


def test_metadata_reports_the_runtime_and_keeps_the_signature(
    ov_server: ServingProcess, ov_channel: grpc.Channel, tiny_server: ServingProcess
) -> None:
    status, body = http("GET", f"{ov_server.rest_url}/v1/models/tiny/metadata")
    _, reference = http("GET", f"{tiny_server.rest_url}/v1/models/tiny/metadata")
    assert status == 200
    assert body["runtime"]["runtime"] == "openvino"
    assert body["runtime"]["precision"] == "f32"
    assert reference["runtime"] == {"runtime": "tensorflow", "precision": "f32"}
    # TF Serving's own keys are unchanged: the signature comes from saved_model.pb either way
    assert body["metadata"] == reference["metadata"]
    assert body["model_spec"] == reference["model_spec"]

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "tiny"
    response, call = prediction_stub(ov_channel).GetModelMetadata.with_call(request, timeout=30)
    assert set(response.metadata) == {"signature_def"}
    assert dict(call.initial_metadata())["x-model-runtime"] == "openvino"

    status, predicted = http(
        "POST", f"{ov_server.rest_url}/v1/models/tiny:predict", {"instances": [b64(png(3))]}
    )
    assert status == 200
    assert len(predicted["predictions"][0]["labels"]) == 5
    info = metric_samples(scrape(ov_server.rest_url), "tensorflow_serving_runtime_info")
    assert info == {
        '{model_name="tiny",precision="f32",runtime="openvino",selected_by="flag",version="1"}': 1.0
    }


def test_rest_predict_has_runtime_headers(ov_server: ServingProcess) -> None:
    request = urllib.request.Request(
        f"{ov_server.rest_url}/v1/models/tiny:predict",
        data=json.dumps({"instances": [b64(png(5))]}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["x-model-runtime"] == "openvino"
        assert response.headers["x-model-precision"] == "f32"


def test_undecodable_image_is_invalid_argument_naming_its_index(ov_channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        prediction_stub(ov_channel).Predict(
            predict_request("tiny", [png(1), png(2), b"\x89PNG but not really"]), timeout=60
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image_bytes[2]" in caught.value.details()
    # the server is unharmed
    assert _predict(ov_channel, "tiny", [png(1)])[0]["labels"].shape == (1, 5)


def test_efficientnet_real_weights_agree_with_the_tensorflow_server(
    start_serving: StartServing, efficientnet_base: Path
) -> None:
    images = _photos()
    tf_server = start_serving(efficientnet_base, EFFICIENTNET, batching=False)
    with grpc.insecure_channel(tf_server.grpc_target) as channel:
        reference, _ = _predict(channel, EFFICIENTNET, images)
    tf_server.stop()
    ov = start_serving(efficientnet_base, EFFICIENTNET, extra_args=OPENVINO_F32)
    with grpc.insecure_channel(ov.grpc_target) as channel:
        single, _ = _predict(channel, EFFICIENTNET, images[:1])
        got, headers = _predict(channel, EFFICIENTNET, images)
    ov.stop()
    assert headers["x-model-runtime"] == "openvino"
    np.testing.assert_array_equal(got["labels"][:, 0], reference["labels"][:, 0])
    np.testing.assert_allclose(got["scores"], reference["scores"], rtol=0, atol=1e-3)
    np.testing.assert_array_equal(single["labels"][0], got["labels"][0])


@pytest.mark.skipif(
    "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"), reason="this CPU runs bf16"
)
def test_bf16_on_a_cpu_without_it_stops_the_server_at_start(ov_base: Path) -> None:
    result = subprocess.run(
        [PYTHON, "-m", "serving", "--port=0", f"--model_base_path={ov_base}", *OPENVINO_F32[:3], "bf16"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "--precision bf16: bf16 needs a CPU with AVX512-BF16 or AMX" in result.stderr


def _served_version(channel: grpc.Channel) -> int:
    return (
        prediction_stub(channel)
        .Predict(predict_request("tiny", [png(1)]), timeout=60)
        .model_spec.version.value
    )


def test_new_version_is_loaded_under_openvino(
    ov_server: ServingProcess, ov_channel: grpc.Channel, ov_base: Path
) -> None:
    """Last in this file: version 2 (converted on load: its IR cache is left out) replaces version 1."""
    shutil.copytree(ov_base / "1", ov_base / "2", ignore=shutil.ignore_patterns("openvino"))
    wait_until(lambda: _served_version(ov_channel) == 2, timeout=120, what="version 2 served")
    _, headers = _predict(ov_channel, "tiny", [png(7)])
    assert headers["x-model-runtime"] == "openvino"
    assert (ov_base / "2" / "assets.extra" / "openvino" / "f32" / "model.xml").is_file()

    def runtime_info() -> dict[str, float]:
        return metric_samples(scrape(ov_server.rest_url), "tensorflow_serving_runtime_info")

    wait_until(lambda: len(runtime_info()) == 1, timeout=60, what="version 1 unloaded")
    assert runtime_info() == {
        '{model_name="tiny",precision="f32",runtime="openvino",selected_by="flag",version="2"}': 1.0
    }


def test_decoded_images_count_in_the_queued_bytes_limit(start_serving: StartServing, ov_base: Path) -> None:
    """OpenVINO holds a request's decoded rows until its batch runs: a request of a few hundred bytes
    must not be able to pin 600 KiB of pixels per row beyond --max_queued_bytes."""
    from serving.openvino_ir import build

    front = build.ensure(ov_base / "1", "f32").front  # the cached IR (converted here if no server did yet)
    row_bytes = front.height * front.width * 3 * 4
    limit = 10 * row_bytes + 100_000  # room for the encoded request and 10 decoded rows, not 16
    server = start_serving(ov_base, "tiny", extra_args=(*OPENVINO_F32, f"--max_queued_bytes={limit}"))
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            got, _ = _predict(channel, "tiny", [png(seed) for seed in range(4)])
            assert got["labels"].shape == (4, 5)
            with pytest.raises(grpc.RpcError) as refused:
                _predict(channel, "tiny", [png(seed) for seed in range(16)])
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "its decoded images" in refused.value.details()
        assert "--max_queued_bytes" in refused.value.details()
    finally:
        server.stop()
