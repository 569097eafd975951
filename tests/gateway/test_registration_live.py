"""Issue 21 item 15 against a real `python -m gateway`: registering tells no one whether an email has an
account (same status, same fields, same headers), and leaves an existing account as it was."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.gateway.helpers import unique_email
from tests.gateway.live import live_gateway

pytestmark = pytest.mark.slow


def test_registration_does_not_tell_whether_an_email_is_registered(tmp_path: Path) -> None:
    with live_gateway(tmp_path) as gateway:
        owner = {"name": "Owner", "email": unique_email(), "password": "owner-password"}
        assert httpx.post(f"{gateway.url}/user/", json=owner).status_code == 201
        probe = {"name": "Probe", "password": "probe-password"}
        taken = httpx.post(f"{gateway.url}/user/", json={**probe, "email": owner["email"]})
        free = httpx.post(f"{gateway.url}/user/", json={**probe, "email": unique_email()})
        owner_in = httpx.post(
            f"{gateway.url}/login", data={"username": owner["email"], "password": owner["password"]}
        )
    print(f"\nregistering a taken email: {taken.status_code} {taken.text}; a free one: {free.status_code}")
    assert taken.status_code == free.status_code == 201
    assert taken.json() == {"name": "Probe", "email": owner["email"]}
    assert set(taken.json()) == set(free.json())
    assert sorted(taken.headers.keys()) == sorted(free.headers.keys())
    assert owner_in.status_code == 200
