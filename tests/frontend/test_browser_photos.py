"""Issue 22 items 1 and 2 on the live page in a real Chromium: a 24-megapixel phone-sized JPEG and a WebP are
classified, through the real gateway (which reduces the one and transcodes the other) and the real model
server. Screenshots in test-output/."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser
from skimage import data

from tests.frontend.conftest import CHROMIUM, NO_CHROMIUM, LiveStack
from tests.frontend.test_browser import sign_in, upload_and_read_labels

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM),
]


def phone_jpeg(path: Path, size: tuple[int, int] = (6000, 4000)) -> Path:
    """24 MP (a phone's), smooth so that it stays under the live stack's upload limit."""
    width, height = size
    x = np.broadcast_to(np.linspace(0, 255, width, dtype=np.float32)[None, :], (height, width))
    y = np.broadcast_to(np.linspace(0, 255, height, dtype=np.float32)[:, None], (height, width))
    rgb = np.stack([x, y, np.full((height, width), 128, np.float32)], -1).astype(np.uint8)
    Image.fromarray(rgb).save(path, "JPEG", quality=70)
    return path


def test_a_24_megapixel_jpeg_and_a_webp_are_classified(
    browser: Browser, live_stack: LiveStack, tmp_path: Path, test_output_dir: Path
) -> None:
    email, password = "photos-browser@example.com", "browser-pass-1"
    httpx.post(f"{live_stack.gateway_url}/user/", json={"name": "Pia", "email": email, "password": password})
    big = phone_jpeg(tmp_path / "phone.jpg")
    assert Image.open(big).size == (6000, 4000)
    webp = tmp_path / "chelsea.webp"
    buffer = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buffer, "WEBP", quality=80)
    webp.write_bytes(buffer.getvalue())

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        sign_in(page, live_stack.frontend_url, email, password)
        assert len(upload_and_read_labels(page, big)) == 5
        page.screenshot(path=test_output_dir / "frontend-24mp-jpeg.png", full_page=True)
        assert len(upload_and_read_labels(page, webp)) == 5
        page.screenshot(path=test_output_dir / "frontend-webp.png", full_page=True)
    finally:
        page.close()
