"""Issue 21 item 5 against a real `python -m gateway`: an upload without a valid token is refused with 401
before any byte of its body is read, so nothing is spooled (the gateway's temp folder stays empty) even while
its body never ends."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from jose import jwt

from tests.gateway.conftest import TEST_SECRET
from tests.gateway.helpers import unique_email
from tests.gateway.live import LiveGateway, live_gateway

pytestmark = pytest.mark.slow
MIB = 1024 * 1024
DECLARED = 10 * MIB - 4096  # under MAX_UPLOAD_BYTES: the size check lets it through
BOUNDARY = "gatewayboundary"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveGateway, Path]]:
    folder = tmp_path_factory.mktemp("auth-first")
    spool = folder / "tmp"
    spool.mkdir()
    with live_gateway(folder, {"TMPDIR": str(spool)}) as live:
        yield live, spool


def _deleted_users_token(gateway: LiveGateway, folder: Path) -> str:
    email, password = unique_email(), "deleted-user-pass"
    assert httpx.post(
        f"{gateway.url}/user/", json={"name": "D", "email": email, "password": password}
    ).is_success
    token = httpx.post(f"{gateway.url}/login", data={"username": email, "password": password}).json()
    with sqlite3.connect(folder / "gateway.db") as db:
        db.execute("DELETE FROM users WHERE email = ?", (email,))
    return str(token["access_token"])


def _upload_that_never_ends(port: int, authorization: str | None) -> socket.socket:
    """Headers of a 10 MiB multipart upload, then its first MiB; the rest (and the final boundary) never."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (
        "POST /model/predict HTTP/1.1\r\nHost: gateway\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {DECLARED}\r\n"
        + (f"Authorization: {authorization}\r\n" if authorization else "")
        + "\r\n"
        + f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    )
    sock.sendall(head.encode() + b"\x89PNG" + b"\0" * MIB)
    return sock


def test_uploads_without_a_valid_token_get_401_before_their_body(gateway: tuple[LiveGateway, Path]) -> None:
    live, spool = gateway
    expired = jwt.encode(
        {
            "sub": "0" * 32,
            "iat": datetime.now(UTC) - timedelta(hours=2),
            "exp": datetime.now(UTC) - timedelta(hours=1),
        },
        TEST_SECRET,
        algorithm="HS256",
    )
    tokens = {
        "none": None,
        "bad": "Bearer not-a-token",
        "expired": f"Bearer {expired}",
        "deleted user": f"Bearer {_deleted_users_token(live, spool.parent)}",
    }
    socks = {
        name: [_upload_that_never_ends(live.port, token) for _ in range(2)] for name, token in tokens.items()
    }
    try:
        answers = {name: [_answer_within(sock, 10.0) for sock in group] for name, group in socks.items()}
        spooled = _spooled(live.pid, spool)
    finally:
        for group in socks.values():
            for sock in group:
                sock.close()
    statuses = {
        name: [a.split(b" ", 2)[1].decode() if a else "none" for a in group]
        for name, group in answers.items()
    }
    print(f"\n8 never-ending 10 MiB uploads: {statuses}; files in the temp folder: {spooled}")
    assert all(status == ["401", "401"] for status in statuses.values()), statuses
    assert spooled == []


def test_a_signed_in_upload_is_what_gets_spooled(gateway: tuple[LiveGateway, Path]) -> None:
    """The control: the temp folder above is where the gateway spools an upload it does read."""
    live, spool = gateway
    email, password = unique_email(), "spooling-user-pass"
    assert httpx.post(
        f"{live.url}/user/", json={"name": "S", "email": email, "password": password}
    ).is_success
    token = httpx.post(f"{live.url}/login", data={"username": email, "password": password}).json()[
        "access_token"
    ]
    sock = _upload_that_never_ends(live.port, f"Bearer {token}")
    try:
        assert _answer_within(sock, 3.0) == b""  # still reading the body
        spooled = _spooled(live.pid, spool)
    finally:
        sock.close()
    assert spooled


def _spooled(pid: int, spool: Path) -> list[str]:
    """Files the gateway holds open in its temp folder (Python's temporary files are unnamed: O_TMPFILE)."""
    links = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            links.append(str(fd.readlink()))
        except OSError:  # closed meanwhile
            continue
    return sorted(link for link in links if link.startswith(str(spool)))


def _answer_within(sock: socket.socket, seconds: float) -> bytes:
    sock.settimeout(seconds)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return b""
