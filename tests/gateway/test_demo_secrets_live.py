"""Issue 21 item 14: the demo secrets serve loopback only, however the gateway is started. `python -m gateway`
refuses a public GATEWAY_HOST; uvicorn started by hand (`--host ""`, a repeated `--host`, `--uds`) serves
nothing that did not arrive on a loopback address."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from stack.commands import gateway_command
from stack.procs import PYTHON, Service, free_port, wait_until

pytestmark = pytest.mark.slow
DEMO = {"SECRET_KEY": "", "ADMIN_PASSWORD": "", "ALLOW_DEMO_SECRETS": ""}  # unset: the demo values


def _env(folder: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'gateway.db'}",
        "UPLOAD_DIR": str(folder / "uploads"),
        "SERVING_TARGET": "127.0.0.1:1",
        **DEMO,
    }


def _public_address() -> str | None:
    """This machine's own non-loopback IPv4 address (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@contextmanager
def _uvicorn_by_hand(folder: Path, *flags: str) -> Iterator[Service]:
    args = [PYTHON, "-m", "uvicorn", "gateway.main:app", *flags]
    service = Service(args, folder / "uvicorn.log", _env(folder), name="uvicorn")
    try:
        yield service
    finally:
        service.stop()


def test_python_m_gateway_refuses_a_public_address_with_the_demo_secrets(tmp_path: Path) -> None:
    command = gateway_command(free_port(), host="0.0.0.0", env=_env(tmp_path))
    service = Service(command.args, tmp_path / "gateway.log", command.env, name="gateway")
    try:
        code = service.proc.wait(timeout=60)
    finally:
        service.stop()
    log = service.log_text()
    assert code != 0, log[-2000:]
    assert "Refusing to start on 0.0.0.0" in log
    assert "SECRET_KEY is the built-in demo key" in log


def test_a_unix_socket_serves_nothing_with_the_demo_secrets(tmp_path: Path) -> None:
    path = tmp_path / "gateway.sock"
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(path)))
    with _uvicorn_by_hand(tmp_path, "--uds", str(path)) as service, client:
        url = "http://gateway/health"
        wait_until(lambda: _answers(url, client), 60, service.proc, "uvicorn", service.log)
        answer = client.get(url)
    print(f"\n--uds with the demo secrets: /health {answer.status_code}")
    assert answer.status_code == 503
    assert "demo" not in answer.text  # nothing tells a stranger that tokens could be forged


@pytest.mark.parametrize("flags", [("--host", ""), ("--host", "127.0.0.1", "--host", "0.0.0.0")])
def test_a_wildcard_bind_serves_loopback_only_with_the_demo_secrets(tmp_path: Path, flags: tuple) -> None:
    public = _public_address()
    if public is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect through")
    port = free_port()
    with _uvicorn_by_hand(tmp_path, *flags, "--port", str(port)) as service:
        local = f"http://127.0.0.1:{port}/health"
        wait_until(lambda: _answers(local, httpx), 60, service.proc, "uvicorn", service.log)
        through_public = httpx.get(f"http://{public}:{port}/health")
        through_loopback = httpx.get(local)
    statuses = (through_public.status_code, through_loopback.status_code)
    print(f"\nuvicorn {' '.join(flags)!r}: /health via {public} and via 127.0.0.1: {statuses}")
    assert through_public.status_code == 503
    assert through_loopback.status_code == 200


def _answers(url: str, client: httpx.Client | ModuleType) -> bool:
    try:
        client.get(url)
    except httpx.TransportError:
        return False
    return True
