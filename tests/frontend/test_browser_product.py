"""Issue 22 on the page in a real headless Chromium, with a fake gateway: a weak answer reads as "not sure",
History groups repeats of one photo, whole captions. Screenshots go to test-output/."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from contracts.labels import NUM_CLASSES
from frontend.config import UNSURE_BELOW
from tests.frontend.conftest import CHROMIUM, NO_CHROMIUM, FakeFrontend
from tests.frontend.fake_gateway import TOP5
from tests.frontend.test_browser_page import TIMEOUT_MS, a_photo, classify, register

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM),
]

WEAK = [
    ("football_helmet", 0.18),
    ("crash_helmet", 0.12),
    ("space_shuttle", 0.05),
    ("mask", 0.04),
    ("wig", 0.03),
]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    page.close()


@pytest.fixture
def weak_answers(fake_frontend: FakeFrontend) -> Iterator[None]:
    fake_frontend.state.top5 = list(WEAK)
    yield
    fake_frontend.state.top5 = list(TOP5)


def font_size(page: Page, selector: str) -> float:
    return float(page.locator(selector).first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))


def test_a_weak_answer_says_not_sure(
    page: Page, fake_frontend: FakeFrontend, tmp_path: Path, test_output_dir: Path, weak_answers: None
) -> None:
    register(page, fake_frontend.url, "Mae")
    expect(page.locator("#intro")).to_contain_text(f"{NUM_CLASSES:,} ImageNet classes")
    expect(page.locator("#intro")).to_contain_text("no class for people")
    classify(page, a_photo(tmp_path, "astronaut.png", (20, 20, 60)))
    answer = page.locator("#answer")
    expect(answer).to_contain_text("Not sure — maybe football helmet (18%)")
    expect(answer).to_contain_text(f"under {UNSURE_BELOW:.0%}")
    assert "answer-unsure" in (answer.get_attribute("class") or "")
    page.screenshot(path=test_output_dir / "frontend-not-sure.png", full_page=True)
    weak_size = font_size(page, "#answer p")

    fake_frontend.state.top5 = list(TOP5)
    page.reload()  # an empty upload box (the session survives a reload)
    page.get_by_text("Signed in as").wait_for()
    classify(page, a_photo(tmp_path, "cat.png", (200, 120, 40)))
    expect(answer).to_have_text("tabby · 61%")
    assert "answer-sure" in (answer.get_attribute("class") or "")
    assert "Not sure" not in answer.inner_text()
    assert font_size(page, "#answer p") > weak_size  # a headline, the weak one is not
    page.screenshot(path=test_output_dir / "frontend-sure.png", full_page=True)


def test_history_groups_repeats_with_whole_captions(
    page: Page, fake_frontend: FakeFrontend, tmp_path: Path, test_output_dir: Path
) -> None:
    register(page, fake_frontend.url, "Noor")
    cat, cup = a_photo(tmp_path, "cat.png", (200, 120, 40)), a_photo(tmp_path, "cup.png", (30, 60, 200))
    for path in (cat, cup, cat, cat, cat):
        page.reload()  # an empty upload box
        page.get_by_text("Signed in as").wait_for()
        classify(page, path)
    page.get_by_role("tab", name="History").click()
    captions = page.locator("#history-gallery .caption-label")
    expect(captions).to_have_count(2)
    expect(captions.first).to_contain_text("asked 4 times, last ")
    expect(captions.nth(1)).not_to_contain_text("asked")
    expect(page.locator("#history-info")).to_contain_text("Predictions 1–5 of 5 (2 photos")
    for i in range(2):
        whole = captions.nth(i).evaluate(
            "e => e.scrollWidth <= e.clientWidth && e.scrollHeight <= e.clientHeight"
        )
        assert whole, captions.nth(i).inner_text()
        assert "…" not in captions.nth(i).inner_text()
    page.screenshot(path=test_output_dir / "frontend-history-grouped.png", full_page=True)
    page.locator("#history-gallery img").first.click()  # the grouped tile reopens
    expect(page.get_by_role("tab", name="Classify")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#answer")).to_have_text("tabby · 61%")


DROP = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], "dropped.png", {type: "image/png"}));
  const box = document.querySelector("#upload button[aria-label='Drop an image file here to upload']");
  for (const type of ["dragenter", "dragover", "drop"]) {
    box.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
  }
}"""


def test_one_box_takes_a_dropped_photo_and_classifies_it_on_arrival(
    page: Page, fake_frontend: FakeFrontend, tmp_path: Path, test_output_dir: Path
) -> None:
    register(page, fake_frontend.url, "Dru")
    expect(page.get_by_role("button", name="Classify")).to_have_count(0)  # no button that does nothing
    box = page.locator("#upload")
    for source in ("Upload file", "Capture from camera", "Paste from clipboard"):
        expect(box.get_by_role("button", name=source)).to_be_visible()
    expect(page.locator("img[src*='chelsea']")).to_have_count(1)  # examples as thumbnails
    photo = a_photo(tmp_path, "dropped.png", (40, 160, 90))
    page.evaluate(DROP, base64.b64encode(photo.read_bytes()).decode())
    page.get_by_text("Model fake version 3").wait_for()
    assert fake_frontend.state.predictions[-1]["original_file_name"] == "dropped.png"
    expect(box.locator("img")).to_be_visible()  # the photo stays in the one box, beside its answer
    page.screenshot(path=test_output_dir / "frontend-drag-and-drop.png", full_page=True)
    box.get_by_role("button", name="Remove Image").click()
    expect(page.locator("#answer")).to_be_hidden()
    expect(page.locator(".toast-body")).to_have_count(0)  # an emptied box is no error
