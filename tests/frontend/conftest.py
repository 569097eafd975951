"""Fixtures for the frontend tests: the page in-process on a fake gateway, and helpers for gradio_client."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from gradio_client import Client
from playwright.sync_api import Browser, sync_playwright

from frontend.app import create_app
from frontend.assets import make_examples
from frontend.config import Settings
from frontend.gateway_client import GatewayClient
from frontend.sessions import COOKIE
from stack.commands import frontend_command, gateway_command
from stack.procs import LOCAL, Service, free_port, http_ok
from tests.frontend.fake_gateway import FakeState
from tests.frontend.fake_gateway import create_app as create_fake
from tests.gateway.redis_server import redis_prefix  # noqa: F401  (a fixture of the page-session tests)

UNCHANGED = object()


def outputs(client: Client, api_name: str, *args: Any) -> dict[str, Any]:
    """Call a named event and return its outputs by component label (`UNCHANGED` where it sent no update)."""
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]
    names = [item["label"] for item in info["returns"]]
    result = client.predict(*args, api_name=api_name)
    values = result if isinstance(result, tuple) else (result,)
    assert len(values) == len(names)
    return {name: _value(value) for name, value in zip(names, values, strict=True)}


def page_auth(client: Client, route: str, **fields: str | None) -> dict[str, Any]:
    """What the page's sign-in script does: POST /auth/<route> (sign-in, register, sign-out) with this
    client's cookie, keep the cookie it sets, then run the Gradio event that follows; returns its outputs."""
    headers = {"Cookie": client.headers["Cookie"]} if "Cookie" in client.headers else {}
    response = httpx.post(f"{client.src.rstrip('/')}/auth/{route}", json=fields, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    cookie = response.cookies.get(COOKIE)
    if cookie:
        client.headers["Cookie"] = f"{COOKIE}={cookie}"
    elif route == "sign-out":
        client.headers.pop("Cookie", None)
    message = response.json()["message"]
    return outputs(client, "/sign_out" if route == "sign-out" else "/session", message)


def _value(value: Any) -> Any:
    if isinstance(value, dict) and value.get("__type__") == "update":
        if value.get("visible") is False:
            return ""
        return value.get("value", UNCHANGED)
    return value


def top_labels(label_output: dict[str, Any]) -> list[str]:
    return [item["label"] for item in label_output["confidences"]]


def feedback_rows(html: str) -> list[list[str]]:
    """The "My feedback" table's cells as text (the photo cell: 'thumbnail' or the file name)."""
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)[1:]:  # after the header row
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        rows.append(["thumbnail" if "<img" in c else unescape(re.sub(r"<[^>]+>", "", c)) for c in cells])
    return rows


@dataclass
class FakeFrontend:
    url: str
    state: FakeState

    def client(self) -> Client:
        """A new browser session."""
        return Client(self.url, verbose=False)


@pytest.fixture(scope="session")
def example_photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_examples(tmp_path_factory.mktemp("examples"))


