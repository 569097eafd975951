"""A real headless Chromium signs in, classifies, sends feedback, and leaves screenshots in test-output/.

Runs against the live stack (model server with the tiny model, gateway, `python -m frontend`).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page

from frontend.sessions import COOKIE
from tests.frontend.conftest import CHROMIUM, NO_CHROMIUM, LiveStack

TIMEOUT_MS = 60_000  # a prediction on a busy 2-core machine

# Decided at collection, so that no server is started only to be skipped.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM),
]


@pytest.fixture(scope="module")
def account(live_stack: LiveStack) -> tuple[str, str]:
    """A user made through the gateway's API; the browser signs in with it."""
    email, password = f"browser-{uuid.uuid4().hex[:8]}@example.com", "browser-pass-1"
    response = httpx.post(
        f"{live_stack.gateway_url}/user/", json={"name": "Rosa", "email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    return email, password


def screenshot(page: Page, path: Path) -> None:
    """For a person to look at: let the event a tab switch started finish its fade first (asserts nothing)."""
    page.wait_for_timeout(1000)
    page.screenshot(path=path, full_page=True)


def sign_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(url)
    page.get_by_label("Email").filter(visible=True).fill(email)
    page.get_by_label("Password").filter(visible=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as").wait_for(timeout=TIMEOUT_MS)


def upload_and_read_labels(page: Page, photo: Path) -> list[str]:
    """Upload a photo, wait for the answer, return the labels shown (top first)."""
    clear = page.locator("#upload").get_by_role("button", name="Remove Image")
    if clear.is_visible():  # the box holds the last photo: remove it first, as a person would
        clear.click()
        # the last answer goes with it: wait, or the next wait below may see the old answer
        page.get_by_text("Model tiny version 1").wait_for(state="hidden", timeout=TIMEOUT_MS)
    page.locator("#upload input[type=file]").set_input_files(str(photo))
    page.get_by_text("Model tiny version 1").wait_for(timeout=TIMEOUT_MS)
    bars = page.locator("#top5 meter")
    return [bars.nth(i).get_attribute("aria-label") or "" for i in range(bars.count())]


def test_sign_in_classify_feedback_desktop(
    browser: Browser,
    live_stack: LiveStack,
    account: tuple[str, str],
    example_photos: list[Path],
    test_output_dir: Path,
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(live_stack.frontend_url)
        page.get_by_label("Email").filter(visible=True).fill(account[0])
        page.get_by_label("Password").filter(visible=True).fill("wrong-password")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Wrong email or password.").wait_for(timeout=TIMEOUT_MS)
        page.screenshot(path=test_output_dir / "frontend-desktop-wrong-password.png", full_page=True)

        sign_in(page, live_stack.frontend_url, *account)
        labels = upload_and_read_labels(page, example_photos[0])
        assert len(labels) == 5
        answer = page.locator("#answer").inner_text()  # the headline over the top 5
        assert labels[0] in answer
        assert answer.startswith("Not sure") or "answer-sure" in (
            page.locator("#answer").get_attribute("class") or ""
        )

        page.get_by_label("Wrong").check()
        right_label = page.get_by_label("Right label")
        right_label.press_sequentially("tabb")
        page.get_by_role("option", name="tabby", exact=True).click()
        assert right_label.input_value() == "tabby"
        page.get_by_label("Comment (optional)").fill("seen from a real browser")
        page.screenshot(path=test_output_dir / "frontend-desktop-classified.png", full_page=True)
        page.get_by_role("button", name="Send feedback").click()
        page.get_by_text("Thank you, your feedback is saved.").wait_for(timeout=TIMEOUT_MS)

        page.get_by_role("tab", name="My feedback").click()
        feedback_cell = page.locator("#my-feedback td.feedback").first
        feedback_cell.get_by_text("wrong; right label: tabby; comment: seen from a real browser").wait_for(
            timeout=TIMEOUT_MS
        )
        assert page.locator("#my-feedback td.predicted").first.inner_text().strip() == labels[0]
        screenshot(page, test_output_dir / "frontend-desktop-my-feedback.png")

        page.get_by_role("button", name="Sign out").click()
        page.get_by_text("You are signed out.").wait_for(timeout=TIMEOUT_MS)
        assert not page.get_by_text("Signed in as").is_visible()
    finally:
        page.close()


def test_narrow_screen(
    browser: Browser,
    live_stack: LiveStack,
    account: tuple[str, str],
    example_photos: list[Path],
    test_output_dir: Path,
) -> None:
    page = browser.new_page(viewport={"width": 400, "height": 850})
    try:
        sign_in(page, live_stack.frontend_url, *account)
        assert len(upload_and_read_labels(page, example_photos[1])) == 5
        page.screenshot(path=test_output_dir / "frontend-narrow.png", full_page=True)
        # one column, nothing cut off sideways
        assert page.evaluate("document.documentElement.scrollWidth") <= 400
        photo_box = page.locator("#upload").bounding_box()
        assert photo_box is not None
        top5_box = page.locator("#top5").bounding_box()
        assert top5_box is not None
        assert top5_box["y"] > photo_box["y"] + photo_box["height"] - 1  # below the photo, not beside it
        assert top5_box["x"] + top5_box["width"] <= 400
    finally:
        page.close()


def gateway_has_history(gateway_url: str) -> bool:
    paths = httpx.get(f"{gateway_url}/openapi.json", timeout=30).json()["paths"]
    return "/model/predictions" in paths


def test_history_on_the_real_gateway(
    browser: Browser,
    live_stack: LiveStack,
    account: tuple[str, str],
    tmp_path: Path,
    test_output_dir: Path,
) -> None:
    """Two photos classified, both in History with their thumbnails; the older one reopened and given
    feedback, which the gateway stores against that prediction."""
    if not gateway_has_history(live_stack.gateway_url):
        pytest.skip("this gateway has no GET /model/predictions yet (issue 14 item 8, the gateway half)")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        sign_in(page, live_stack.frontend_url, *account)
        photos = []
        for i, colour in enumerate([(200, 30, 30), (30, 30, 200)]):
            path = tmp_path / f"history-{i}-{uuid.uuid4().hex[:6]}.png"
            Image.new("RGB", (96, 64), colour).save(path)
            photos.append(path)
            upload_and_read_labels(page, path)
        page.get_by_role("tab", name="History").click()
        page.locator("#history-info").get_by_text("newest first").wait_for(timeout=TIMEOUT_MS)
        thumbs = page.locator("#history-gallery img")
        assert thumbs.count() >= 2
        assert thumbs.first.evaluate("i => i.naturalWidth") > 0
        screenshot(page, test_output_dir / "frontend-live-history.png")

        thumbs.nth(1).click()  # the older of the two
        page.get_by_text("from your history").wait_for(timeout=TIMEOUT_MS)
        page.get_by_text(photos[0].name).wait_for(timeout=TIMEOUT_MS)  # the caption may render a moment later
        page.get_by_label("Correct").check()
        page.get_by_label("Comment (optional)").fill("reopened on the real gateway")
        page.get_by_role("button", name="Send feedback").click()
        page.get_by_text("Thank you, your feedback is saved.").wait_for(timeout=TIMEOUT_MS)
        screenshot(page, test_output_dir / "frontend-live-history-reopened.png")
    finally:
        page.close()

    token = httpx.post(
        f"{live_stack.gateway_url}/login", data={"username": account[0], "password": account[1]}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    stored = httpx.get(f"{live_stack.gateway_url}/feedback/", headers=headers).json()
    (row,) = [f for f in stored if f["feedback"] == "reopened on the real gateway"]
    assert (row["verdict"], row["correct_label"]) == ("correct", None)
    predictions = httpx.get(
        f"{live_stack.gateway_url}/model/predictions", headers=headers, params={"limit": 5}
    ).json()["items"]
    older = next(p for p in predictions if p["original_file_name"] == photos[0].name)
    assert row["prediction_id"] == older["prediction_id"]
    assert row["image_file_name"] == older["image_file_name"]


def test_a_reload_keeps_the_session_out_of_scripts_reach(
    browser: Browser, live_stack: LiveStack, account: tuple[str, str], test_output_dir: Path
) -> None:
    """Issue 22 item 4 within issue 21's rules: a reload stays signed in, the session is an HttpOnly
    SameSite=Strict cookie no script can read, the browser keeps no password, and signing out ends it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, live_stack.frontend_url, *account)
        page.reload()
        page.get_by_text("Signed in as").wait_for(timeout=TIMEOUT_MS)
        page.get_by_text("session until").wait_for(timeout=TIMEOUT_MS)  # its end is shown
        assert not page.get_by_role("button", name="Sign in").is_visible()
        screenshot(page, test_output_dir / "frontend-reload-keeps-session.png")

        (cookie,) = [c for c in context.cookies() if c["name"] == COOKIE]
        assert cookie["httpOnly"]
        assert cookie["sameSite"] == "Strict"
        assert COOKIE not in page.evaluate("document.cookie")
        kept = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
        assert account[1] not in kept
        assert not cookie["value"].startswith("eyJ")  # a random id, not the token

        page.get_by_role("button", name="Sign out").click()
        page.get_by_text("You are signed out.").wait_for(timeout=TIMEOUT_MS)
        page.reload()
        page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT_MS)
        assert not page.get_by_text("Signed in as").is_visible()
        assert all(c["name"] != COOKIE for c in context.cookies())
    finally:
        context.close()
