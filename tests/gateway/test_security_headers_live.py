"""Issue 21 item 18 (the gateway's part) against a real `python -m gateway`: every answer says nosniff, no
framing and a CSP; the API docs keep working on loopback under theirs; the SQLite database and its WAL are
the gateway user's alone."""

from __future__ import annotations

import base64
import hashlib
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.helpers import unique_email
from tests.gateway.live import LiveGateway, live_gateway

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveGateway, Path]]:
    folder = tmp_path_factory.mktemp("headers")
    with live_gateway(folder) as live:
        yield live, folder


def _directives(csp: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/health"), ("POST", "/login"), ("GET", "/user/me"), ("GET", "/nowhere")]
)
def test_every_answer_forbids_sniffing_framing_and_scripts(
    gateway: tuple[LiveGateway, Path], method: str, path: str
) -> None:
    answer = httpx.request(method, f"{gateway[0].url}{path}")
    csp = _directives(answer.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"


def test_the_docs_page_runs_under_its_policy(gateway: tuple[LiveGateway, Path]) -> None:
    page = httpx.get(f"{gateway[0].url}/docs")
    assert page.status_code == 200
    csp = _directives(page.headers["content-security-policy"])
    assert csp["frame-ancestors"] == ["'none'"]
    inline = re.findall(r"<script>([\s\S]*?)</script>", page.text)
    external = re.findall(r'<script src="(https://[^/"]+)/', page.text)
    assert inline
    assert external
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp["script-src"]
    assert set(external) <= set(csp["script-src"])
    assert "'self'" in csp["connect-src"]  # "Try it out" calls the API
    spec = httpx.get(f"{gateway[0].url}/openapi.json")
    assert spec.status_code == 200
    assert "/model/predict" in spec.json()["paths"]


def test_the_sqlite_files_are_private(gateway: tuple[LiveGateway, Path]) -> None:
    live, folder = gateway
    created = httpx.post(
        f"{live.url}/user/", json={"name": "W", "email": unique_email(), "password": "write-a-row"}
    )
    assert created.status_code < 300
    modes = {
        path.name: stat.S_IMODE(path.stat().st_mode)
        for path in folder.iterdir()
        if path.name.startswith("gateway.db")
    }
    print(f"\nSQLite files: { {name: oct(mode) for name, mode in modes.items()} }")
    assert {"gateway.db", "gateway.db-wal"} <= set(modes)
    assert all(mode == 0o600 for mode in modes.values()), modes
