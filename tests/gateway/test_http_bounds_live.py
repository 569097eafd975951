"""Issue 21 item 4 against a real `python -m gateway` (uvicorn with boundedhttp): headers without end,
partial and trickled headers, slow bodies, header counts and idle connections. Counts and times are small and
bounded; everything is on 127.0.0.1."""

from __future__ import annotations

import selectors
import shutil
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.gateway.live import LiveGateway, live_gateway, reset_peak_rss, status_field

pytestmark = pytest.mark.slow
MIB = 1024 * 1024
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0
SLACK = 3.0  # scheduling on a loaded 2-core machine; the bound under test is the timeout itself
PARTIAL_HEADERS = b"GET /health HTTP/1.1\r\nHost: gateway\r\nX-Partial: yes"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    env = {
        "HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "HTTP_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "SIGNUPS_PER_IP": "1000",
    }
    with live_gateway(tmp_path_factory.mktemp("bounds"), env) as live:
        yield live


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def closed_by_server(sock: socket.socket, timeout: float) -> bytes | None:
    """What the server sent before it closed the connection, or None when it is still open after `timeout`."""
    sock.settimeout(timeout)
    received = bytearray()
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    except TimeoutError:
        return None
    return bytes(received)


def trickle(sock: socket.socket, data: bytes) -> tuple[int, float, bytes | None]:
    """Send `data` one byte a second until the server closes: (bytes sent, seconds, what it answered)."""
    started = time.monotonic()
    sent = 0
    answer: bytes | None = None
    try:
        for byte in data:
            sock.sendall(bytes([byte]))
            sent += 1
            if (answer := closed_by_server(sock, 1.0)) is not None:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.close()
    return sent, time.monotonic() - started, answer


def send_endless_header(port: int, total: int) -> tuple[int, bool]:
    """Send one header line of up to `total` bytes that never ends: (bytes sent, cut by the server)."""
    sock = connect(port)
    sent = 0
    chunk = b"a" * 65536
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: gateway\r\nX-Endless: ")
        while sent < total:
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        return sent, True
    except TimeoutError:  # the server stopped reading without closing
        return sent, False
    finally:
        sock.close()
    return sent, False


def test_header_lines_that_never_end_are_cut_early_with_memory_bounded(gateway: LiveGateway) -> None:
    before = reset_peak_rss(gateway.pid)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: send_endless_header(gateway.port, 64 * MIB), range(4)))
    growth = status_field(gateway.pid, "VmHWM") - before
    print(
        f"\n4 header lines of up to 64 MiB: sent {[round(sent / MIB, 1) for sent, _ in results]} MiB before "
        f"the cut, gateway peak RSS +{growth / MIB:.1f} MiB"
    )
    assert all(cut for _, cut in results), results
    assert all(sent < 16 * MIB for sent, _ in results)  # kernel: a few MiB; server: 16 KiB + a read
    assert growth < 16 * MIB
    assert httpx.get(f"{gateway.url}/health").status_code == 200


def test_a_long_header_block_gets_431(gateway: LiveGateway) -> None:
    too_long = httpx.get(f"{gateway.url}/health", headers={"X-Big": "b" * 20_000})
    too_many = httpx.get(f"{gateway.url}/health", headers={f"X-H{n}": "1" for n in range(101)})
    assert (too_long.status_code, too_many.status_code) == (431, 431)
    assert httpx.get(f"{gateway.url}/health", headers={f"X-H{n}": "1" for n in range(90)}).status_code == 200


def test_partial_headers_are_closed_at_the_header_timeout(gateway: LiveGateway) -> None:
    count = 500
    socks = []
    for _ in range(count):
        sock = connect(gateway.port)
        sock.sendall(PARTIAL_HEADERS)
        socks.append(sock)
    started = time.monotonic()
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    open_ = set(socks)
    deadline = started + HEADER_TIMEOUT + SLACK
    while open_ and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                selector.unregister(sock)
                open_.discard(sock)
    elapsed = time.monotonic() - started
    for sock in socks:
        sock.close()
    closed = count - len(open_)
    print(f"\n{count} partial-header connections: {closed} closed by the server in {elapsed:.1f} s")
    assert not open_, f"{len(open_)} of {count} still open {HEADER_TIMEOUT + SLACK:g} s later"
    assert httpx.get(f"{gateway.url}/health").status_code == 200


def test_a_trickled_header_is_cut_at_the_header_timeout(gateway: LiveGateway) -> None:
    sock = connect(gateway.port)
    sent, elapsed, _ = trickle(sock, PARTIAL_HEADERS)  # each byte would reset an idle timer
    print(f"\na header trickled at 1 byte/s: cut after {sent} bytes, {elapsed:.1f} s")
    assert sent < len(PARTIAL_HEADERS)
    assert elapsed < HEADER_TIMEOUT + SLACK


def test_a_slow_body_is_cut_at_the_body_timeout(gateway: LiveGateway) -> None:
    body = b'{"name": "Slow", "email": "slow@example.com", "password": "slow-slow-slow"}'
    sock = connect(gateway.port)
    sock.sendall(
        b"POST /user/ HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    sent, elapsed, answer = trickle(sock, body)
    print(f"\na JSON body trickled at 1 byte/s: cut after {sent} of {len(body)} bytes, {elapsed:.1f} s")
    assert sent < len(body)
    assert elapsed < BODY_TIMEOUT + SLACK
    assert not (answer or b"").startswith(b"HTTP/1.1 201")


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs util-linux's prlimit")
def test_idle_connections_do_not_keep_health_out(tmp_path: Path) -> None:
    """With 1024 file descriptors, 1100 idle connections; the header timeout is long, so the connection cap
    (not the deadline) is what lets /health in."""
    env = {"HTTP_HEADER_TIMEOUT_SECONDS": "120"}
    with live_gateway(tmp_path, env, prefix=["prlimit", "--nofile=1024:1024", "--"]) as gateway:
        idle = [connect(gateway.port) for _ in range(1100)]
        try:
            answer = httpx.get(f"{gateway.url}/health", timeout=20)
            open_count = len(list(Path(f"/proc/{gateway.pid}/fd").iterdir()))
        finally:
            for sock in idle:
                sock.close()
    print(f"\n1100 idle connections, ulimit -n 1024: /health {answer.status_code}, gateway fds {open_count}")
    assert answer.status_code == 200
    assert open_count < 1024
