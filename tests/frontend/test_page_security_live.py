"""Issue 21 items 4, 6, 8, 9, 12 and 18 against the real page (`python -m frontend`, as `make run` starts it,
with the small bounds of LIVE_PAGE_ENV), on the live gateway and model server."""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from gradio_client import Client, handle_file

from frontend.sessions import COOKIE
from tests.frontend.conftest import (
    LIVE_FAILURES_PER_IP,
    LIVE_PAGE_ENV,
    LiveStack,
    outputs,
    page_auth,
)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")]

MESSAGE = "Sign-in message"
PASSWORD = "page-pass-1"


def address(live_stack: LiveStack) -> tuple[str, int]:
    parts = urlsplit(live_stack.frontend_url)
    return str(parts.hostname), int(parts.port or 80)


def new_account(live_stack: LiveStack) -> str:
    email = f"page-{uuid.uuid4().hex[:10]}@example.com"
    created = httpx.post(
        f"{live_stack.gateway_url}/user/", json={"name": "Pia", "email": email, "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    return email


def signed_in(live_stack: LiveStack, email: str | None = None) -> tuple[Client, str]:
    client = live_stack.client()
    email = email or new_account(live_stack)
    out = page_auth(client, "sign-in", email=email, password=PASSWORD)
    assert out[MESSAGE] == "", out[MESSAGE]
    return client, email


def cookie_of(client: Client) -> dict[str, str]:
    name, _, value = client.headers["Cookie"].partition("=")
    return {name: value}


def page_files(live_stack: LiveStack, folder: Path) -> set[Path]:
    return {p for p in folder.glob("page-*/files/**/*") if p.is_file()}


@pytest.fixture(scope="module")
def work_dir(live_stack: LiveStack, live_frontend: tuple[object, str]) -> Path:
    service = live_frontend[0]
    return Path(service.log).parent  # type: ignore[attr-defined]


# --- item 4: the page runs under boundedhttp ---


def test_a_header_over_the_limit_gets_431_and_the_connection_closes(live_stack: LiveStack) -> None:
    with socket.create_connection(address(live_stack), timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_connection_that_never_finishes_its_headers_is_closed(live_stack: LiveStack) -> None:
    timeout = float(LIVE_PAGE_ENV["HTTP_HEADER_TIMEOUT_SECONDS"])
    with socket.create_connection(address(live_stack), timeout=timeout + 30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        assert sock.recv(65536) in (b"", b"HTTP/1.1 408 Request Timeout")  # closed by the page


def test_idle_connections_beyond_the_cap_do_not_keep_others_out(live_stack: LiveStack) -> None:
    cap = int(LIVE_PAGE_ENV["HTTP_MAX_CONNECTIONS"])
    idle = [socket.create_connection(address(live_stack), timeout=30) for _ in range(cap + 20)]
    try:
        assert httpx.get(live_stack.frontend_url, timeout=30).status_code == 200
        closed = 0
        for sock in idle:
            sock.settimeout(0.5)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                closed += sock.recv(1) == b""
        assert closed >= 20  # the ones idle longest made room
    finally:
        for sock in idle:
            sock.close()


# --- item 6: uploads ---


def test_an_anonymous_upload_is_refused_and_nothing_is_kept(live_stack: LiveStack, work_dir: Path) -> None:
    before = page_files(live_stack, work_dir)
    url = f"{live_stack.frontend_url}gradio_api/upload"
    refused = httpx.post(url, files={"files": ("a.png", b"x" * 100_000)}, timeout=30)
    assert refused.status_code == 401
    assert page_files(live_stack, work_dir) == before


def test_an_upload_over_the_limit_is_refused_by_its_length(live_stack: LiveStack) -> None:
    """413 from the headers alone: the body is never sent."""
    client, _ = signed_in(live_stack)
    limit = int(LIVE_PAGE_ENV["FRONTEND_MAX_UPLOAD_MB"]) * 1024 * 1024
    head = (
        "POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\n"
        f"Cookie: {client.headers['Cookie']}\r\n"
        "Content-Type: multipart/form-data; boundary=b0\r\n"
        f"Content-Length: {limit * 2}\r\n\r\n"
    )
    with socket.create_connection(address(live_stack), timeout=30) as sock:
        sock.sendall(head.encode())
        answer = sock.recv(65536)
        while b"\r\n\r\n" in answer and not answer.endswith(b"."):  # the body may come after the head
            if not (more := sock.recv(65536)):
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.endswith(b"The upload is larger than 4 MB.")


def test_one_file_over_its_own_limit_is_refused_within_the_upload_limit(live_stack: LiveStack) -> None:
    client, _ = signed_in(live_stack)
    too_big = b"x" * (int(LIVE_PAGE_ENV["FRONTEND_MAX_FILE_MB"]) * 1024 * 1024 + 1)
    files = [("files", ("small.png", b"s" * 100)), ("files", ("big.png", too_big))]
    answer = httpx.post(
        f"{live_stack.frontend_url}gradio_api/upload", files=files, cookies=cookie_of(client), timeout=30
    )
    assert answer.status_code == 413
    assert "maximum allowed size" in answer.text


def test_at_most_max_files_per_upload(live_stack: LiveStack) -> None:
    client, _ = signed_in(live_stack)
    most = int(LIVE_PAGE_ENV["FRONTEND_MAX_FILES"])
    files = [("files", (f"{i}.png", bytes([65 + i]) * 100)) for i in range(most + 1)]
    url = f"{live_stack.frontend_url}gradio_api/upload"
    accepted = httpx.post(url, files=files[:most], cookies=cookie_of(client), timeout=30)
    assert accepted.status_code == 200, accepted.text
    assert len(accepted.json()) == most
    refused = httpx.post(url, files=files, cookies=cookie_of(client), timeout=30)
    assert refused.status_code == 413
    assert refused.text == f"At most {most} file(s) per upload."


def test_uploads_name_no_server_folder_are_private_and_are_deleted(
    live_stack: LiveStack, work_dir: Path
) -> None:
    client, _ = signed_in(live_stack)
    answer = httpx.post(
        f"{live_stack.frontend_url}gradio_api/upload",
        files={"files": ("mine.png", b"my bytes")},
        cookies=cookie_of(client),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    (path,) = answer.json()
    assert not path.startswith("/")
    assert str(work_dir) not in path
    assert "/tmp" not in path
    file_url = f"{live_stack.frontend_url}gradio_api/file={path}"
    assert httpx.get(file_url, timeout=30).status_code == 401  # no cookie, no file
    assert httpx.get(file_url, cookies=cookie_of(client), timeout=30).content == b"my bytes"
    stored = [p for p in page_files(live_stack, work_dir) if p.as_posix().endswith(path)]
    assert len(stored) == 1
    deadline = time.monotonic() + float(LIVE_PAGE_ENV["FRONTEND_CACHE_SECONDS"]) + 60
    while stored[0].exists() and time.monotonic() < deadline:
        time.sleep(1)
    assert not stored[0].exists()


# --- item 8: each person's address reaches the gateway ---


def test_one_persons_wrong_passwords_do_not_lock_out_others(live_stack: LiveStack) -> None:
    """Wrong passwords from 127.0.0.2 use up that address's sign-ins; a person at 127.0.0.3 still signs in
    through the same page (the page tells the gateway each browser's address, with PROXY_SECRET)."""
    victim = new_account(live_stack)
    url = f"{live_stack.frontend_url}auth/sign-in"
    attacker = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30)
    person = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.3"), timeout=30)
    with attacker, person:
        answers = [
            attacker.post(url, json={"email": f"x{i}@example.com", "password": "wrong"}).json()["message"]
            for i in range(LIVE_FAILURES_PER_IP + 2)
        ]
        assert answers[-1] == "Too many requests; please wait a moment and try again." or answers[
            -1
        ].startswith("Too many")
        signed = person.post(url, json={"email": victim, "password": PASSWORD})
    assert signed.json() == {"ok": True, "message": ""}
    assert COOKIE in signed.cookies


# --- item 9: the session is the signed-in person's alone ---


def test_the_session_hash_without_the_cookie_reads_nothing(
    live_stack: LiveStack, example_photos: list[Path]
) -> None:
    victim, email = signed_in(live_stack)
    assert not client_cookie_value(victim).startswith("eyJ")  # a random id, not the token
    shown = outputs(victim, "/classify", handle_file(str(example_photos[0])))
    assert shown["Classify message"] == ""
    assert "Predictions 1–1 of 1" in outputs(victim, "/history")["History"]

    api, tab = f"{live_stack.frontend_url}gradio_api", victim.session_hash
    with httpx.Client(timeout=30) as thief:  # knows the hash (it travels in URLs), not the cookie
        for replay in (
            thief.post(f"{api}/queue/join", json={"data": [], "fn_index": 0, "session_hash": tab}),
            thief.post(f"{api}/call/history", json={"data": [], "session_hash": tab}),
            thief.get(f"{api}/queue/data", params={"session_hash": tab}),
            thief.get(f"{api}/heartbeat/{tab}"),
        ):
            assert replay.status_code == 403, replay.request.url
        # an API call of its own reads nobody's history
        event = thief.post(f"{api}/call/history", json={"data": []}).json()["event_id"]
        stream = thief.get(f"{api}/call/history/{event}").text
    assert "Please sign in first." in stream
    assert email not in stream
    assert "Predictions" not in stream
    assert "Predictions 1–1 of 1" in outputs(victim, "/history")["History"]  # the victim is still in


def client_cookie_value(client: Client) -> str:
    return client.headers["Cookie"].partition("=")[2]


def test_the_cookie_is_http_only_and_strict(live_stack: LiveStack) -> None:
    email = new_account(live_stack)
    answer = httpx.post(f"{live_stack.frontend_url}auth/sign-in", json={"email": email, "password": PASSWORD})
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    # another site can neither post a form here nor sign a browser in with its own request
    form = httpx.post(f"{live_stack.frontend_url}auth/sign-in", data={"email": email, "password": PASSWORD})
    assert form.status_code == 415
    cross = httpx.post(
        f"{live_stack.frontend_url}auth/sign-in",
        json={"email": email, "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403


# --- item 12: nothing kept in the browser, no API page, no password in an event ---


def test_no_run_history_no_api_page_and_no_password_in_any_event(live_stack: LiveStack) -> None:
    config = httpx.get(f"{live_stack.frontend_url}config", timeout=30).json()
    assert config.get("run_history") in (False, None)
    assert config.get("footer_links") == []
    passwords = {c["id"] for c in config["components"] if c.get("props", {}).get("type") == "password"}
    assert len(passwords) == 2
    for dependency in config["dependencies"]:
        assert not passwords & set(dependency["inputs"]), dependency.get("api_name")
    assert httpx.get(f"{live_stack.frontend_url}gradio_api/runs", timeout=30).status_code == 404


# --- item 18: security headers ---


@pytest.mark.parametrize("path", ["", "gradio_api/upload", "config"])
def test_security_headers(live_stack: LiveStack, path: str) -> None:
    answer = httpx.get(f"{live_stack.frontend_url}{path}", timeout=30)
    csp = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
