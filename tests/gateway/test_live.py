"""The gateway as deployed: `python -m gateway` with 2 workers on an empty database (both workers migrate
at once), the body limit over real HTTP, every worker's metrics merged on the metrics port of its own
(GATEWAY_METRICS_PORT, as compose and k8s run it), and Schemathesis over its OpenAPI schema,
authenticated, finding no server error."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.core.db import alembic_config
from gateway.core.wording import file_size
from stack.commands import gateway_command
from stack.procs import LOCAL, PYTHON, Service, free_port, http_ok
from tests.gateway.conftest import SERVED_MODEL, TEST_SECRET
from tests.gateway.helpers import image_bytes

pytestmark = pytest.mark.slow
MAX_UPLOAD = 200_000


@pytest.fixture(scope="module")
def metrics_url() -> str:
    """The live gateway's metrics port (its parent process's listener)."""
    return f"http://{LOCAL}:{free_port()}/metrics"


@pytest.fixture(scope="module")
def live_gateway(
    fresh_database_url: str, serving_a, tmp_path_factory: pytest.TempPathFactory, metrics_url: str
) -> Iterator[str]:
    """One live gateway per database for this module; the first test checks its fresh start."""
    tmp_path = tmp_path_factory.mktemp("live")
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    command = gateway_command(
        port,
        serving_target=serving_a.grpc_target,
        model_name=SERVED_MODEL,
        database_url=fresh_database_url,
        upload_dir=tmp_path / "uploads",
        secret_key=TEST_SECRET,
        workers=2,
        env={
            "MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "GATEWAY_METRICS_PORT": metrics_url.rsplit(":", 1)[1].removesuffix("/metrics"),
        },
    )
    service = Service(command.args, tmp_path / "uvicorn.log", command.env, name="gateway")
    url = f"http://{LOCAL}:{port}"
    try:
        service.wait_ready(lambda: http_ok(f"{url}/ready"), timeout=120, what="gateway")
        yield url
    finally:
        service.stop()
        log = service.log_text()
    assert "Traceback" not in log, log[-3000:]


def _admin_headers(url: str) -> dict[str, str]:
    login = httpx.post(f"{url}/login", data={"username": "admin@example.com", "password": "admin"})
    assert login.status_code == 200
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_two_workers_start_on_an_empty_database(
    live_gateway: str, fresh_database_url: str, metrics_url: str
) -> None:
    async def rows() -> tuple[list, list]:
        engine = create_async_engine(fresh_database_url)
        try:
            async with engine.connect() as conn:
                versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
                admins = (await conn.execute(text("SELECT email FROM users"))).all()
        finally:
            await engine.dispose()
        return versions, admins

    versions, admins = asyncio.run(rows())
    head = ScriptDirectory.from_config(alembic_config(fresh_database_url)).get_current_head()
    assert [v[0] for v in versions] == [head]
    assert [a[0] for a in admins] == ["admin@example.com"]
    headers = _admin_headers(live_gateway)
    for seed in (1, 1, 2):
        response = httpx.post(
            f"{live_gateway}/model/predict",
            headers=headers,
            files={"file": ("a.png", image_bytes(seed=3000 + seed), "image/png")},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert "x-request-id" in response.headers
    metrics = httpx.get(metrics_url).text
    assert 'gateway_prediction_cache_total{result="hit"} 1.0' in metrics
    assert 'gateway_prediction_cache_total{result="miss"} 2.0' in metrics


HEALTH_COUNT = 'gateway_http_request_duration_seconds_count{method="GET",route="/health",status="200"}'


def _health_count(metrics_url: str) -> float:
    answer = httpx.get(metrics_url, timeout=10)
    assert answer.status_code == 200, answer.text
    line = next((x for x in answer.text.splitlines() if x.startswith(HEALTH_COUNT)), f"{HEALTH_COUNT} 0")
    return float(line.rsplit(" ", 1)[1])


def test_the_metrics_port_merges_every_worker_and_the_api_port_has_none(
    live_gateway: str, metrics_url: str
) -> None:
    """The listener lives in the parent process, which answers no API request: every count it shows was
    read from the workers' files. 40 concurrent requests counted once each, whichever worker took them."""
    assert httpx.get(f"{live_gateway}/metrics").status_code == 404  # loopback, and still none
    before = _health_count(metrics_url)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: httpx.get(f"{live_gateway}/health").status_code, range(40)))
    assert statuses == [200] * 40
    assert _health_count(metrics_url) == before + 40
    answer = httpx.get(metrics_url)
    assert answer.headers["content-type"].startswith("text/plain; version=")
    assert httpx.get(metrics_url.removesuffix("/metrics") + "/health").status_code == 404  # metrics only


def _raw_request(url: str, head: str, body_chunks: list[bytes]) -> str:
    """Send a request by hand (a declared or chunked body the client would never send) and read the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything: that is the point
        answer = b""
        while chunk := sock.recv(65536):  # until the server closes or the whole answer is here
            answer += chunk
            head_end = answer.find(b"\r\n\r\n")
            length = re.search(rb"content-length: (\d+)", answer[:head_end].lower()) if head_end > 0 else None
            if length and len(answer) >= head_end + 4 + int(length.group(1)):
                break
        return answer.decode(errors="replace")


def test_oversized_bodies_are_413_over_http(live_gateway: str) -> None:
    token = _admin_headers(live_gateway)["Authorization"]
    declared = _raw_request(
        live_gateway,
        "POST /model/predict HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {token}\r\nContent-Type: multipart/form-data; boundary=B\r\n"
        "Content-Length: 50000000000\r\n\r\n",
        [b"--B\r\n"],
    )
    assert declared.startswith("HTTP/1.1 413"), declared
    assert f"The file is too large: the limit is {file_size(MAX_UPLOAD)}." in declared
    part = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
    )
    chunks = [part] + [b"\0" * 65536] * 20  # 1.3 MB, no Content-Length
    body = [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks]
    streamed = _raw_request(
        live_gateway,
        "POST /model/predict HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {token}\r\nContent-Type: multipart/form-data; boundary=B\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        body,
    )
    assert streamed.startswith("HTTP/1.1 413"), streamed


def test_schemathesis_finds_no_server_error(live_gateway: str, tmp_path: Path) -> None:
    token = _admin_headers(live_gateway)["Authorization"]
    done = subprocess.run(
        [
            str(Path(PYTHON).with_name("schemathesis")),
            "run",
            f"{live_gateway}/openapi.json",
            "-H",
            f"Authorization: {token}",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "12",
            "--seed",
            "20240601",
            "--workers",
            "1",
            "--no-color",
            "--generation-database",
            "none",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,  # its example cache goes there, not into the repository
    )
    assert done.returncode == 0, done.stdout[-6000:]
    paths = httpx.get(f"{live_gateway}/openapi.json").json()["paths"]
    operations = sum(len(methods) for methods in paths.values())
    # every operation was exercised (the admin's token reaches the admin-only ones too)
    assert re.search(rf"Tested: {operations}\b", done.stdout), done.stdout[-3000:]
    print(done.stdout[-1500:])
