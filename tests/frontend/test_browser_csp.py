"""Issue 21 item 18: the live page works in a real Chromium under a strict script-src (no 'unsafe-inline', no
'unsafe-eval'), and the browser blocks nothing on the way: sign-in (wrong password, then right), a photo
classified, feedback sent and listed, History opened, sign-out. Runs against the live stack (model server,
gateway, `python -m frontend`)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.frontend.conftest import CHROMIUM, NO_CHROMIUM, LiveStack
from tests.frontend.test_browser import TIMEOUT_MS, sign_in, upload_and_read_labels

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM),
]

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push({
  directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber,
  sample: e.sample,
}));
"""


COMMENT = "costs ${6*7} {{price}} *now*"


def directives(csp: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}


def violations(page: Page) -> list[dict[str, object]]:
    found: list[dict[str, object]] = page.evaluate("window.__violations")
    return found


def test_the_page_runs_under_a_strict_script_src(
    browser: Browser, live_stack: LiveStack, example_photos: list[Path], test_output_dir: Path
) -> None:
    email, password = f"csp-{uuid.uuid4().hex[:8]}@example.com", "csp-pass-1"
    created = httpx.post(
        f"{live_stack.gateway_url}/user/", json={"name": "Cleo", "email": email, "password": password}
    )
    assert created.status_code == 201, created.text

    served = httpx.get(live_stack.frontend_url, timeout=60)
    csp = directives(served.headers["content-security-policy"])
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    (nonce,) = [s for s in csp["script-src"] if s.startswith("'nonce-")]
    again = directives(httpx.get(live_stack.frontend_url, timeout=60).headers["content-security-policy"])
    assert nonce not in again["script-src"]  # a fresh one per answer

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        page.goto(live_stack.frontend_url)
        page.get_by_label("Email").filter(visible=True).fill(email)
        page.get_by_label("Password").filter(visible=True).fill("wrong-password")
        page.get_by_label("Password").filter(visible=True).press("Enter")  # Enter sends, as the button
        page.get_by_text("Wrong email or password.").wait_for(timeout=TIMEOUT_MS)

        sign_in(page, live_stack.frontend_url, email, password)
        assert len(upload_and_read_labels(page, example_photos[0])) == 5
        # what people type is shown as text, never run: no template (`${}`, `{{}}`) is evaluated
        page.get_by_label("Correct").check()
        page.get_by_label("Comment (optional)").fill(COMMENT)
        page.get_by_role("button", name="Send feedback").click()
        page.get_by_text("Thank you, your feedback is saved.").wait_for(timeout=TIMEOUT_MS)
        page.get_by_role("tab", name="My feedback").click()
        cell = page.locator("#my-feedback td.feedback").first
        cell.wait_for(timeout=TIMEOUT_MS)
        assert cell.inner_text().strip() == f"correct; comment: {COMMENT}"
        page.get_by_role("tab", name="History").click()
        page.locator("#history-info").get_by_text("newest first").wait_for(timeout=TIMEOUT_MS)
        page.screenshot(path=test_output_dir / "frontend-strict-csp.png", full_page=True)
        page.get_by_role("button", name="Sign out").click()
        page.get_by_text("You are signed out.").wait_for(timeout=TIMEOUT_MS)
        assert violations(page) == []

        # the listener and the policy at work: an injected inline script, an inline handler and a string
        # compiled as code (a timer's, run by the page itself, not by this test's evaluate) are refused
        page.evaluate(
            """() => {
              const s = document.createElement("script");
              s.textContent = "window.__ran = 'inline'";
              document.head.appendChild(s);
              const b = document.createElement("button");
              b.setAttribute("onclick", "window.__ran = 'handler'");
              document.body.appendChild(b);
              b.click();
              b.remove();
              setTimeout("window.__ran = 'eval'", 0);
            }"""
        )
        page.wait_for_function("window.__violations.length >= 3")
        assert page.evaluate("window.__ran") is None
        blocked = {(v["directive"], v["blocked"]) for v in violations(page)}
        assert blocked == {
            ("script-src-elem", "inline"),
            ("script-src-attr", "inline"),
            ("script-src", "eval"),
        }
    finally:
        page.close()
