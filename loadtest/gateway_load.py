"""c, d and the gateway's floor with the Python client (httpx, one keep-alive client per worker), and the
sign-in that every client of the gateway needs first."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from loadtest import payloads
from loadtest.images import jpeg_pool
from loadtest.loadgen import Call, current_worker

PREDICT_PATH = "/model/predict"


async def sign_in(url: str, email: str, password: str) -> str:
    """The bearer token of `POST /login`."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        response = await client.post(
            "/login",
            content=payloads.login_form(email, password),
            headers={"Content-Type": payloads.FORM_TYPE},
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token


def upload_bodies(count: int, seed: int, name: str) -> list[bytes]:
    """Distinct pictures as multipart bodies of `POST /model/predict`."""
    return [
        payloads.multipart_file(image, f"{name}-{i}.jpg") for i, image in enumerate(jpeg_pool(count, seed))
    ]


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": payloads.MULTIPART_TYPE}


def predict_call(
    clients: Sequence[httpx.AsyncClient], token: str, bodies: Sequence[bytes], expect_cached: bool | None
) -> Call:
    """`call(index)` uploads body `index` (round the pool); the answer must be 200, and `cached` as expected
    (None: either)."""
    sent_headers = headers(token)

    async def call(index: int) -> None:
        client = clients[current_worker() % len(clients)]
        response = await client.post(PREDICT_PATH, content=bodies[index % len(bodies)], headers=sent_headers)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        answer = response.json()
        if expect_cached is not None and answer.get("cached") is not expect_cached:
            raise RuntimeError(f"expected cached={expect_cached}, got {answer.get('cached')!r}")

    return call
