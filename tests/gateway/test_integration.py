"""The gateway against a real `python -m serving` process (tiny model), on each database."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess

import grpc
import httpx
import pytest

from stack.procs import PYTHON, REPO_ROOT, free_port
from tests.gateway.conftest import SERVED_MODEL, TEST_SECRET
from tests.gateway.helpers import Gateway, image_bytes, running_gateway
from tests.gateway.test_predict import _bmp, _pdf, _png_claiming

pytestmark = pytest.mark.slow


def _direct_rest_prediction(serving, data: bytes) -> dict:
    """The model server's own answer for these bytes, over its REST API (not through the gateway)."""
    body = {"instances": [{"image_bytes": {"b64": base64.b64encode(data).decode()}}]}
    response = httpx.post(f"{serving.rest_url}/v1/models/{SERVED_MODEL}:predict", json=body, timeout=60)
    response.raise_for_status()
    return response.json()["predictions"][0]


async def test_predict_end_to_end_then_from_cache(real_api: Gateway, serving_a, user) -> None:
    _, headers = user
    data = image_bytes("JPEG", size=(64, 48), seed=1001)
    first = await real_api.predict(headers, data, filename="photo.jpeg", content_type="image/jpeg")
    assert first.status_code == 200, first.text
    body = first.json()
    direct = await asyncio.to_thread(_direct_rest_prediction, serving_a, data)
    labels = [item["label"] for item in body["top_k"]]
    assert labels == [label.decode() if isinstance(label, bytes) else label for label in direct["labels"]]
    assert [item["score"] for item in body["top_k"]] == pytest.approx(direct["scores"], rel=1e-5)
    assert len(labels) == 5
    assert body["prediction"] == labels[0]
    assert body["model"] == {"name": SERVED_MODEL, "version": 1, "label": None}
    assert body["image_file_name"] == hashlib.md5(data).hexdigest() + ".jpeg"
    assert body["cached"] is False

    second = await real_api.predict(headers, data, filename="again.jpeg", content_type="image/jpeg")
    assert second.status_code == 200
    assert second.json()["cached"] is True
    assert second.json()["top_k"] == body["top_k"]


async def test_reference_photo_is_stored_under_its_md5(
    real_api: Gateway, user, reference_dog_jpeg: bytes
) -> None:
    public, headers = user
    response = await real_api.predict(
        headers, reference_dog_jpeg, filename="dog.jpeg", content_type="image/jpeg"
    )
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    assert response.json()["image_file_name"] == "0a7c757a80f2c5b13fa7a2a47a683593.jpeg"
    stored = real_api.settings.upload_dir / str(public["id"]) / "0a7c757a80f2c5b13fa7a2a47a683593.jpeg"
    assert stored.read_bytes() == reference_dog_jpeg


async def test_seed_flow_login_predict_feedback(real_api: Gateway) -> None:
    """The original project's cases: admin login, predict, feedback POST 201 and GET lists it."""
    login = await real_api.client.post("/login", data={"username": "admin@example.com", "password": "admin"})
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    predicted = await real_api.predict(headers, image_bytes("PNG", seed=1002), filename="cat.png")
    assert predicted.status_code == 200
    body = predicted.json()
    assert body["success"] is True
    assert isinstance(body["prediction"], str)
    assert 0.0 <= body["score"] <= 1.0
    feedback = {
        "score": body["score"],
        "predicted_class": body["prediction"],
        "image_file_name": body["image_file_name"],
        "feedback": "wrong: it is a car",
    }
    created = await real_api.client.post("/feedback/", json=feedback, headers=headers)
    assert created.status_code == 201
    listed = await real_api.client.get("/feedback/", headers=headers)
    assert created.json() in listed.json()


