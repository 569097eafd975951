"""Small helpers for the gateway tests (images made here, sign-up and login)."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import numpy as np
from fastapi import FastAPI
from PIL import Image

from gateway.core.config import Settings
from gateway.main import create_app


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (48, 40), seed: int = 0) -> bytes:
    """A random RGB image encoded as `fmt`; a different seed gives different bytes (and md5)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


@dataclass
class Gateway:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    async def sign_up(self, password: str = "s3cret-pass") -> tuple[dict, dict[str, str]]:
        """A new user and its Authorization header."""
        email = unique_email()
        created = await self.client.post(
            "/user/", json={"name": "Test", "email": email, "password": password}
        )
        assert created.status_code == 201, created.text
        headers = await self.login(email, password)
        return (await self.client.get("/user/me", headers=headers)).json(), headers

    async def login(self, email: str, password: str) -> dict[str, str]:
        response = await self.client.post("/login", data={"username": email, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def predict(
        self,
        headers: dict[str, str],
        data: bytes,
        filename: str = "image.png",
        content_type: str = "image/png",
    ) -> httpx.Response:
        return await self.client.post(
            "/model/predict", headers=headers, files={"file": (filename, data, content_type)}
        )


@asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[Gateway]:
    """The app with its lifespan (migrations, admin, gRPC channels), called in-process over ASGI."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=60) as client:
            yield Gateway(app, client, settings)
