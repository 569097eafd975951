"""Issue 14's page fixes and the History tab in a real headless Chromium, on the page with a fake gateway.

What the page does with the real gateway and model server is in test_browser.py. Screenshots go to the
test-output folder for a person to look at.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.frontend.conftest import CHROMIUM, NO_CHROMIUM, FakeFrontend
from tests.frontend.fake_gateway import TOP5

TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM),
]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    page.close()


def register(page: Page, url: str, name: str = "Rosa") -> str:
    """Create an account from the page's Register tab; returns its email."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
    page.goto(url)
    page.get_by_role("tab", name="Register").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").filter(visible=True).fill(email)
    page.get_by_label("Password").filter(visible=True).fill("pw-12345")
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("Signed in as").wait_for()
    return email


def upload(page: Page, path: Path) -> None:
    page.locator("#upload input[type=file]").set_input_files(str(path))


def classify(page: Page, path: Path) -> None:
    upload(page, path)
    page.get_by_text("Model fake version 3").wait_for()


def a_photo(folder: Path, name: str = "photo.png", colour: tuple[int, int, int] = (180, 90, 30)) -> Path:
    path = folder / name
    Image.new("RGB", (160, 120), colour).save(path)
    return path


def is_monospace(page: Page, selector: str) -> bool:
    family = page.locator(selector).first.evaluate("e => getComputedStyle(e).fontFamily")
    return "mono" in family.lower() or "courier" in family.lower()


def test_labels_are_readable_words(
    page: Page, fake_frontend: FakeFrontend, tmp_path: Path, test_output_dir: Path
) -> None:
    register(page, fake_frontend.url)
    classify(page, a_photo(tmp_path))
    bars = page.locator("#top5 meter")
    shown = [bars.nth(i).get_attribute("aria-label") for i in range(bars.count())]
    assert shown == [label.replace("_", " ") for label, _ in TOP5]  # "tiger cat", "Egyptian cat"
    headline = page.locator("#answer")
    assert headline.inner_text().strip() == "tabby · 61%"
    assert not is_monospace(page, "#answer strong")
    assert not is_monospace(page, "#top5 meter")
    page.get_by_label("Wrong").check()
    page.get_by_label("Right label").press_sequentially("egypt")
    page.get_by_role("option", name="Egyptian cat", exact=True).wait_for()
    page.screenshot(path=test_output_dir / "frontend-readable-labels.png", full_page=True)
    assert "_" not in page.locator("#top5").inner_text()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("fake.jpg", b"\xff\xd8\xff\xe0 this is not a JPEG", "File is not a valid image."),
    ],
)
def test_a_file_that_is_not_a_photo_gets_the_apps_message(
    page: Page,
    fake_frontend: FakeFrontend,
    tmp_path: Path,
    test_output_dir: Path,
    name: str,
    content: bytes,
    message: str,
) -> None:
    register(page, fake_frontend.url)
    path = tmp_path / name
    path.write_bytes(content)
    upload(page, path)
    page.get_by_text(message).wait_for()
    page.screenshot(path=test_output_dir / f"frontend-upload-{name}.png", full_page=True)
    assert page.locator(".toast-body").count() == 0  # no Gradio toast
    assert page.get_by_text("Error", exact=True).count() == 0  # no red Error pill
    expect(page.locator("#upload img")).to_have_count(0)  # the box is emptied: no broken-image frame
    assert page.locator("img:not([src])").count() == 0
    broken = page.evaluate("[...document.images].filter(i => i.complete && i.naturalWidth === 0).length")
    assert broken == 0


def test_a_file_that_is_not_an_image_is_refused_by_the_box(
    page: Page, fake_frontend: FakeFrontend, tmp_path: Path, test_output_dir: Path
) -> None:
    """The one image box takes images only (issue 22 item 3): another file is refused in the browser, by
    name, before a byte is sent; files that claim to be images are the gateway's to judge (above)."""
    register(page, fake_frontend.url)
    stored = len(fake_frontend.state.images)
    path = tmp_path / "notes.txt"
    path.write_bytes(b"just some text")
    upload(page, path)
    page.get_by_text("Invalid file type: notes.txt").wait_for()
    page.screenshot(path=test_output_dir / "frontend-upload-notes.txt.png", full_page=True)
    assert len(fake_frontend.state.images) == stored  # never sent
    expect(page.locator("#upload img")).to_have_count(0)
    expect(page.locator("#top5 meter")).to_have_count(0)