async def test_every_upload_rejection_with_the_real_server(real_api: Gateway, user) -> None:
    _, headers = user
    good = image_bytes(seed=1003)
    for filename in ("cat.JPGG", "invoice.pdf", "/usr/src/dog.", "/usr/src/api/"):
        response = await real_api.predict(headers, good, filename=filename)
        assert response.status_code == 400, filename
        assert response.json() == {"detail": "File type is not supported."}
    for filename, data in (
        ("doc.jpg", _pdf()),
        ("bitmap.png", _bmp()),
        ("bomb.png", _png_claiming(90_000, 90_000)),
    ):
        assert (await real_api.predict(headers, data, filename=filename)).status_code == 400, filename
    accepted = await real_api.predict(headers, good, filename="../../car.PNG")
    assert accepted.status_code == 200
    assert accepted.json()["image_file_name"] == hashlib.md5(good).hexdigest() + ".png"
    too_big = image_bytes("PNG", size=(1500, 1500), seed=5)
    small_limit = real_api.settings.model_copy(update={"max_upload_bytes": len(too_big) // 2})
    async with running_gateway(small_limit) as limited:
        response = await limited.predict(await limited.login("admin@example.com", "admin"), too_big)
    assert response.status_code == 413


async def test_one_of_two_replicas_killed_mid_run(
    gateway_settings, start_serving, tiny_model_base, serving_a, caplog: pytest.LogCaptureFixture
) -> None:
    serving_b = start_serving(tiny_model_base, SERVED_MODEL)
    settings = gateway_settings(
        serving_target=f"{serving_a.grpc_target},{serving_b.grpc_target}",
        model_name=SERVED_MODEL,
        serving_timeout_seconds=30.0,
    )
    async with running_gateway(settings) as gw:
        _, headers = await gw.sign_up()
        seeds = iter(range(2000, 2100))

        async def wave(n: int) -> list[int]:
            responses = await asyncio.gather(
                *(gw.predict(headers, image_bytes(seed=next(seeds))) for _ in range(n))
            )
            return [r.status_code for r in responses]

        assert await wave(4) == [200] * 4
        states = [replica.channel.get_state() for replica in gw.app.state.serving.replicas]
        assert states == [grpc.ChannelConnectivity.READY] * 2  # both replicas took requests
        in_flight = asyncio.ensure_future(wave(8))
        await asyncio.sleep(0.05)
        serving_b.kill()
        assert await in_flight == [200] * 8
        assert await wave(8) == [200] * 8  # B's turns fail over to A


async def test_serving_down_is_503(gateway_settings) -> None:
    settings = gateway_settings(
        serving_target=f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}", model_name=SERVED_MODEL
    )
    async with running_gateway(settings) as gw:
        _, headers = await gw.sign_up()
        response = await gw.predict(headers, image_bytes(seed=1004))
        assert response.status_code == 503
        assert response.json()["detail"].startswith("No model server replica is available")
        ready = await gw.client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["database"] == "ok"
        assert ready.json()["serving"].startswith("unavailable")


async def test_deadline_passed_is_504(gateway_settings, serving_a) -> None:
    settings = gateway_settings(
        serving_target=serving_a.grpc_target, model_name=SERVED_MODEL, serving_timeout_seconds=0.001
    )
    async with running_gateway(settings) as gw:
        _, headers = await gw.sign_up()
        response = await gw.predict(headers, image_bytes(seed=1005))
    assert response.status_code == 504
    assert "did not answer within" in response.json()["detail"]


async def test_ready_reports_the_served_model(real_api: Gateway) -> None:
    ready = await real_api.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["model"] == {"name": SERVED_MODEL, "version": 1}


def test_gateway_process_never_imports_tensorflow(database_url: str, serving_a, tmp_path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SERVING_TARGET": serving_a.grpc_target,
        "MODEL_NAME": SERVED_MODEL,
        "UPLOAD_DIR": str(tmp_path),
        "SECRET_KEY": TEST_SECRET,
    }
    done = subprocess.run(
        [PYTHON, "-m", "tests.gateway.no_tf_probe"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 200, result
    assert result["tensorflow_modules"] == []
