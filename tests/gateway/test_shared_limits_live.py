"""Issue 18 item 6 against real processes: with REDIS_URL, 2 gateway processes x 2 uvicorn workers allow
exactly the sign-in and registration attempts the settings say; without it, each process counts alone; with
Redis down, sign-in and registration answer 503 and everything else works."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from jose import jwt

from tests.gateway.conftest import SERVED_MODEL, TEST_SECRET
from tests.gateway.helpers import image_bytes, unique_email
from tests.gateway.live import LiveGateway, live_gateway
from tests.gateway.redis_server import REDIS_URL, down_url

pytestmark = pytest.mark.slow
PER_IP, SIGNUPS = 6, 4
LIMITS = {
    "LOGIN_FAILURES_PER_IP": str(PER_IP),
    "SIGNUPS_PER_IP": str(SIGNUPS),
    "AUTH_RATE_WINDOW_SECONDS": "3600",  # nothing is earned back during the test
}


@contextlib.contextmanager
def two_gateways(folder: Path, env: dict[str, str]) -> Iterator[list[LiveGateway]]:
    with contextlib.ExitStack() as stack:
        gateways = []
        for name in ("a", "b"):
            (folder / name).mkdir()
            gateways.append(stack.enter_context(live_gateway(folder / name, env, workers=2)))
        yield gateways


def _attempts(gateways: list[LiveGateway], count: int) -> tuple[list[int], list[int]]:
    """`count` wrong sign-ins and `count` registrations, alternating gateways, a new connection each."""
    sign_ins = [
        httpx.post(
            f"{gateways[n % 2].url}/login", data={"username": unique_email(), "password": "wrong-password"}
        ).status_code
        for n in range(count)
    ]
    sign_ups = [
        httpx.post(
            f"{gateways[n % 2].url}/user/",
            json={"name": "R", "email": unique_email(), "password": "sign-up-pass"},
        ).status_code
        for n in range(count)
    ]
    return sign_ins, sign_ups


def test_redis_makes_the_limits_hold_across_processes_and_workers(tmp_path: Path, redis_prefix: str) -> None:
    env = {**LIMITS, "REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": redis_prefix}
    with two_gateways(tmp_path, env) as gateways:
        sign_ins, sign_ups = _attempts(gateways, 20)
    print(f"\n2 gateways x 2 workers, REDIS_URL: sign-ins {sign_ins}; registrations {sign_ups}")
    assert sign_ins == [401] * PER_IP + [429] * (20 - PER_IP)
    assert sign_ups == [201] * SIGNUPS + [429] * (20 - SIGNUPS)


def test_without_redis_each_process_counts_alone(tmp_path: Path) -> None:
    """What REDIS_URL is for: alternating two gateways already gets each gateway's allowance."""
    with two_gateways(tmp_path, LIMITS) as gateways:
        sign_ins, sign_ups = _attempts(gateways, 20)
    print(
        f"\n2 gateways x 2 workers, no REDIS_URL: {sign_ins.count(401)} wrong sign-ins let through, "
        f"{sign_ups.count(201)} registrations"
    )
    assert sign_ins.count(401) >= 2 * PER_IP
    assert sign_ups.count(201) >= 2 * SIGNUPS


def _token_of(folder: Path, email: str) -> dict[str, str]:
    with sqlite3.connect(folder / "gateway.db") as db:
        (subject,) = db.execute("SELECT subject FROM users WHERE email = ?", (email,)).fetchone()
    now = datetime.now(UTC)
    token = jwt.encode({"sub": subject, "iat": now, "exp": now + timedelta(minutes=10)}, TEST_SECRET)
    return {"Authorization": f"Bearer {token}"}


def test_redis_down_closes_sign_in_and_registration_only(tmp_path: Path, serving_a) -> None:
    env = {"REDIS_URL": down_url()}
    with live_gateway(
        tmp_path, env, serving_target=serving_a.grpc_target, model_name=SERVED_MODEL, ready_path="/ready"
    ) as gateway:
        sign_in = httpx.post(
            f"{gateway.url}/login", data={"username": "admin@example.com", "password": "admin"}
        )
        sign_up = httpx.post(
            f"{gateway.url}/user/", json={"name": "R", "email": unique_email(), "password": "sign-up-pass"}
        )
        headers = _token_of(tmp_path, "admin@example.com")  # a token issued while Redis was up
        me = httpx.get(f"{gateway.url}/user/me", headers=headers)
        predict = httpx.post(
            f"{gateway.url}/model/predict",
            headers=headers,
            files={"file": ("a.png", image_bytes(seed=1806), "image/png")},
            timeout=60,
        )
        history = httpx.get(f"{gateway.url}/model/predictions", headers=headers)
        ready = httpx.get(f"{gateway.url}/ready")
    print(
        f"\nRedis down: sign-in {sign_in.status_code}, registration {sign_up.status_code}; /user/me "
        f"{me.status_code}, predict {predict.status_code}, history {history.status_code}, "
        f"/ready {ready.status_code}"
    )
    assert (sign_in.status_code, sign_up.status_code) == (503, 503)
    assert int(sign_in.headers["retry-after"]) >= 1
    assert "redis" not in sign_in.text.lower()
    assert (me.status_code, predict.status_code, history.status_code, ready.status_code) == (
        200,
        200,
        200,
        200,
    )
    assert history.json()["total"] == 1
