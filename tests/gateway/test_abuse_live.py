"""Issue 11 against a real `python -m gateway` process and a real model server: the PNG dimension bomb and
large images measured in the gateway's own memory (peak RSS, VmHWM), sign-in and registration floods over
HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.gateway.abuse_payloads import png_of_zeros
from tests.gateway.conftest import SERVED_MODEL
from tests.gateway.helpers import image_bytes, unique_email
from tests.gateway.live import LiveGateway, live_gateway, reset_peak_rss, status_field

pytestmark = pytest.mark.slow
MIB = 1024 * 1024
# Small enough that one 3000 x 3000 RGBA decode (36 MB) fits, two do not: concurrent uploads take turns.
INSPECT_BUDGET = 48 * MIB
CONCURRENT = 6


@pytest.fixture(scope="module")
def live(serving_a, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    """One gateway process (one worker, so its pid is the one that inspects images), default limits."""
    env = {"INSPECT_MEMORY_BYTES": str(INSPECT_BUDGET), "SERVING_TIMEOUT_SECONDS": "60"}
    folder = tmp_path_factory.mktemp("abuse-live")
    with live_gateway(
        folder, env, serving_target=serving_a.grpc_target, model_name=SERVED_MODEL, ready_path="/ready"
    ) as gateway:
        yield gateway


def _headers(url: str, email: str = "admin@example.com", password: str = "admin") -> dict[str, str]:
    login = httpx.post(f"{url}/login", data={"username": email, "password": password}, timeout=30)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _upload_all(url: str, headers: dict[str, str], bodies: list[bytes]) -> list[httpx.Response]:
    def send(body: bytes) -> httpx.Response:
        files = {"file": ("upload.png", body, "image/png")}
        return httpx.post(f"{url}/model/predict", headers=headers, files=files, timeout=120)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_large_images_take_turns_within_the_memory_budget(live: LiveGateway) -> None:
    headers = _headers(live.url)
    assert _upload_all(live.url, headers, [image_bytes(seed=1402)])[0].status_code == 200  # warm
    # First in this module: memory that earlier decodes left to the allocator would hide the growth.
    # Distinct bytes (no cache hit), each 36 MB once decoded, all sent at once.
    bodies = [png_of_zeros(3000, 3000 - index) for index in range(CONCURRENT)]
    before = reset_peak_rss(live.pid)
    answers = _upload_all(live.url, headers, bodies)
    growth = status_field(live.pid, "VmHWM") - before
    print(
        f"\n{CONCURRENT} concurrent 3000x3000 PNGs (36 MB decoded each), INSPECT_MEMORY_BYTES="
        f"{INSPECT_BUDGET // MIB} MiB: statuses {[a.status_code for a in answers]}, "
        f"gateway peak RSS +{growth / MIB:.1f} MiB"
    )
    assert {a.status_code for a in answers} <= {200, 400}, [a.text for a in answers]
    assert growth < INSPECT_BUDGET + 32 * MIB  # all at once would be 6 x 36 MB


def test_png_dimension_bombs_cost_the_gateway_no_memory(live: LiveGateway) -> None:
    headers = _headers(live.url)
    assert _upload_all(live.url, headers, [image_bytes(seed=1401)])[0].status_code == 200  # warm
    bomb = png_of_zeros(8000, 8000)
    before = reset_peak_rss(live.pid)
    started = time.perf_counter()
    answers = _upload_all(live.url, headers, [bomb] * CONCURRENT)
    seconds = time.perf_counter() - started
    growth = status_field(live.pid, "VmHWM") - before
    print(
        f"\n{CONCURRENT} concurrent {len(bomb) // 1024} KB 8000x8000 PNGs: statuses "
        f"{[a.status_code for a in answers]}, gateway peak RSS +{growth / MIB:.1f} MiB, {seconds:.2f} s"
    )
    assert [a.status_code for a in answers] == [400] * CONCURRENT, answers[0].text
    assert "the limit is 50 megapixels" in answers[0].json()["detail"]
    assert growth < 30 * MIB  # one decode alone would be 256 MB


def test_password_guessing_and_registration_floods_get_429(live: LiveGateway) -> None:
    email, password = unique_email(), "the-right-password"
    created = httpx.post(f"{live.url}/user/", json={"name": "V", "email": email, "password": password})
    assert created.status_code == 201
    wrong = [
        httpx.post(f"{live.url}/login", data={"username": email, "password": f"guess-{n}"}).status_code
        for n in range(30)
    ]
    right = httpx.post(f"{live.url}/login", data={"username": email, "password": password})
    print(
        f"\n30 wrong passwords: {wrong.count(401)} x 401, {wrong.count(429)} x 429; then the right one: "
        f"{right.status_code}, Retry-After {right.headers.get('retry-after')}"
    )
    assert wrong.count(401) == 5
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) >= 1
    flood = [
        httpx.post(
            f"{live.url}/user/", json={"name": "S", "email": unique_email(), "password": "spam-spam-spam"}
        )
        for _ in range(12)
    ]
    statuses = [answer.status_code for answer in flood]
    print(f"12 registrations from one address: {statuses}")
    assert statuses.count(201) <= 10
    assert statuses[-1] == 429
    assert int(flood[-1].headers["retry-after"]) >= 1
