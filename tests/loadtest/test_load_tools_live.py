"""The compiled load generators against real servers: what wrk's script sends is the gateway's multipart
upload with the token, each picture once; h2load's gRPC calls reach a grpc.aio server and its errors count.

wrk and h2load are installed the way `make bench` installs them (Debian's packages, as root); where that is
not possible the tests skip and say why.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import pytest
import uvicorn
from fastapi import FastAPI, File, Header, UploadFile

from loadtest import gateway_load, grpc_load, h2load, wrk
from loadtest.floor_http import PATH
from loadtest.images import distinct_jpeg
from stack.procs import PYTHON, REPO_ROOT, free_port, port_is_free

pytestmark = pytest.mark.slow

TOKEN = "header.payload.signature"


def _tool(find: Callable[[Callable[[str], None]], str | None], name: str) -> str:
    found = find(print)
    if found is None:
        pytest.skip(f"{name} is not installed and could not be installed here")
    return str(found)


class Received:
    def __init__(self) -> None:
        self.uploads: list[tuple[str, str, str, str]] = []  # authorization, filename, content type, md5


@pytest.fixture
def capture() -> Iterator[tuple[str, Received]]:
    """A real uvicorn with a FastAPI route that reads the upload exactly as the gateway's does (File())."""
    received = Received()
    app = FastAPI()

    @app.post(PATH)
    async def predict(
        file: Annotated[UploadFile, File()], authorization: Annotated[str, Header()]
    ) -> dict[str, bool]:
        content = await file.read()
        received.uploads.append(
            (authorization, file.filename or "", file.content_type or "", hashlib.md5(content).hexdigest())
        )
        return {"cached": False}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while port_is_free("127.0.0.1", port):
        assert time.monotonic() < deadline, "the capture server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_wrk_sends_each_picture_once_as_the_gateways_multipart_with_the_token(
    capture: tuple[str, Received], tmp_path: Path
) -> None:
    tool = _tool(wrk.find, "wrk")
    url, received = capture
    pictures = [distinct_jpeg(index, nonce=11) for index in range(400)]
    bodies = gateway_load.upload_bodies(400, 11, "new")
    directory = wrk.write_bodies(tmp_path / "bodies", bodies, TOKEN)

    done = wrk.run(tool, url, PATH, directory, expect="false", connections=4, seconds=1)

    assert done.figures["errors"] == 0, done.figures["error_samples"]
    # The calls still in flight when wrk stops reach the server but are not counted.
    assert 0 < done.figures["ok"] <= len(received.uploads) <= done.figures["ok"] + 4
    assert {upload[0] for upload in received.uploads} == {f"Bearer {TOKEN}"}
    assert {upload[2] for upload in received.uploads} == {"image/jpeg"}
    sent = collections.Counter(upload[3] for upload in received.uploads)
    assert set(sent) <= {hashlib.md5(picture).hexdigest() for picture in pictures}
    # Round the pool in turn: no picture is sent more often than its share.
    assert max(sent.values()) <= sum(sent.values()) // len(pictures) + 1
    assert done.cpu_seconds > 0


def test_wrk_counts_an_answer_that_is_not_the_expected_one(
    capture: tuple[str, Received], tmp_path: Path
) -> None:
    tool = _tool(wrk.find, "wrk")
    url, received = capture
    directory = wrk.write_bodies(tmp_path / "bodies", gateway_load.upload_bodies(8, 12, "repeated"), TOKEN)

    done = wrk.run(tool, url, PATH, directory, expect="true", connections=2, seconds=1)

    assert done.figures["ok"] == 0
    # As above, the calls in flight when wrk stops (at most one per connection) reach the server uncounted.
    assert 0 < done.figures["errors"] <= len(received.uploads) <= done.figures["errors"] + 2
    assert '"cached":true' in done.figures["error_samples"][0]


@pytest.fixture
def grpc_floor() -> Iterator[str]:
    port = free_port()
    floor = subprocess.Popen(
        [PYTHON, "-m", "loadtest.floor_grpc", "--port", str(port)], cwd=REPO_ROOT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    try:
        while port_is_free("127.0.0.1", port):
            assert floor.poll() is None, "the gRPC floor exited"
            assert time.monotonic() < deadline, "the gRPC floor did not start"
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        floor.terminate()
        floor.wait(timeout=30)


def _answer_bytes(target: str, request: bytes) -> int:
    return h2load.FRAME_HEADER + asyncio.run(grpc_load.answer_size(target, request))


def test_h2load_calls_count_as_answered_grpc_predictions(grpc_floor: str, tmp_path: Path) -> None:
    tool = _tool(h2load.find, "h2load")
    request = grpc_load.predict_request("floor", distinct_jpeg(1))
    body = h2load.write_body(tmp_path / "predict.grpc", request)
    expected = _answer_bytes(grpc_floor, request)

    done = h2load.run(tool, grpc_floor, body, expected_answer_bytes=expected, connections=4, seconds=1)

    assert done.figures["errors"] == 0, done.figures["error_samples"]
    assert done.figures["ok"] == done.figures["requests"] > 0
    assert 0 < done.figures["p50_ms"] <= done.figures["p99_ms"]


def test_h2load_counts_grpc_errors_that_http_calls_success(grpc_floor: str, tmp_path: Path) -> None:
    """The floor refuses a PredictRequest without inputs: HTTP 200, grpc-status 3, no answer message."""
    tool = _tool(h2load.find, "h2load")
    body = h2load.write_body(tmp_path / "empty.grpc", b"")
    good = grpc_load.predict_request("floor", distinct_jpeg(2))
    expected = _answer_bytes(grpc_floor, good)

    done = h2load.run(tool, grpc_floor, body, expected_answer_bytes=expected, connections=2, seconds=1)

    assert done.figures["requests"] > 0
    assert done.figures["ok"] == 0
    assert done.figures["errors"] == done.figures["requests"]
