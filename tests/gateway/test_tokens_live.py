"""Issue 21 item 10 against a real `python -m gateway` on SQLite: after a user row is deleted, the next user
gets the same rowid; the old token must not open that user's account."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.gateway.helpers import unique_email
from tests.gateway.live import live_gateway

pytestmark = pytest.mark.slow


def _sign_up_and_in(url: str) -> tuple[str, dict[str, str]]:
    email, password = unique_email(), "token-owner-pass"
    assert httpx.post(f"{url}/user/", json={"name": "T", "email": email, "password": password}).is_success
    login = httpx.post(f"{url}/login", data={"username": email, "password": password})
    assert login.status_code == 200
    return email, {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_a_token_does_not_outlive_its_user(tmp_path: Path) -> None:
    with live_gateway(tmp_path) as gateway:
        _, old_headers = _sign_up_and_in(gateway.url)
        old = httpx.get(f"{gateway.url}/user/me", headers=old_headers).json()
        with sqlite3.connect(tmp_path / "gateway.db") as db:
            db.execute("DELETE FROM users WHERE id = ?", (old["id"],))
        refused_at_once = httpx.get(f"{gateway.url}/user/me", headers=old_headers)
        _, new_headers = _sign_up_and_in(gateway.url)
        new = httpx.get(f"{gateway.url}/user/me", headers=new_headers).json()
        after = httpx.get(f"{gateway.url}/user/me", headers=old_headers)
    print(
        f"\nold user id {old['id']}, new user id {new['id']}; the old token: {after.status_code} {after.text}"
    )
    assert refused_at_once.status_code == 401
    assert new["id"] == old["id"]  # SQLite reused the rowid: the case at hand
    assert after.status_code == 401
    assert new["email"] not in after.text
