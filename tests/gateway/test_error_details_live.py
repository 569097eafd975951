"""Issue 21 item 16 (the gateway's part) against a real `python -m gateway`: when no model server answers,
the answer says so without naming the addresses grpc tried."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.gateway.helpers import image_bytes, unique_email
from tests.gateway.live import NO_SERVING, live_gateway

pytestmark = pytest.mark.slow


def test_serving_errors_name_no_internal_address(tmp_path: Path) -> None:
    with live_gateway(tmp_path, {"SERVING_TIMEOUT_SECONDS": "3"}) as gateway:
        email, password = unique_email(), "no-serving-pass"
        httpx.post(f"{gateway.url}/user/", json={"name": "N", "email": email, "password": password})
        token = httpx.post(f"{gateway.url}/login", data={"username": email, "password": password}).json()
        answer = httpx.post(
            f"{gateway.url}/model/predict",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            files={"file": ("a.png", image_bytes(seed=1601), "image/png")},
            timeout=30,
        )
        ready = httpx.get(f"{gateway.url}/ready")
        log = gateway.service.log_text()
    print(f"\npredict with no model server at {NO_SERVING}: {answer.status_code} {answer.text}")
    assert answer.status_code in (503, 504)
    host = NO_SERVING.split(":")[0]
    for text in (answer.text, ready.text):
        assert host not in text
        assert "ipv4" not in text
        assert "refused" not in text.lower()
    assert host in log  # the operator still learns what failed
