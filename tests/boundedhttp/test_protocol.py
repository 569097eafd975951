"""BoundedHttpToolsProtocol in a real uvicorn on a free port, over raw sockets: what the parser's bounds do
with pipelined requests, heads in one read or in many, too many fields and malformed requests. The services'
live suites (tests/gateway/test_http_bounds_live.py, …) test the deadlines and the connection cap."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from boundedhttp import Bounds, uvicorn_kwargs
from stack.procs import free_port

MAX_HEADER_BYTES = 4096
MAX_HEADERS = 20


async def echo(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def, type-arg]
    """Answers with the request's path and body length, so each pipelined answer says whose it is."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = f"{scope['path']} {size}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    bounds = Bounds(max_header_bytes=MAX_HEADER_BYTES, max_headers=MAX_HEADERS, header_timeout=5.0)
    chosen = free_port()
    config = uvicorn.Config(
        echo, host="127.0.0.1", port=chosen, log_level="warning", **uvicorn_kwargs(bounds)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield chosen
    server.should_exit = True
    thread.join(10)


def exchange(port: int, *chunks: bytes, pause: float = 0.0) -> bytes:
    """Sends the chunks (each its own write), then reads until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(pause)
        sock.settimeout(1.0)
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                return answer
            except ConnectionResetError:
                return answer
            if not data:
                return answer
            answer += data


def request(path: str, body: bytes = b"", extra: bytes = b"") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


def test_pipelined_requests_in_one_write_are_answered_in_order(port: int) -> None:
    answer = exchange(port, request("/one", b"x" * 3000) + request("/two", b"yy") + request("/three"))
    bodies = [part.rsplit(b"\r\n\r\n", 1)[-1] for part in answer.split(b"HTTP/1.1 ")[1:]]
    assert answer.count(b"HTTP/1.1 200 ") == 3
    assert bodies == [b"/one 3000", b"/two 2", b"/three 0"]


def test_a_pipelined_request_after_a_large_body_is_not_taken_for_a_long_head(port: int) -> None:
    big = b"z" * (4 * MAX_HEADER_BYTES)  # the second head begins in the read that carried this body
    answer = exchange(
        port,
        request("/first", big) + b"POST /second HTTP/1.1\r\nHost: t\r\n",
        b"Content-Length: 0\r\n\r\n",
        pause=0.2,
    )
    assert answer.count(b"HTTP/1.1 200 ") == 2, answer[:200]
    assert answer.endswith(b"/second 0")


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"X-Long: " + b"a" * (MAX_HEADER_BYTES + 10) + b"\r\n", id="one-long-field"),
        pytest.param(b"".join(b"X-F%d: %s\r\n" % (n, b"b" * 200) for n in range(19)), id="many-bytes"),
        pytest.param(b"".join(b"X-F%d: c\r\n" % n for n in range(MAX_HEADERS + 1)), id="too-many-fields"),
    ],
)
def test_a_complete_head_over_its_bound_in_one_read_gets_431(port: int, head: bytes) -> None:
    answer = exchange(port, request("/big", extra=head))
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"connection: close" in answer.lower()


def test_a_head_that_never_ends_is_cut_after_its_bound_across_reads(port: int) -> None:
    start = b"GET /endless HTTP/1.1\r\nHost: t\r\nX-Endless: "
    answer = exchange(port, start, *[b"d" * 1024] * (2 * MAX_HEADER_BYTES // 1024), pause=0.02)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_head_within_its_bound_across_many_reads_is_answered(port: int) -> None:
    head = request("/slow", extra=b"X-Some: " + b"e" * (MAX_HEADER_BYTES // 2) + b"\r\n")
    answer = exchange(port, *[head[i : i + 512] for i in range(0, len(head), 512)], pause=0.01)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"/slow 0")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="no-request-line"),
        pytest.param(
            b"POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\n",
            id="length-and-chunked",
        ),
        pytest.param(b"GET /s HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n", id="space-in-field-name"),
    ],
)
def test_a_malformed_request_gets_400_and_the_server_keeps_serving(port: int, raw: bytes) -> None:
    assert exchange(port, raw).startswith(b"HTTP/1.1 400 ")
    assert exchange(port, request("/after")).endswith(b"/after 0")


def test_a_request_whose_client_ends_its_input_at_once_is_still_answered(port: int) -> None:
    """`printf … | nc -N`: the end of input may arrive in the step that writes the answer, and the
    socket's transport then closes itself (what that step wrote goes first)."""
    for attempt in range(30):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request(f"/eof{attempt}"))
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while data := sock.recv(65536):
                answer += data
        assert answer.startswith(b"HTTP/1.1 200"), (attempt, answer)
        assert answer.endswith(f"/eof{attempt} 0".encode()), (attempt, answer)
