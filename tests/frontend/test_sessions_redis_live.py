"""Page sessions in Redis (REDIS_URL), with real `python -m frontend` processes on the live gateway and the
machine's Redis: a session opened on one page process is served by another and survives a restart, signing
out ends it on every process, Redis holds only the SHA-256 of a cookie with the token's lifetime, and with
Redis unreachable the page says signing in is unavailable and goes on serving."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from gradio_client import Client

from frontend.sessions import COOKIE, UNAVAILABLE, token_expiry
from stack.commands import frontend_command
from stack.procs import LOCAL, Service, free_port, http_ok
from tests.frontend.conftest import LIVE_PAGE_ENV, LIVE_PROXY_SECRET, LiveGateway, outputs
from tests.gateway.redis_server import REDIS_URL, down_url

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")]

PASSWORD = "redis-page-pass-1"
WHO = "Signed in as"
MESSAGE = "Sign-in message"


class Page:
    """One `python -m frontend` process on a port of its own, which `restart` keeps."""

    def __init__(self, name: str, folder: Path, gateway: LiveGateway, env: dict[str, str]) -> None:
        self.name, self.folder, self.port = name, folder / name, free_port()
        self.folder.mkdir()
        self.url = f"http://{LOCAL}:{self.port}/"
        self.command = frontend_command(
            self.port,
            gateway_url=gateway.url,
            proxy_secret=LIVE_PROXY_SECRET,
            env={**LIVE_PAGE_ENV, "FRONTEND_WORK_DIR": str(self.folder), **env},
        )
        self.service: Service | None = None

    def start(self) -> None:
        self.service = Service(
            self.command.args, self.folder / "page.log", self.command.env, name=f"page-{self.name}"
        )

    def wait(self) -> None:
        assert self.service is not None
        self.service.wait_ready(lambda: http_ok(self.url), timeout=120, what=f"page {self.name}")

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def auth(self, route: str, cookie: str | None = None, **fields: str) -> httpx.Response:
        cookies = {COOKIE: cookie} if cookie else {}
        response = httpx.post(f"{self.url}auth/{route}", json=fields, cookies=cookies, timeout=60)
        assert response.status_code == 200, response.text
        return response

    def session_view(self, cookie: str | None, note: str = "") -> dict[str, Any]:
        """What the page shows after a sign-in request with this cookie (its session event)."""
        client = Client(self.url, verbose=False, headers={"Cookie": f"{COOKIE}={cookie}"} if cookie else {})
        try:
            return outputs(client, "/session", note)
        finally:
            client.close()

    def upload_status(self, cookie: str) -> int:
        """The upload route serves only a live session (401 otherwise)."""
        files = {"files": ("a.txt", b"x", "text/plain")}
        return httpx.post(
            f"{self.url}gradio_api/upload", files=files, cookies={COOKIE: cookie}, timeout=60
        ).status_code


@contextlib.contextmanager
def pages(folder: Path, gateway: LiveGateway, **envs: dict[str, str]) -> Iterator[dict[str, Page]]:
    started = {name: Page(name, folder, gateway, env) for name, env in envs.items()}
    try:
        for page in started.values():  # all at once: each takes a while to import Gradio
            page.start()
        for page in started.values():
            page.wait()
        yield started
    finally:
        for page in started.values():
            page.stop()


def new_account(gateway: LiveGateway) -> str:
    email = f"redis-page-{uuid.uuid4().hex[:10]}@example.com"
    created = httpx.post(
        f"{gateway.url}/user/", json={"name": "Rhea", "email": email, "password": PASSWORD}, timeout=60
    )
    assert created.status_code == 201, created.text
    return email


def test_sessions_in_redis_outlive_a_process_and_end_everywhere(
    live_gateway: LiveGateway, redis_prefix: str, tmp_path: Path
) -> None:
    shared = {"REDIS_URL": REDIS_URL, "SESSION_REDIS_PREFIX": redis_prefix}
    store = redis.Redis.from_url(REDIS_URL)
    with pages(tmp_path, live_gateway, a=shared, b=shared, down={"REDIS_URL": down_url()}) as page:
        a, b, down = page["a"], page["b"], page["down"]
        email = new_account(live_gateway)
        answer = a.auth("sign-in", email=email, password=PASSWORD)
        assert answer.json() == {"ok": True, "message": ""}
        cookie = answer.cookies[COOKIE]

        # Redis holds the SHA-256 of the cookie, never the cookie, expiring with the session
        key = redis_prefix + hashlib.sha256(cookie.encode()).hexdigest()
        assert [k.decode() for k in store.scan_iter(f"{redis_prefix}*")] == [key]
        raw = store.get(key)
        assert raw is not None
        assert cookie.encode() not in raw
        stored = json.loads(raw)
        assert stored["email"] == email
        expiry = token_expiry(stored["token"])
        assert expiry is not None
        assert stored["expires_at"] <= expiry
        assert store.pexpiretime(key) == math.ceil(stored["expires_at"] * 1000)

        # the other process serves it; and after a restart of the first, so does the first
        assert "Rhea" in b.session_view(cookie)[WHO]
        assert b.upload_status(cookie) == 200
        a.stop()
        a.start()
        a.wait()
        assert "Rhea" in a.session_view(cookie)[WHO]

        # signing out on one ends it on both
        assert b.auth("sign-out", cookie=cookie).json()["ok"] is True
        assert store.exists(key) == 0
        assert a.upload_status(cookie) == 401
        assert b.upload_status(cookie) == 401
        after = a.session_view(cookie)
        assert after[MESSAGE] == "Sign-in failed; please try again."  # nobody is signed in with it
        assert "Rhea" not in str(after[WHO])

        # Redis unreachable: signing in says so (fail closed, no cookie), the page itself still serves
        refused = down.auth("sign-in", email=email, password=PASSWORD)
        assert refused.json() == {"ok": False, "message": UNAVAILABLE}
        assert COOKIE not in refused.cookies
        assert down.session_view(None, UNAVAILABLE)[MESSAGE] == UNAVAILABLE
        assert down.session_view("any-cookie")[MESSAGE] == UNAVAILABLE
        assert down.upload_status("any-cookie") == 401
        assert httpx.get(down.url, timeout=60).status_code == 200
    store.close()