@pytest.fixture(scope="module")
def fake_frontend(example_photos: list[Path]) -> Iterator[FakeFrontend]:
    """The real page, launched in this process, talking to an in-memory fake gateway."""
    state = FakeState()
    gateway = GatewayClient("http://fake-gateway", transport=httpx.ASGITransport(app=create_fake(state)))
    port = free_port()
    settings = Settings(gradio_server_port=port, frontend_concurrency=8, demo_login_hint=True)
    app = create_app(settings, gateway, ["tabby", "tiger_cat", "Egyptian_cat"], example_photos)
    server = uvicorn.Server(uvicorn.Config(app, host=LOCAL, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    try:
        yield FakeFrontend(f"http://{LOCAL}:{port}/", state)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# --- the real thing: serving (tiny model) + gateway + `python -m frontend`, each a process ---

LIVE_MAX_UPLOAD_BYTES = 1_000_000
LIVE_PROXY_SECRET = "frontend-tests-proxy-" + "p" * 24  # given to both, as `make run` does
LIVE_FAILURES_PER_IP = 5
LIVE_PAGE_ENV = {  # bounds small enough for the tests of them to be quick
    "HTTP_HEADER_TIMEOUT_SECONDS": "2",
    "HTTP_MAX_CONNECTIONS": "40",
    "FRONTEND_MAX_FILE_MB": "2",
    "FRONTEND_MAX_UPLOAD_MB": "4",
    "FRONTEND_MAX_FILES": "3",
    "FRONTEND_CACHE_SECONDS": "15",
}


@dataclass
class LiveStack:
    gateway_url: str
    frontend_url: str

    def client(self) -> Client:
        """A new browser session on the live page."""
        return Client(self.frontend_url, verbose=False)


@pytest.fixture(scope="session")
def live_gateway_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def live_frontend(
    live_gateway_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, str]]:
    """`python -m frontend`, started before the model server so that both warm up at once."""
    port = free_port()
    folder = tmp_path_factory.mktemp("frontend-live")
    command = frontend_command(
        port,
        gateway_url=f"http://{LOCAL}:{live_gateway_port}",
        proxy_secret=LIVE_PROXY_SECRET,
        env={**LIVE_PAGE_ENV, "FRONTEND_WORK_DIR": str(folder)},
    )
    log = folder / "frontend.log"
    service = Service(command.args, log, command.env, name="frontend")
    try:
        yield service, f"http://{LOCAL}:{port}/"
    finally:
        service.stop()


@dataclass
class LiveGateway:
    """`uvicorn gateway.main:app` as a process that a test may stop and start again (other settings)."""

    url: str
    args: list[str]
    env: dict[str, str]
    log: Path
    service: Service | None = None

    def start(self, **env: str) -> None:
        self.env.update(env)
        self.service = Service(self.args, self.log, self.env, name="gateway")
        self.service.wait_ready(lambda: http_ok(f"{self.url}/ready"), timeout=120, what="gateway")

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None


@pytest.fixture(scope="session")
def live_gateway(
    live_gateway_port: int,
    tiny_model_base: Path,
    start_shared_serving: Callable[..., Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveGateway]:
    serving = start_shared_serving(tiny_model_base, "tiny")
    folder = tmp_path_factory.mktemp("frontend-live-gateway")
    command = gateway_command(
        live_gateway_port,
        serving_target=serving.grpc_target,
        model_name="tiny",
        database_url=f"sqlite+aiosqlite:///{folder / 'gw.db'}",
        upload_dir=folder / "uploads",
        secret_key="frontend-tests-" + "x" * 32,
        proxy_secret=LIVE_PROXY_SECRET,
        env={
            "MAX_UPLOAD_BYTES": str(LIVE_MAX_UPLOAD_BYTES),
            "LOGIN_FAILURES_PER_IP": str(LIVE_FAILURES_PER_IP),
            "LOGIN_FAILURES_PER_ACCOUNT": "1000",
            "SIGNUPS_PER_IP": "1000",  # every test registers its own users from 127.0.0.1
        },
    )
    url = f"http://{LOCAL}:{live_gateway_port}"
    gateway = LiveGateway(url, command.args, dict(command.env), folder / "gateway.log")
    try:
        gateway.start()
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="session")
def live_stack(live_frontend: tuple[Service, str], live_gateway: LiveGateway) -> LiveStack:
    """Model server (tiny model) + gateway + frontend, each a real process; the frontend is started first."""
    service, url = live_frontend
    service.wait_ready(lambda: http_ok(url), timeout=120, what="frontend")
    return LiveStack(live_gateway.url, url)


# --- a real Chromium for the browser tests (test_browser*.py) ---

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NO_CHROMIUM = (
    f"no Chromium at {CHROMIUM}: install Debian's `chromium` package (or set CHROMIUM_PATH) "
    "to run the real-browser tests"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Per module: Playwright's sync API holds an event loop that the async tests must not run under."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
