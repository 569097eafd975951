"""Issue 21 items 8 and 13 against a real `python -m gateway`: only a proxy that knows PROXY_SECRET may say
whose request it forwards. Anyone else (a local process included) is counted under its own address, whatever
X-Forwarded-For it sends."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.helpers import unique_email
from tests.gateway.live import LiveGateway, live_gateway

pytestmark = pytest.mark.slow
SECRET = "proxy-secret-of-this-test-" + "p" * 16
PER_IP = 3


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    env = {"PROXY_SECRET": SECRET, "LOGIN_FAILURES_PER_IP": str(PER_IP), "LOGIN_FAILURES_PER_ACCOUNT": "1000"}
    with live_gateway(tmp_path_factory.mktemp("forwarded"), env) as live:
        yield live


def _wrong_sign_ins(url: str, count: int, headers: dict[str, str]) -> list[int]:
    return [
        httpx.post(
            f"{url}/login", data={"username": unique_email(), "password": "wrong-password"}, headers=headers
        ).status_code
        for _ in range(count)
    ]


def test_a_local_process_forging_x_forwarded_for_is_counted_under_its_own_address(
    gateway: LiveGateway,
) -> None:
    statuses = [
        _wrong_sign_ins(gateway.url, 1, {"X-Forwarded-For": f"203.0.113.{n}"})[0] for n in range(PER_IP + 2)
    ]
    wrong_secret = _wrong_sign_ins(
        gateway.url, 1, {"X-Forwarded-For": "203.0.113.99", "X-Proxy-Secret": "no"}
    )
    print(f"\nnew X-Forwarded-For each time, no secret: {statuses}; a wrong secret: {wrong_secret}")
    assert statuses == [401] * PER_IP + [429, 429]
    assert wrong_secret == [429]


def test_the_trusted_proxy_gets_each_forwarded_client_its_own_limit(gateway: LiveGateway) -> None:
    def via_proxy(client: str) -> dict[str, str]:
        return {"X-Forwarded-For": f"198.51.100.200, {client}", "X-Proxy-Secret": SECRET}

    first = _wrong_sign_ins(gateway.url, PER_IP + 1, via_proxy("198.51.100.1"))
    second = _wrong_sign_ins(gateway.url, 1, via_proxy("198.51.100.2"))
    print(f"\nthrough the proxy: client 1 {first}, then client 2 {second}")
    assert first == [401] * PER_IP + [429]
    assert second == [401]  # the last address is the client's, not the first (which the client wrote)


def test_forwarded_clients_are_not_loopback_for_the_operator_pages(gateway: LiveGateway) -> None:
    remote = {"X-Forwarded-For": "198.51.100.7", "X-Proxy-Secret": SECRET}
    assert httpx.get(f"{gateway.url}/docs", headers=remote).status_code == 404
    assert httpx.get(f"{gateway.url}/metrics", headers=remote).status_code == 404
    assert httpx.get(f"{gateway.url}/docs").status_code == 200
