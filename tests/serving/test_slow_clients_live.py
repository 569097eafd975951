"""Issue 21's time-dimension attacks on a real `python -m serving`: what a client holds is taken only once
its bytes exist, everything it holds is time-bounded, and nothing a request names becomes a metric label.
Bounded counts and times, 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import re
import select
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from tests.serving.helpers import b64, http, metric_samples, png, predict_request, prediction_stub, scrape
from tests.serving_fixtures import ServingProcess, StartServing

pytestmark = pytest.mark.slow

MODEL = "tiny"
PREDICT = "/tensorflow.serving.PredictionService/Predict"


@pytest.fixture(scope="module")
def server(start_shared_serving: StartServing, tiny_model_base: Path) -> ServingProcess:
    return start_shared_serving(
        tiny_model_base,
        MODEL,
        extra_args=[
            "--max_concurrent_rest_requests=4",
            "--max_concurrent_rpcs=8",
            "--rest_api_timeout_in_ms=3000",
            "--grpc_channel_arguments=grpc.max_connection_age_ms=4000,grpc.max_connection_age_grace_ms=1000",
        ],
    )


@contextlib.contextmanager
def partial_posts(
    port: int, path: str, declared: int, sent: bytes, count: int
) -> Iterator[list[socket.socket]]:
    """`count` POSTs that declare `declared` bytes of body and send only `sent`, held open."""
    held = []
    try:
        for _ in range(count):
            connection = socket.create_connection(("127.0.0.1", port), timeout=15)
            connection.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {declared}\r\n\r\n".encode()
                + sent
            )
            held.append(connection)
        yield held
    finally:
        for connection in held:
            connection.close()


def read_answer(connection: socket.socket) -> str:
    """One HTTP answer: its head, then as much body as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := connection.recv(4096)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(body) < length and (chunk := connection.recv(4096)):
        body += chunk
    return (head + b"\r\n\r\n" + body).decode(errors="replace")


def serves(server: ServingProcess) -> None:
    """A REST predict, the REST status URL and a gRPC predict all answer."""
    status, _ = http("POST", f"{server.rest_url}/v1/models/{MODEL}:predict", {"instances": [b64(png(1, 32))]})
    assert status == 200
    assert http("GET", f"{server.rest_url}/v1/models/{MODEL}")[0] == 200
    with grpc.insecure_channel(server.grpc_target) as channel:
        prediction_stub(channel).Predict(predict_request(MODEL, [png(2, 32)]), timeout=30)


def test_declared_bodies_hold_nothing_until_their_bytes_arrive(server: ServingProcess) -> None:
    """Today's finding: 6 sockets declaring 5 x 11 MiB + 9 MiB held all of --max_queued_bytes."""
    big = 11 * 2**20
    with (
        partial_posts(server.rest_port, "/v1/models/no-such-model:predict", big, b"{", 5),
        partial_posts(server.rest_port, f"/v1/models/{MODEL}:predict", 9 * 2**20, b"{", 3),
    ):
        time.sleep(0.5)
        serves(server)


def test_an_unknown_model_is_refused_before_its_body_is_read(server: ServingProcess) -> None:
    with partial_posts(server.rest_port, "/v1/models/no-such-model:predict", 2**20, b"{", 1) as (held,):
        answer = read_answer(held)
    assert answer.startswith("HTTP/1.1 404")
    assert "Servable not found" in answer


def test_idle_bodies_keep_no_one_out(server: ServingProcess) -> None:
    """Today's finding: 16 idle 10-byte bodies made the REST status URL answer 503."""
    with partial_posts(server.rest_port, f"/v1/models/{MODEL}:predict", 100, b"0123456789", 16):
        time.sleep(0.5)
        serves(server)


def test_a_body_that_never_completes_is_cut_at_the_rest_timeout(server: ServingProcess) -> None:
    """Today --rest_api_timeout_in_ms is parsed and dropped: the socket stays open as long as it likes."""
    with partial_posts(server.rest_port, f"/v1/models/{MODEL}:predict", 100, b"{", 1) as (held,):
        held.settimeout(15)
        started = time.monotonic()
        answer = read_answer(held)
        waited = time.monotonic() - started
    assert answer.startswith("HTTP/1.1 408"), answer
    assert "--rest_api_timeout_in_ms" in answer
    assert waited < 15


