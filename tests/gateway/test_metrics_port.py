"""GATEWAY_METRICS_PORT (issue 21, finding 18): the metrics listener's access rule (METRICS_TOKEN, else
loopback), the API port's /metrics gone when it is set, the workers' metrics folder `python -m gateway`
prepares, and a taken port refused at start. The live two-worker check is in test_live.py."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from gateway.core.config import Settings
from gateway.core.metrics_server import (
    MULTIPROC_ENV,
    MetricsApp,
    MetricsPortError,
    metrics_listener,
    multiprocess_dir,
)
from stack.procs import LOCAL, free_port
from tests.gateway.fake_serving import FakeServing
from tests.gateway.helpers import running_gateway

PUBLIC_CLIENT = ("203.0.113.7", 40000)  # TEST-NET-3: not loopback
LOOPBACK_CLIENT = ("127.0.0.1", 40000)
TOKEN = "operator-metrics-token-0123456789"


def _client(app: MetricsApp, address: tuple[str, int]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=address), base_url="http://m")


async def test_without_a_token_the_metrics_port_answers_loopback_only() -> None:
    app = MetricsApp(token=None)
    async with _client(app, LOOPBACK_CLIENT) as local:
        answer = await local.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=")
        assert (await local.get("/")).status_code == 404
        assert (await local.get("/health")).status_code == 404
        assert (await local.post("/metrics")).status_code == 405
    async with _client(app, PUBLIC_CLIENT) as outsider:
        assert (await outsider.get("/metrics")).status_code == 404


async def test_with_a_token_the_metrics_port_wants_it_from_everyone() -> None:
    app = MetricsApp(token=TOKEN)
    for address in (PUBLIC_CLIENT, LOOPBACK_CLIENT):
        async with _client(app, address) as scraper:
            refused = await scraper.get("/metrics")
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            wrong = await scraper.get("/metrics", headers={"Authorization": "Bearer wrong"})
            assert wrong.status_code == 401
            scraped = await scraper.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert scraped.status_code == 200
            assert "# TYPE gateway_http_request_duration_seconds histogram" in scraped.text


async def test_with_a_metrics_port_the_api_port_has_no_metrics(gateway_settings, fake: FakeServing) -> None:
    settings = gateway_settings(
        serving_target=fake.target, gateway_metrics_port=free_port(), metrics_token=TOKEN
    )
    async with running_gateway(settings) as gw:
        assert (await gw.client.get("/metrics")).status_code == 404  # loopback
        with_token = await gw.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert with_token.status_code == 404
        assert (await gw.client.get("/health")).status_code == 200


def test_the_metrics_port_must_differ_from_the_api_port() -> None:
    with pytest.raises(ValidationError, match="GATEWAY_METRICS_PORT must differ"):
        Settings(gateway_port=8000, gateway_metrics_port=8000)


def test_a_given_metrics_folder_is_emptied_of_metric_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "counter_4242.db").write_bytes(b"stale")
    (tmp_path / "keep.txt").write_text("not a metric file")
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    with multiprocess_dir(workers=2):
        assert os.environ[MULTIPROC_ENV] == str(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_several_workers_without_a_folder_get_one_for_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with multiprocess_dir(workers=1):
        assert MULTIPROC_ENV not in os.environ  # one worker: its own registry
    with multiprocess_dir(workers=2):
        made = Path(os.environ[MULTIPROC_ENV])
        assert made.is_dir()
        assert list(made.iterdir()) == []
    assert MULTIPROC_ENV not in os.environ
    assert not made.exists()


def test_a_taken_metrics_port_stops_the_start() -> None:
    with socket.socket() as taken:
        taken.bind((LOCAL, 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(gateway_host=LOCAL, gateway_metrics_port=port)
        with pytest.raises(MetricsPortError, match=f"{LOCAL}:{port}"), metrics_listener(settings):
            pass


def test_the_listener_serves_while_its_block_runs() -> None:
    port = free_port()
    with metrics_listener(Settings(gateway_host=LOCAL, gateway_metrics_port=port)):
        answer = httpx.get(f"http://{LOCAL}:{port}/metrics", timeout=10)
        assert answer.status_code == 200
        assert "gateway_http_request_duration_seconds" in answer.text
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{LOCAL}:{port}/metrics", timeout=10)
