"""Issue 22, item 1, measured in a real `python -m gateway` process (one worker, so its pid is the one that
decodes) in front of a real model server: a 24 MP and a 50 MP phone JPEG are answered, and the gateway's
peak RSS (VmHWM) grows by the upload's bytes and a decode at 1/8 scale, nowhere near a full decode."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.conftest import SERVED_MODEL
from tests.gateway.live import LiveGateway, live_gateway, reset_peak_rss, status_field
from tests.gateway.photos import photo

pytestmark = pytest.mark.slow
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def live(serving_a, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    folder = tmp_path_factory.mktemp("photos-live")
    env = {"SERVING_TIMEOUT_SECONDS": "60"}
    with live_gateway(
        folder, env, serving_target=serving_a.grpc_target, model_name=SERVED_MODEL, ready_path="/ready"
    ) as gateway:
        yield gateway


@pytest.mark.parametrize(("width", "height"), [(6000, 4000), (8640, 5760)], ids=["24MP", "50MP"])
def test_a_phone_jpeg_is_answered_within_a_small_memory_peak(
    live: LiveGateway, width: int, height: int
) -> None:
    login = httpx.post(f"{live.url}/login", data={"username": "admin@example.com", "password": "admin"})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    warm = photo("JPEG", 640, 480, seed=width)
    assert httpx.post(
        f"{live.url}/model/predict", headers=headers, files={"file": ("w.jpg", warm)}
    ).is_success
    data = photo("JPEG", width, height, seed=2210)
    before = reset_peak_rss(live.pid)
    started = time.perf_counter()
    answer = httpx.post(
        f"{live.url}/model/predict", headers=headers, files={"file": ("IMG.JPG", data)}, timeout=120
    )
    seconds = time.perf_counter() - started
    growth = status_field(live.pid, "VmHWM") - before
    full_decode = width * height * 4
    print(
        f"\n{width}x{height} JPEG ({len(data) / MIB:.1f} MiB): {answer.status_code} in {seconds:.2f} s, "
        f"gateway peak RSS +{growth / MIB:.1f} MiB (a full decode alone: {full_decode / MIB:.0f} MiB)"
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["cached"] is False
    # The upload's bytes, read whole (twice while they are joined), and a decode at 1/8 scale: a few MiB.
    assert growth < 2 * len(data) + 24 * MIB
    assert growth < full_decode / 2
