"""Server-side batching on a running server: batches form, callers get their own rows, overload is refused."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest

from tests.serving.helpers import metric_samples, outputs, png, predict_request, prediction_stub, scrape
from tests.serving_fixtures import ServingProcess, StartServing

pytestmark = pytest.mark.slow


def _batches_larger_than_one(rest_url: str) -> float:
    text = scrape(rest_url)
    total = metric_samples(text, "tensorflow_serving_batch_size_count")['{model_name="tiny"}']
    single = metric_samples(text, "tensorflow_serving_batch_size_bucket")['{le="1.0",model_name="tiny"}']
    return total - single


def test_concurrent_requests_are_batched_and_each_caller_gets_its_own_answer(
    tiny_server: ServingProcess, tiny_channel: grpc.Channel
) -> None:
    stub = prediction_stub(tiny_channel)
    images = [png(seed) for seed in range(100, 116)]
    solo = [outputs(stub.Predict(predict_request("tiny", [image]), timeout=60)) for image in images]
    # the test can only tell callers apart if their images give different answers
    assert len({tuple(result["scores"][0].round(9)) for result in solo}) == len(images)
    before = _batches_larger_than_one(tiny_server.rest_url)

    start = threading.Barrier(len(images))

    def call(image: bytes) -> dict[str, np.ndarray]:
        start.wait()
        return outputs(stub.Predict(predict_request("tiny", [image]), timeout=60))

    with ThreadPoolExecutor(len(images)) as pool:
        results = list(pool.map(call, images))

    assert _batches_larger_than_one(tiny_server.rest_url) > before
    for index, result in enumerate(results):
        distances = [np.abs(result["scores"][0] - other["scores"][0]).max() for other in solo]
        assert int(np.argmin(distances)) == index
        np.testing.assert_allclose(result["scores"][0], solo[index]["scores"][0], rtol=1e-5)
        np.testing.assert_array_equal(result["labels"][0], solo[index]["labels"][0])


def test_a_full_queue_refuses_at_once_and_nothing_hangs(
    start_serving: StartServing, tiny_model_base: Path, tmp_path: Path
) -> None:
    config = tmp_path / "batching.config"
    config.write_text(
        "max_batch_size { value: 2 }\n"
        "batch_timeout_micros { value: 0 }\n"
        "num_batch_threads { value: 1 }\n"
        "max_enqueued_batches { value: 1 }\n"
    )
    server = start_serving(tiny_model_base, "tiny", extra_args=[f"--batching_parameters_file={config}"])
    images = [png(seed, size=512) for seed in range(2)]
    callers = 48
    start = threading.Barrier(callers)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_stub(channel)

        def call(_: int) -> grpc.StatusCode:
            start.wait()
            try:
                stub.Predict(predict_request("tiny", images), timeout=60)
            except grpc.RpcError as error:
                return error.code()
            return grpc.StatusCode.OK

        with ThreadPoolExecutor(callers) as pool:
            codes = list(pool.map(call, range(callers)))
        # the batch queue refuses with UNAVAILABLE; callers beyond --max_concurrent_rpcs or
        # --max_queued_requests (24 each) may be refused earlier with RESOURCE_EXHAUSTED
        assert {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE} <= set(codes), codes
        assert set(codes) <= {
            grpc.StatusCode.OK,
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        }
        # the server is still healthy afterwards
        assert (
            stub.Predict(predict_request("tiny", images), timeout=60)
            .outputs["labels"]
            .tensor_shape.dim[0]
            .size
            == 2
        )
    text = scrape(server.rest_url)
    refused = metric_samples(text, "tensorflow_serving_request_count_total")
    assert refused['{api="grpc",model_name="tiny",status="UNAVAILABLE"}'] == codes.count(
        grpc.StatusCode.UNAVAILABLE
    )
    server.stop()