def test_the_choose_hint_goes_once_chosen(
    page: Page, fake_frontend: FakeFrontend, tmp_path: Path, test_output_dir: Path
) -> None:
    register(page, fake_frontend.url)
    classify(page, a_photo(tmp_path))
    page.get_by_role("button", name="Send feedback").click()
    hint = page.get_by_text("Choose whether the top label is correct or wrong.")
    hint.wait_for()
    page.get_by_label("Correct").check()
    expect(hint).to_be_hidden()
    page.screenshot(path=test_output_dir / "frontend-hint-cleared.png", full_page=True)
    page.get_by_role("button", name="Send feedback").click()
    thanks = page.get_by_text("Thank you, your feedback is saved.")
    thanks.wait_for()
    page.wait_for_timeout(1000)  # the form's reset must not take the thanks away
    expect(thanks).to_be_visible()
    expect(page.get_by_label("Correct")).not_to_be_checked()
    page.screenshot(path=test_output_dir / "frontend-feedback-sent.png", full_page=True)


def test_sign_out_then_a_new_user_starts_on_classify(
    page: Page, fake_frontend: FakeFrontend, test_output_dir: Path
) -> None:
    page.goto(fake_frontend.url)
    hint = page.locator("#demo-login")
    expect(hint).to_contain_text("sign in as admin@example.com with the password admin")
    page.screenshot(path=test_output_dir / "frontend-sign-in-demo-login.png", full_page=True)

    register(page, fake_frontend.url, "Ada")
    page.get_by_role("tab", name="My feedback").click()
    page.get_by_text("No feedback yet.").wait_for()  # the empty list says what to do
    page.screenshot(path=test_output_dir / "frontend-my-feedback-empty.png", full_page=True)
    page.get_by_role("button", name="Sign out").click()
    signed_out = page.get_by_text("You are signed out.")
    signed_out.wait_for()
    colour = signed_out.evaluate("e => getComputedStyle(e).color")
    error_colour = page.evaluate(
        """() => { const p = document.createElement('p'); const d = document.createElement('div');
        d.className = 'status-error'; d.appendChild(p); document.body.appendChild(d);
        const c = getComputedStyle(p).color; d.remove(); return c; }"""
    )
    assert colour != error_colour
    page.screenshot(path=test_output_dir / "frontend-signed-out.png", full_page=True)

    expect(page.get_by_role("tab", name="Sign in")).to_have_attribute("aria-selected", "true")
    page.get_by_role("tab", name="Register").click()
    expect(page.get_by_label("Name")).to_have_value("")  # nothing of Ada's is left in the forms
    page.get_by_label("Name").fill("Bea")
    page.get_by_label("Email").filter(visible=True).fill(f"bea-{uuid.uuid4().hex[:6]}@example.com")
    page.get_by_label("Password").filter(visible=True).fill("pw-12345")
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("Signed in as Bea").wait_for()
    expect(page.get_by_role("tab", name="Classify")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#upload")).to_be_visible()
    page.screenshot(path=test_output_dir / "frontend-new-user-on-classify.png", full_page=True)


def test_my_feedback_thumbnail_and_long_text_wraps(
    page: Page, fake_frontend: FakeFrontend, tmp_path: Path, test_output_dir: Path
) -> None:
    register(page, fake_frontend.url)
    classify(page, a_photo(tmp_path))
    page.get_by_label("Correct").check()
    long_comment = (
        "a very long comment that goes on " * 12 + "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3
    )
    page.get_by_label("Comment (optional)").fill(long_comment)
    page.get_by_role("button", name="Send feedback").click()
    page.get_by_text("Thank you, your feedback is saved.").wait_for()
    page.get_by_role("tab", name="My feedback").click()
    table = page.locator("#my-feedback table")
    table.wait_for()
    thumb = table.locator("img.thumb").first
    expect(thumb).to_be_visible()
    assert thumb.evaluate("i => i.naturalWidth") > 0
    assert ".png" not in table.inner_text()  # no MD5 file name
    page.screenshot(path=test_output_dir / "frontend-my-feedback.png", full_page=True)
    cell = table.locator("td.feedback").first
    assert cell.evaluate("c => c.scrollWidth <= c.clientWidth + 1")  # wrapped, not cut at the edge
    box = cell.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 1280
    assert box["height"] > 60  # several lines
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280


def test_history_pages_reopens_and_takes_feedback(
    page: Page, fake_frontend: FakeFrontend, tmp_path: Path, test_output_dir: Path
) -> None:
    email = register(page, fake_frontend.url, "Hugo")
    classify(page, a_photo(tmp_path, "first.png", (20, 160, 60)))
    # 22 more, straight into the fake gateway's store: older than the first, to fill a second page
    state, start = fake_frontend.state, datetime.now(UTC) - timedelta(days=1)
    template = next(p for p in state.predictions if p["owner"] == email)
    for i in range(22):
        name = f"old-{uuid.uuid4().hex}.png"
        state.images[name] = a_photo(tmp_path, name, (i * 10, 40, 200 - i * 5)).read_bytes()
        state.predictions.insert(
            0,
            {
                **template,
                "prediction_id": 10_000 + i,
                "image_file_name": name,
                "original_file_name": f"old-{i}.png",
                "created_at": (start - timedelta(minutes=i)).isoformat(),
            },
        )
    page.get_by_role("tab", name="History").click()
    info = page.locator("#history-info")
    expect(info).to_contain_text("Predictions 1–20 of 23, newest first.")
    thumbs = page.locator("#history-gallery img")
    expect(thumbs).to_have_count(20)
    page.get_by_role("button", name="Older").click()
    expect(info).to_contain_text("Predictions 21–23 of 23")
    expect(thumbs).to_have_count(3)
    expect(page.get_by_role("button", name="Older")).to_be_disabled()
    page.get_by_role("button", name="Newer").click()
    expect(info).to_contain_text("Predictions 1–20 of 23")

    expect(page.get_by_role("button", name="Newer")).to_be_disabled()
    page.screenshot(path=test_output_dir / "frontend-history.png", full_page=True)
    thumbs.first.click()  # the newest: first.png
    expect(page.get_by_role("tab", name="Classify")).to_have_attribute("aria-selected", "true")
    page.get_by_text("from your history").wait_for()
    expect(page.get_by_text("first.png")).to_be_visible()
    photo = page.locator("#upload img")  # the past photo, in the one image box
    expect(photo).to_be_visible()
    assert photo.evaluate("i => i.naturalWidth") == 160
    page.get_by_label("Correct").check()
    page.get_by_label("Comment (optional)").fill("reopened from history")
    page.wait_for_timeout(500)  # let the verdict's event settle before the picture
    page.screenshot(path=test_output_dir / "frontend-history-reopened.png", full_page=True)
    page.get_by_role("button", name="Send feedback").click()
    page.get_by_text("Thank you, your feedback is saved.").wait_for()
    (row,) = state.feedback[email]
    assert row["prediction_id"] == template["prediction_id"]
    assert (row["verdict"], row["correct_label"], row["feedback"]) == (
        "correct",
        None,
        "reopened from history",
    )


def test_an_example_classifies_and_removing_the_file_clears(
    page: Page, fake_frontend: FakeFrontend, test_output_dir: Path
) -> None:
    register(page, fake_frontend.url)
    before = len(fake_frontend.state.predictions)
    page.locator("img[src*='chelsea']").first.click()  # a thumbnail, not a file-name chip
    page.get_by_text("Model fake version 3").wait_for()
    page.wait_for_timeout(1000)
    assert len(fake_frontend.state.predictions) == before + 1  # classified once
    expect(page.locator("#upload img")).to_be_visible()
    page.screenshot(path=test_output_dir / "frontend-example-classified.png", full_page=True)
    page.locator("#upload").get_by_role("button", name="Remove Image").click()
    expect(page.get_by_text("Model fake version 3")).to_be_hidden()
    expect(page.locator("#upload img")).to_have_count(0)
    expect(page.locator(".toast-body")).to_have_count(0)  # an empty box is no error


def test_signing_in_again_after_expiry_keeps_the_page(
    page: Page, fake_frontend: FakeFrontend, tmp_path: Path, test_output_dir: Path
) -> None:
    email = register(page, fake_frontend.url, "Eve")
    classify(page, a_photo(tmp_path, "kept.png"))
    page.get_by_label("Comment (optional)").fill("typed before it expired")
    fake_frontend.state.expire_all_tokens()
    page.get_by_role("tab", name="My feedback").click()
    page.get_by_text("Your session has expired. Please sign in again.").wait_for()
    page.screenshot(path=test_output_dir / "frontend-session-expired.png", full_page=True)
    page.get_by_label("Email").filter(visible=True).fill(email)
    page.get_by_label("Password").filter(visible=True).fill("pw-12345")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as Eve").wait_for()
    page.get_by_role("tab", name="Classify").click()
    expect(page.get_by_text("Model fake version 3")).to_be_visible()  # the answer shown before
    expect(page.get_by_label("Comment (optional)")).to_have_value("typed before it expired")
    page.screenshot(path=test_output_dir / "frontend-signed-in-again-page-kept.png", full_page=True)
