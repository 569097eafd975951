"""Security headers on every answer of the page (issue 21 item 18), with a strict script-src.

Scripts: only this origin's files and the inline scripts of the HTML page itself, which carry a fresh nonce
on each answer. Gradio's page has four inline scripts (its config, its API description, its mode and its
iframe helper); their text changes per request (the config names the root URL the request came by), so
hashes computed at start-up would not match: `_add_nonce` gives every `<script>` tag of the served HTML a
nonce instead, and only real tags, never text inside a script that looks like one. No 'unsafe-inline'
(a script injected into the page does not run) and no 'unsafe-eval'. Gradio evaluates code from strings in
two places the page used, and it uses neither now: `js=` event code (run through `new Function`), replaced
by `frontend.scripts`, a file of this origin that binds sign-in and sign-out itself; and every value of a
gr.HTML (a Handlebars template, then `new Function` on it as a JavaScript template literal), replaced by
gr.Markdown for the page's own HTML (`frontend.ui.html_block`). tests/frontend/test_browser_csp.py walks
the page in Chromium under this policy and asserts that nothing was blocked.

Styles keep 'unsafe-inline', which nonces cannot replace: Gradio's HTML has `style` attributes (on `<html>`
and `<gradio-app>`), its Svelte components write more (sizes, the layout of columns), and its scripts add
the theme and the page's CSS as `<style>` elements without a nonce. With `style-src 'self'`, Chromium
reported, while signing in, classifying and signing out: `style-src-attr` 'inline' from the page (lines 11,
138, 144) and from assets/index-*.js, and `style-src-elem` 'inline' from the page's `<style>` and from
assets/index-*.js and assets/Index-*.js (Gradio 6.31). A style runs no code, so scripts stay strict.

Everything else is this origin only: nothing is loaded from elsewhere, nothing is sent elsewhere, and no
other site may frame the page.
"""

from __future__ import annotations

import re
import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OTHER_DIRECTIVES = (
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(self), microphone=(), geolocation=()",
}
MAX_HTML_BYTES = 8 * 1024 * 1024  # Gradio's page is ~0.3 MB; larger HTML passes through without a nonce

_SCRIPT_OPEN = re.compile(rb"<script(?=[\s>/])", re.IGNORECASE)
_SCRIPT_CLOSE = re.compile(rb"</script(?=[\s>/])", re.IGNORECASE)


def page_csp(nonce: str | None = None) -> str:
    scripts = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    return f"default-src 'self'; script-src {scripts}; {OTHER_DIRECTIVES}"


def _add_nonce(html: bytes, nonce: str) -> bytes:
    """Every `<script` tag of the document gets the nonce; a script's own text (Gradio's config may hold
    "<script" in a string) is skipped, as the browser skips it, up to its `</script`."""
    out: list[bytes] = []
    at = 0
    attribute = f' nonce="{nonce}"'.encode()
    while (found := _SCRIPT_OPEN.search(html, at)) is not None:
        end_of_tag = html.find(b">", found.end())
        if end_of_tag < 0:
            break
        out += [html[at : found.end()], attribute, html[found.end() : end_of_tag + 1]]
        closed = _SCRIPT_CLOSE.search(html, end_of_tag + 1)
        at = end_of_tag + 1 if closed is None else closed.start()
        if closed is not None:
            out.append(html[end_of_tag + 1 : at])
    out.append(html[at:])
    return b"".join(out)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []
        nonce: str | None = None

        async def send_with_headers(message: Message) -> None:
            nonlocal start, nonce
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                html = headers.get("content-type", "").startswith("text/html")
                if html and "content-encoding" not in headers:
                    nonce = secrets.token_urlsafe(18)
                    start = message  # held until the whole page is here, to add the nonces
                    return
                headers["content-security-policy"] = page_csp()
                await send(message)
                return
            if start is None or nonce is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False) and sum(map(len, body)) <= MAX_HTML_BYTES:
                return
            await self._send_page(start, body, nonce, bool(message.get("more_body", False)), send)
            start = None

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    async def _send_page(start: Message, body: list[bytes], nonce: str, more: bool, send: Send) -> None:
        headers = MutableHeaders(scope=start)
        if more:  # too large to hold: sent as it is, and so no inline script of it runs
            headers["content-security-policy"] = page_csp()
            await send(start)
            await send({"type": "http.response.body", "body": b"".join(body), "more_body": True})
            return
        html = _add_nonce(b"".join(body), nonce)
        headers["content-security-policy"] = page_csp(nonce)
        if html:  # (an answer to HEAD has no body and keeps the length of the page)
            headers["content-length"] = str(len(html))
        await send(start)
        await send({"type": "http.response.body", "body": html})