def test_grpc_calls_that_never_send_their_message_keep_no_one_out(server: ServingProcess) -> None:
    """Today's finding: 24 Predict calls that never send their message lock every other caller out until
    they are cancelled. Here twice --max_concurrent_rpcs of them are open, others are served, and the idle
    ones end with their connection's maximum age."""
    release = threading.Event()

    def never() -> Iterator[bytes]:
        release.wait(60)
        return
        yield b""

    with grpc.insecure_channel(server.grpc_target) as idle_channel:
        # a client-streaming call on the unary method: headers go out, the message never does
        idle = idle_channel.stream_unary(PREDICT, request_serializer=None, response_deserializer=None)
        calls = [idle.future(never(), timeout=60) for _ in range(16)]
        try:
            time.sleep(1)
            serves(server)
            deadline = time.monotonic() + 20
            while not all(call.done() for call in calls) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert all(call.done() for call in calls), "idle calls outlived the connection's maximum age"
        finally:
            release.set()
    assert {call.exception().code() for call in calls} <= {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.INTERNAL,
    }


def test_metrics_labels_come_only_from_the_models_served(server: ServingProcess) -> None:
    """Today's finding: 3000 unauthenticated metadata requests for random names made 54,158 series."""
    for _ in range(200):
        http("GET", f"{server.rest_url}/v1/models/{uuid.uuid4().hex}/metadata")
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_stub(channel)
        for _ in range(20):
            with contextlib.suppress(grpc.RpcError):
                stub.Predict(predict_request(uuid.uuid4().hex, [png(3, 32)]), timeout=10)
    requests = metric_samples(scrape(server.rest_url), "tensorflow_serving_request_count_total")
    models = {match[1] for labels in requests if (match := re.search(r'model_name="([^"]*)"', labels))}
    assert models <= {MODEL, "unknown"}
    assert "unknown" in models


def test_a_failed_load_does_not_name_the_servers_paths(
    start_serving: StartServing, tiny_model_base: Path, tmp_path: Path
) -> None:
    """Today's finding: the model status names filesystem paths (manager.py's load error)."""
    base = tmp_path / "secret-place" / MODEL
    shutil.copytree(tiny_model_base / "1", base / "1")
    server = start_serving(base, MODEL)
    staging = tmp_path / "staging"
    shutil.copytree(tiny_model_base / "1", staging)
    shutil.rmtree(staging / "variables")  # TensorFlow's error names the folder it looked in
    staging.rename(base / "2")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _, body = http("GET", f"{server.rest_url}/v1/models/{MODEL}")
        failed = [v for v in body["model_version_status"] if v["version"] == "2" and v["state"] == "END"]
        if failed:
            break
        time.sleep(0.5)
    assert failed, body
    message = failed[0]["status"]["error_message"]
    assert message, failed
    assert "secret-place" not in message
    assert str(tmp_path) not in message


def _rss_hwm_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def test_header_lines_that_never_end_are_cut_with_memory_bounded(server: ServingProcess) -> None:
    """Today's finding: the REST port kept 64 MiB header lines (+128 MiB for 2 connections)."""

    def endless(_: int) -> tuple[int, bool]:
        sent = 0
        with socket.create_connection(("127.0.0.1", server.rest_port), timeout=15) as connection:
            try:
                connection.sendall(b"GET /v1/models/tiny HTTP/1.1\r\nHost: x\r\nX-Endless: ")
                while sent < 64 * 2**20:
                    connection.sendall(b"a" * 65536)
                    sent += 65536
            except (BrokenPipeError, ConnectionResetError):
                return sent, True
            except TimeoutError:
                return sent, False
        return sent, False

    before = _rss_hwm_kib(server.service.pid)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(endless, range(2)))
    growth_mib = (_rss_hwm_kib(server.service.pid) - before) / 1024
    print(
        f"\nsent before the cut: {[sent // 2**20 for sent, _ in results]} MiB, peak RSS +{growth_mib:.1f} MiB"
    )
    assert all(cut for _, cut in results), results
    assert all(sent < 16 * 2**20 for sent, _ in results)  # kernel: a few MiB; server: 16 KiB + a read
    assert growth_mib < 16
    serves(server)


def test_partial_headers_are_closed_within_the_rest_timeout(server: ServingProcess) -> None:
    """Today's finding: 500 partial-header connections were still open after 50 s."""
    held = [socket.create_connection(("127.0.0.1", server.rest_port), timeout=15) for _ in range(200)]
    try:
        for connection in held:
            connection.sendall(b"GET /v1/models/tiny HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + 3 + 5  # --rest_api_timeout_in_ms=3000, plus slack for a busy machine
        still_open = list(held)
        while still_open and time.monotonic() < deadline:
            readable, _, _ = select.select(still_open, [], [], 0.5)
            for connection in readable:
                try:
                    data = connection.recv(4096)
                except ConnectionResetError:
                    data = b""
                if not data:
                    still_open.remove(connection)
        assert not still_open, f"{len(still_open)} of {len(held)} partial-header connections still open"
    finally:
        for connection in held:
            connection.close()
    serves(server)
