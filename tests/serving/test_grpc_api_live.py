"""The gRPC API of a running `python -m serving`, through the official tensorflow-serving-api stubs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
)

from tests.serving.helpers import outputs, png, predict_request, prediction_stub

pytestmark = pytest.mark.slow


def test_predict_one_image(tiny_channel: grpc.Channel) -> None:
    response = prediction_stub(tiny_channel).Predict(predict_request("tiny", [png(1)]), timeout=60)
    result = outputs(response)
    assert response.model_spec.name == "tiny"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    assert result["labels"].shape == (1, 5)
    assert result["scores"].dtype == np.float32
    assert result["class_ids"].dtype == np.int64
    scores = result["scores"][0]
    assert np.all(np.diff(scores) <= 0), "top-5 sorted by score"


def test_an_empty_batch_answers_an_empty_result(tiny_channel: grpc.Channel) -> None:
    result = outputs(prediction_stub(tiny_channel).Predict(predict_request("tiny", []), timeout=60))
    assert {alias: array.shape for alias, array in result.items()} == {
        "labels": (0, 5),
        "scores": (0, 5),
        "class_ids": (0, 5),
    }


def test_predict_eight_images_match_single_requests(tiny_channel: grpc.Channel) -> None:
    stub = prediction_stub(tiny_channel)
    images = [png(seed) for seed in range(10, 18)]
    together = outputs(stub.Predict(predict_request("tiny", images), timeout=60))
    assert together["labels"].shape == (8, 5)
    for row, image in enumerate(images):
        alone = outputs(stub.Predict(predict_request("tiny", [image]), timeout=60))
        np.testing.assert_array_equal(together["class_ids"][row], alone["class_ids"][0])
        np.testing.assert_allclose(together["scores"][row], alone["scores"][0], rtol=1e-5)


def test_metadata_has_the_signature(tiny_channel: grpc.Channel) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "tiny"
    response = prediction_stub(tiny_channel).GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signatures)
    signature = signatures.signature_def["serving_default"]
    assert signature.inputs["image_bytes"].dtype == types_pb2.DT_STRING
    assert [dim.size for dim in signature.inputs["image_bytes"].tensor_shape.dim] == [-1]
    assert {alias: info.dtype for alias, info in signature.outputs.items()} == {
        "labels": types_pb2.DT_STRING,
        "scores": types_pb2.DT_FLOAT,
        "class_ids": types_pb2.DT_INT64,
    }
    assert response.model_spec.version.value == 1


def test_model_status_and_health(tiny_channel: grpc.Channel) -> None:
    stub = model_service_pb2_grpc.ModelServiceStub(tiny_channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "tiny"
    statuses = stub.GetModelStatus(request, timeout=30).model_version_status
    assert [(s.version, get_model_status_pb2.ModelVersionStatus.State.Name(s.state)) for s in statuses] == [
        (1, "AVAILABLE")
    ]
    health = health_pb2_grpc.HealthStub(tiny_channel)
    for service in ("", "tensorflow.serving.PredictionService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def _error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30)
    return caught.value


def test_unknown_model_and_version_are_not_found(tiny_channel: grpc.Channel) -> None:
    predict = prediction_stub(tiny_channel).Predict
    assert _error(predict, predict_request("nope", [png(1)])).code() == grpc.StatusCode.NOT_FOUND
    assert _error(predict, predict_request("tiny", [png(1)], version=7)).code() == grpc.StatusCode.NOT_FOUND
    status = model_service_pb2_grpc.ModelServiceStub(tiny_channel).GetModelStatus
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "nope"
    assert _error(status, request).code() == grpc.StatusCode.NOT_FOUND


def test_wrong_input_name_and_dtype_are_invalid(tiny_channel: grpc.Channel) -> None:
    predict = prediction_stub(tiny_channel).Predict
    wrong_name = _error(predict, predict_request("tiny", [png(1)], input_name="image"))
    assert wrong_name.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image" in wrong_name.details()
    request = predict_request("tiny", [png(1)])
    request.inputs["image_bytes"].Clear()
    request.inputs["image_bytes"].dtype = types_pb2.DT_FLOAT
    request.inputs["image_bytes"].tensor_shape.dim.add(size=2)
    request.inputs["image_bytes"].float_val.extend([1.0, 2.0])
    wrong_dtype = _error(predict, request)
    assert wrong_dtype.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "string" in wrong_dtype.details()
    assert "float" in wrong_dtype.details()


def test_bad_image_is_named_and_does_not_fail_other_callers(tiny_channel: grpc.Channel) -> None:
    """A corrupt image sent at the same time as good ones: only its own request fails, naming it."""
    stub = prediction_stub(tiny_channel)
    truncated = png(3)[:200]
    good = [png(seed) for seed in range(20, 27)]

    def call(images: list[bytes]) -> grpc.StatusCode:
        try:
            stub.Predict(predict_request("tiny", images), timeout=60)
        except grpc.RpcError as error:
            return error.code(), error.details()
        return grpc.StatusCode.OK, ""

    with ThreadPoolExecutor(8) as pool:
        bad = pool.submit(call, [png(2), truncated])
        others = [pool.submit(call, [image]) for image in good]
        bad_code, bad_details = bad.result()
        assert bad_code == grpc.StatusCode.INVALID_ARGUMENT
        assert "image_bytes[1]" in bad_details
        assert [future.result()[0] for future in others] == [grpc.StatusCode.OK] * len(good)
    not_an_image = _error(stub.Predict, predict_request("tiny", [b"definitely not an image"]))
    assert not_an_image.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image_bytes[0]" in not_an_image.details()
