"""Issue 22 item 3, several photos at once, in a real headless Chromium on the live stack (model server
with the tiny model, gateway, `python -m frontend`): each photo its own tile, a bad one its own error."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from gateway.services.image_check import NOT_AN_IMAGE
from tests.frontend.conftest import CHROMIUM, NO_CHROMIUM, LiveStack
from tests.frontend.test_browser import TIMEOUT_MS, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM),
]


def test_several_photos_answered_in_a_gallery(
    browser: Browser,
    live_stack: LiveStack,
    example_photos: list[Path],
    tmp_path: Path,
    test_output_dir: Path,
) -> None:
    email, password = f"several-{uuid.uuid4().hex[:8]}@example.com", "several-pass-1"
    created = httpx.post(
        f"{live_stack.gateway_url}/user/", json={"name": "Sev", "email": email, "password": password}
    )
    assert created.status_code == 201, created.text
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    photos = [example_photos[0], fake, example_photos[1]]

    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.set_default_timeout(TIMEOUT_MS)
    try:
        sign_in(page, live_stack.frontend_url, email, password)
        page.locator("#several input[type=file]").set_input_files([str(p) for p in photos])
        tiles = page.locator("#several-gallery img")
        expect(tiles).to_have_count(3)
        gallery = page.locator("#several-gallery")
        expect(gallery).to_contain_text(NOT_AN_IMAGE)
        for photo in photos:
            expect(gallery).to_contain_text(photo.name)
        assert gallery.inner_text().count(NOT_AN_IMAGE) == 1  # the real photos were answered
        for i in range(3):
            expect(tiles.nth(i)).to_have_js_property("complete", True)
            assert tiles.nth(i).evaluate("i => i.naturalWidth") > 0
        assert not page.locator("#answer").is_visible()  # the single image box is left alone
        page.wait_for_timeout(500)  # the gallery's fade-in (asserts nothing)
        page.screenshot(path=test_output_dir / "frontend-several-photos.png", full_page=True)
    finally:
        page.close()
