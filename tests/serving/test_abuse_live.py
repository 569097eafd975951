"""Hostile input against a real `python -m serving` (issue 11): every limit is checked before the work it
bounds, refusals name the limit, one caller's bad request never fails another's, abandoned work is dropped.

The server runs with its default limits except where a test needs a small one to stay fast (the flags
are named in `_LIMIT_FLAGS`); the hostile files are made here with Pillow, a few hundred KB each.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
import urllib.error
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from tests.serving.helpers import (
    b64,
    http,
    jpeg,
    metric_samples,
    png,
    predict_request,
    prediction_stub,
    scrape,
)
from tests.serving_fixtures import ServingProcess, StartServing

pytestmark = pytest.mark.slow

MODEL = "tiny"
_LIMIT_FLAGS = ["--max_concurrent_rest_requests=4"]


# --- hostile files ------------------------------------------------------------------------------
def animated_gif(frames: int, size: int) -> bytes:
    """`frames` frames of `size`x`size`, each a different solid colour (Pillow keeps every frame)."""
    images = [Image.new("P", (size, size), color=index % 200) for index in range(frames)]
    for image in images:
        image.putpalette([value for index in range(256) for value in (index, 255 - index, index // 2)])
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=20, optimize=False)
    return buffer.getvalue()


def png_bomb(side: int) -> bytes:
    """A 1-bit PNG declaring side x side pixels: ~side**2 / 8000 KB on disk, 3 * side**2 bytes decoded."""
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def amplified_request(declared: int, image: bytes) -> predict_pb2.PredictRequest:
    """One string value under a shape that declares `declared` of them (TF would repeat the value)."""
    request = predict_request(MODEL, [image])
    request.inputs["image_bytes"].CopyFrom(
        tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=declared)]
            ),
            string_val=[image],
        )
    )
    return request


# --- the server and what we watch on it ---------------------------------------------------------
def rss_kib(server: ServingProcess) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of the server process, in KiB."""
    status = Path(f"/proc/{server.service.proc.pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def rows_run(server: ServingProcess) -> float:
    """Rows the model has run in batches (before padding), from the server's metrics."""
    samples = metric_samples(scrape(server.rest_url), "tensorflow_serving_batch_size_sum")
    return samples.get(f'{{model_name="{MODEL}"}}', 0.0)


@pytest.fixture(scope="module")
def server(start_shared_serving: StartServing, tiny_model_base: Path) -> ServingProcess:
    return start_shared_serving(tiny_model_base, MODEL, extra_args=_LIMIT_FLAGS)


@pytest.fixture(scope="module")
def stub(server: ServingProcess) -> Iterator[object]:
    options = [("grpc.max_send_message_length", 2**30), ("grpc.max_receive_message_length", 2**30)]
    with grpc.insecure_channel(server.grpc_target, options=options) as channel:
        yield prediction_stub(channel)


def refusal(stub: object, request: predict_pb2.PredictRequest, timeout: float = 20) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        stub.Predict(request, timeout=timeout)  # type: ignore[attr-defined]
    return refused.value


def assert_still_serving(stub: object) -> None:
    response = stub.Predict(predict_request(MODEL, [png(1)]), timeout=30)  # type: ignore[attr-defined]
    assert response.outputs["labels"].tensor_shape.dim[0].size == 1


# --- 1. frames and pixels, from the header, before any decode -----------------------------------
def test_an_animated_gif_with_too_many_frames_is_refused_before_decode(
    server: ServingProcess, stub: object
) -> None:
    error = refusal(stub, predict_request(MODEL, [animated_gif(frames=150, size=32)]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "frames" in error.details()
    assert "max_image_frames" in error.details()
    assert_still_serving(stub)


def test_an_animated_gif_whose_frames_add_up_to_too_many_pixels_is_refused_without_memory_growth(
    server: ServingProcess, stub: object
) -> None:
    hostile = animated_gif(frames=20, size=1000)  # 20 M pixels over its frames, ~50 KB on the wire
    before = rss_kib(server)
    error = refusal(stub, predict_request(MODEL, [hostile]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_image_pixels" in error.details()
    assert rss_kib(server)["VmHWM"] - before["VmHWM"] < 50_000  # KiB: nothing was decoded


def test_a_png_dimension_bomb_is_refused_from_its_header(server: ServingProcess, stub: object) -> None:
    hostile = png_bomb(9000)  # 81 M pixels: under the graph's own limit, over the server's
    before = rss_kib(server)
    error = refusal(stub, predict_request(MODEL, [hostile]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_image_pixels" in error.details()
    assert "81000000" in error.details()
    status, body = http("POST", f"{server.rest_url}/v1/models/{MODEL}:predict", {"instances": [b64(hostile)]})
    assert status == 400
    assert "max_image_pixels" in body["error"]
    assert rss_kib(server)["VmHWM"] - before["VmHWM"] < 50_000


# --- 3. declared tensor shape against the elements present --------------------------------------
@pytest.mark.parametrize("declared", [20, 100_000, 60_000_000])
def test_a_shape_declaring_more_strings_than_present_is_refused_before_expansion(
    server: ServingProcess, stub: object, declared: int
) -> None:
    before = rss_kib(server)
    started = time.monotonic()
    error = refusal(stub, amplified_request(declared, png(2, 32)), timeout=15)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"[{declared}]" in error.details()
    assert "1 value" in error.details() or "max_request_batch_size" in error.details()
    assert rss_kib(server)["VmHWM"] - before["VmHWM"] < 50_000
    assert time.monotonic() - started < 15  # answered, not timed out (the deadline is the real check)
    assert_still_serving(stub)


def test_the_batch_size_is_checked_before_any_image(server: ServingProcess, stub: object) -> None:
    error = refusal(stub, predict_request(MODEL, [b"not an image"] * 5000))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_request_batch_size" in error.details()


# --- 4. one caller's bad request never fails another's ------------------------------------------
def test_bad_requests_do_not_fail_good_requests_in_the_same_batches(
    server: ServingProcess, stub: object
) -> None:
    """Good callers keep sending while the bad requests are in flight, so they share batches with them."""
    bomb = png_bomb(10_000)  # 100 M pixels: over the graph's own limit too
    bad_done = threading.Event()
    start = threading.Barrier(12 + 4)

    def good(seed: int) -> list[str]:
        start.wait()
        results = []
        while not bad_done.is_set() or len(results) < 3:
            try:
                stub.Predict(predict_request(MODEL, [png(seed, 64)]), timeout=60)  # type: ignore[attr-defined]
                results.append("OK")
            except grpc.RpcError as error:
                results.append(f"{error.code().name}: {error.details()}")
        return results

    def bad(_: int) -> str:
        start.wait()
        try:
            stub.Predict(predict_request(MODEL, [bomb]), timeout=60)  # type: ignore[attr-defined]
        except grpc.RpcError as error:
            return error.code().name
        return "OK"

    with ThreadPoolExecutor(12 + 4) as pool:
        good_calls = [pool.submit(good, seed) for seed in range(12)]
        bad_results = list(pool.map(bad, range(4)))
        bad_done.set()
        good_results = [result for call in good_calls for result in call.result()]
    assert bad_results == ["INVALID_ARGUMENT"] * 4
    assert [result for result in good_results if result != "OK"] == []


# --- 5. REST: body size, JSON depth and types; gRPC message size ---------------------------------
def test_a_rest_body_over_the_limit_is_refused_by_its_content_length(server: ServingProcess) -> None:
    connection = HTTPConnection("127.0.0.1", server.rest_port, timeout=10)
    connection.putrequest("POST", f"/v1/models/{MODEL}:predict")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(400 * 2**20))
    connection.endheaders(b'{"instances": ["' + b"A" * 1000)  # the rest never comes
    response = connection.getresponse()
    assert response.status == 413
    assert "max_request_bytes" in json.loads(response.read())["error"]
    connection.close()


def test_a_chunked_rest_body_is_refused_while_streaming(server: ServingProcess) -> None:
    before = rss_kib(server)
    connection = HTTPConnection("127.0.0.1", server.rest_port, timeout=30)

    def chunks() -> Iterator[bytes]:
        yield b'{"instances": ["'
        for _ in range(100):  # 100 MiB if the server read it all
            yield b"A" * 2**20

    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # answered before the body ended
        connection.request(
            "POST",
            f"/v1/models/{MODEL}:predict",
            body=chunks(),
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
    response = connection.getresponse()
    assert response.status == 413
    assert "max_request_bytes" in json.loads(response.read())["error"]
    connection.close()
    assert rss_kib(server)["VmHWM"] - before["VmHWM"] < 100_000


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "max_json_depth"),
        (b'{"instances": ' + b"[" * 900 + b'"x"' + b"]" * 900 + b"}", "max_json_depth"),
        (json.dumps({"signature_name": ["serving_default"], "instances": ["x"]}).encode(), "signature_name"),
        (json.dumps({"signature_name": 7, "instances": ["x"]}).encode(), "signature_name"),
    ],
    ids=["depth-100000", "depth-900", "signature-list", "signature-number"],
)
def test_malformed_json_is_a_400_not_a_500(server: ServingProcess, body: bytes, words: str) -> None:
    status, answer = http("POST", f"{server.rest_url}/v1/models/{MODEL}:predict", body)
    assert status == 400, answer
    assert words in answer["error"]


@pytest.mark.parametrize("path", ["", ":predict", "/metadata"])
def test_a_5000_digit_version_is_a_400(server: ServingProcess, path: str) -> None:
    version = "9" * 5000
    method = "POST" if path == ":predict" else "GET"
    body = {"instances": [b64(png(3, 32))]} if method == "POST" else None
    status, answer = http(method, f"{server.rest_url}/v1/models/{MODEL}/versions/{version}{path}", body)
    assert status == 400, answer
    assert "version" in answer["error"]


def test_a_grpc_message_over_the_limit_is_refused(server: ServingProcess, stub: object) -> None:
    error = refusal(stub, predict_request(MODEL, [b"\x89PNG" + b"\0" * (40 * 2**20)]))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in error.details()
    assert_still_serving(stub)


# --- 6. abandoned work is dropped before it runs ------------------------------------------------
@pytest.fixture(scope="module")
def slow_server(
    start_shared_serving: StartServing, tiny_model_base: Path, tmp_path_factory: pytest.TempPathFactory
) -> ServingProcess:
    """A batch waits 3 s for company before it runs, so requests sit in the queue long enough to expire."""
    config = tmp_path_factory.mktemp("abuse") / "batching.config"
    config.write_text(
        "max_batch_size { value: 64 }\nbatch_timeout_micros { value: 3000000 }\n"
        "num_batch_threads { value: 1 }\nmax_enqueued_batches { value: 100 }\n"
    )
    return start_shared_serving(
        tiny_model_base,
        MODEL,
        extra_args=[
            f"--batching_parameters_file={config}",
            "--max_concurrent_rpcs=6",
            "--max_queued_requests=8",
            "--max_concurrent_rest_requests=3",
        ],
    )


def test_concurrent_rpcs_and_queued_requests_are_bounded(slow_server: ServingProcess) -> None:
    """Six calls held in the open batch fill --max_concurrent_rpcs; two REST calls then fill
    --max_queued_requests: the next call of each kind is refused at once, and the held ones complete."""
    with grpc.insecure_channel(slow_server.grpc_target) as channel:
        stub = prediction_stub(channel)
        held = [stub.Predict.future(predict_request(MODEL, [png(seed, 32)]), timeout=30) for seed in range(6)]
        time.sleep(0.5)
        error = refusal(stub, predict_request(MODEL, [png(7, 32)]), timeout=2)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max_concurrent_rpcs" in error.details()
        url = f"{slow_server.rest_url}/v1/models/{MODEL}:predict"
        with ThreadPoolExecutor(2) as pool:
            rest_held = [
                pool.submit(http, "POST", url, {"instances": [b64(png(seed, 32))]}) for seed in (8, 9)
            ]
            time.sleep(0.5)
            status, answer = http("POST", url, {"instances": [b64(png(10, 32))]})
            assert status == 429
            assert "--max_queued_requests" in answer["error"]
            assert [call.result()[0] for call in rest_held] == [200, 200]
        assert [call.result().outputs["labels"].tensor_shape.dim[0].size for call in held] == [1] * 6


def test_rest_requests_being_processed_are_bounded(slow_server: ServingProcess) -> None:
    """Three REST calls whose bodies arrived wait in the open batch: the fourth gets 503 at once, naming the
    limit, and the held ones complete."""
    url = f"{slow_server.rest_url}/v1/models/{MODEL}:predict"
    with ThreadPoolExecutor(3) as pool:
        held = [pool.submit(http, "POST", url, {"instances": [b64(png(seed, 32))]}) for seed in (11, 12, 13)]
        time.sleep(0.5)
        status, answer = http("POST", url, {"instances": [b64(png(14, 32))]})
        assert status == 503
        assert "--max_concurrent_rest_requests" in answer["error"]
        assert [call.result()[0] for call in held] == [200, 200, 200]


def test_expired_cancelled_and_abandoned_requests_are_not_run(slow_server: ServingProcess) -> None:
    with grpc.insecure_channel(slow_server.grpc_target) as channel:
        stub = prediction_stub(channel)
        before = rows_run(slow_server)
        live = stub.Predict.future(predict_request(MODEL, [png(0, 32)]), timeout=60)
        expired = [
            stub.Predict.future(predict_request(MODEL, [png(seed, 32)] * 8), timeout=1) for seed in range(3)
        ]
        cancelled = stub.Predict.future(predict_request(MODEL, [png(9, 32)] * 8), timeout=60)
        # a REST caller that gives up: sends its request, then hangs up while it is queued
        rest = socket.create_connection(("127.0.0.1", slow_server.rest_port), timeout=10)
        body = json.dumps({"instances": [b64(png(10, 32))] * 8}).encode()
        rest.sendall(
            f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        time.sleep(1.2)
        cancelled.cancel()
        rest.close()
        codes = []
        for call in expired:
            try:
                call.result()
                codes.append("OK")
            except grpc.RpcError as error:
                codes.append(error.code().name)
        assert codes == ["DEADLINE_EXCEEDED"] * len(expired)
        assert live.result().outputs["labels"].tensor_shape.dim[0].size == 1
        time.sleep(0.5)
        assert rows_run(slow_server) - before == 1  # only the live request's row ran


# --- memory: the limits together keep a replica within its 2 GiB --------------------------------
def test_the_largest_allowed_requests_at_once_stay_within_the_memory_budget(
    server: ServingProcess, stub: object
) -> None:
    """Images at the pixel limit and bodies at the byte limit, all at once: the peak RSS growth stays
    well under what a 2 GiB replica has left after its model (serving/limits.py has the arithmetic)."""
    rng = np.random.default_rng(1)
    blocks = (rng.random((35, 35, 3)) * 255).astype(np.uint8)
    at_pixel_limit = jpeg(np.kron(blocks, np.ones((100, 100, 1), np.uint8)))  # 3500 x 3500: 12.25 M pixels
    at_byte_limit = b"\x89PNG\r\n\x1a\n" + bytes(11 * 2**20 - 2048)
    rest_body = json.dumps({"instances": [b64(at_byte_limit[: 8 * 2**20])]}).encode()
    before = rss_kib(server)

    def image_call(_: int) -> str:
        try:
            stub.Predict(predict_request(MODEL, [at_pixel_limit]), timeout=120)  # type: ignore[attr-defined]
        except grpc.RpcError as error:
            return error.code().name
        return "OK"

    def bytes_call(_: int) -> str:
        try:
            stub.Predict(predict_request(MODEL, [at_byte_limit]), timeout=120)  # type: ignore[attr-defined]
        except grpc.RpcError as error:
            return error.code().name
        return "OK"

    def rest_call(_: int) -> int | str:
        try:
            return http("POST", f"{server.rest_url}/v1/models/{MODEL}:predict", rest_body)[0]
        except (urllib.error.URLError, ConnectionError):
            return "reset"  # refused (503) before the server read the body the client was still sending

    with ThreadPoolExecutor(56) as pool:
        images = pool.map(image_call, range(8))
        big = pool.map(bytes_call, range(24))
        rest = pool.map(rest_call, range(16))
        images_codes, big_codes, rest_codes = list(images), list(big), list(rest)
    growth = rss_kib(server)["VmHWM"] - before["VmHWM"]
    print(f"peak RSS growth {growth // 1024} MiB")
    assert set(images_codes) <= {"OK", "RESOURCE_EXHAUSTED"}
    assert "OK" in images_codes
    assert set(big_codes) <= {"INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"}
    assert set(rest_codes) <= {400, 429, 503, "reset"}  # 429: the bodies' bytes filled --max_queued_bytes
    assert growth < 1_100_000  # KiB: 2 GiB less the ~0.8 GiB TensorFlow and a small model take
    assert_still_serving(stub)
