"""Issue 19: the Evaluation tab in a real Chromium: an admin sees each version's figures as the gateway
counts them, with the plot; anyone else has no such tab. Screenshot in test-output/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from contracts import demo
from tests.frontend.conftest import CHROMIUM, NO_CHROMIUM, LiveStack
from tests.frontend.test_browser import TIMEOUT_MS, screenshot, sign_in
from tests.gateway.photos import photo

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM),
]


def judged_predictions(gateway: str, headers: dict[str, str]) -> None:
    """Three predictions of distinct photos: two said correct, one wrong with the right label."""
    for seed, verdict in ((1, "correct"), (2, "correct"), (3, "wrong")):
        files = {"file": (f"{seed}.jpg", photo("JPEG", 64, 48, seed=seed), "image/jpeg")}
        answer = httpx.post(f"{gateway}/model/predict", files=files, headers=headers, timeout=60).json()
        feedback = {
            "score": answer["score"],
            "predicted_class": answer["prediction"],
            "image_file_name": answer["image_file_name"],
            "feedback": "",
            "verdict": verdict,
        }
        if verdict == "wrong":
            feedback["correct_label"] = "tabby" if answer["prediction"] != "tabby" else "tiger_cat"
        sent = httpx.post(f"{gateway}/feedback/", json=feedback, headers=headers)
        assert sent.status_code == 201, sent.text


def test_the_admin_sees_each_version_judged_and_others_no_tab(
    browser: Browser, live_stack: LiveStack, test_output_dir: Path
) -> None:
    gateway = live_stack.gateway_url
    login = {"username": demo.ADMIN_EMAIL, "password": demo.ADMIN_PASSWORD}
    token = httpx.post(f"{gateway}/login", data=login).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    judged_predictions(gateway, headers)
    report = httpx.get(f"{gateway}/model/evaluation", headers=headers).json()
    (row,) = [r for r in report["versions"] if r["model_version"] == 1 and r["model_label"] is None]
    expected = (
        f"{row['accuracy']:.0%} [{row['accuracy_low']:.0%}–{row['accuracy_high']:.0%}] of {row['feedback']}"
    )

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        sign_in(page, live_stack.frontend_url, demo.ADMIN_EMAIL, demo.ADMIN_PASSWORD)
        page.get_by_role("tab", name="Evaluation").click()
        table = page.locator("#evaluation")
        table.get_by_text(expected).wait_for(timeout=TIMEOUT_MS)
        assert table.locator("th", has_text=re.compile(r"^version 1$")).count() == 1
        assert table.locator("svg.accuracy-plot circle").count() >= 1
        screenshot(page, test_output_dir / "frontend-evaluation.png")
    finally:
        page.close()

    email, password = f"not-admin-{uuid.uuid4().hex[:8]}@example.com", "a-long-password"
    created = httpx.post(f"{gateway}/user/", json={"name": "Ola", "email": email, "password": password})
    assert created.status_code == 201, created.text
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        sign_in(page, live_stack.frontend_url, email, password)
        page.get_by_role("tab", name="History").wait_for(timeout=TIMEOUT_MS)
        assert page.get_by_role("tab", name="Evaluation").count() == 0
    finally:
        page.close()
