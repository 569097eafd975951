"""Plain ASGI middleware: request id (X-Request-ID in and out), access log and latency metrics; the body
limit; the client address a trusted proxy forwards; loopback-only guards; security headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import re
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.net import is_loopback
from gateway.core.logging import REQUEST_ID, request_id_from
from gateway.core.metrics import HTTP_LATENCY
from gateway.core.wording import too_large_file

log = logging.getLogger("gateway.access")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope).get("x-request-id"))
        token = REQUEST_ID.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            HTTP_LATENCY.labels(scope["method"], route, str(status)).observe(elapsed)
            log.info("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed * 1000)
            REQUEST_ID.reset(token)


class BodyTooLargeError(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_file(limit))


class BodySizeLimitMiddleware:
    """Refuse a request body over `max_body_size` with 413: at once when Content-Length says so (nothing
    is read), else as soon as the bytes received pass the limit, so no body is ever buffered unbounded."""

    def __init__(self, app: ASGIApp, max_body_size: int, upload_limit: int) -> None:
        self.app = app
        self.max_body_size = max_body_size
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_size:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_size:
                    raise BodyTooLargeError(self.upload_limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = BodyTooLargeError(self.upload_limit)
        await JSONResponse({"detail": error.detail}, status_code=413)(scope, receive, send)


class DocsGuardMiddleware:
    """The API docs (`paths` and below) for loopback clients only: 404 for anyone else, as if absent."""

    def __init__(self, app: ASGIApp, paths: tuple[str, ...]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.paths):
            client = scope.get("client")
            if not (client and is_loopback(client[0])):
                await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def forwarded_client(x_forwarded_for: str | None) -> str | None:
    """The last address of X-Forwarded-For (the one the trusted proxy itself added), if it is an address."""
    if not x_forwarded_for:
        return None
    last = x_forwarded_for.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return None


class ForwardedClientMiddleware:
    """The one rule for forwarded addresses: a request carrying `X-Proxy-Secret: <PROXY_SECRET>` (compared in
    constant time) comes from a trusted proxy (the page, nginx), and only then is the last address of its
    X-Forwarded-For the client's. Anything else is counted under its own address, loopback or not."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self.secret = secret.encode("latin-1", "replace")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            given = headers.get("x-proxy-secret")
            if given is not None and hmac.compare_digest(given.encode("latin-1"), self.secret):
                client = forwarded_client(headers.get("x-forwarded-for"))
                if client is not None:
                    scope["client"] = (client, 0)
        await self.app(scope, receive, send)


class LoopbackOnlyMiddleware:
    """With the demo secrets, serve only connections that arrived on a loopback address of this machine
    (`scope["server"]`, the socket's own address), however the server was started: `--host ""`, a repeated
    `--host`, `--uds` or gunicorn included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server")
            if not (server and is_loopback(str(server[0]))):
                if not self.warned:
                    self.warned = True
                    log.warning(
                        "refusing requests on %s: SECRET_KEY / ADMIN_PASSWORD are the demo values, which "
                        "serve loopback only (set them, or ALLOW_DEMO_SECRETS=1 for a throw-away demo)",
                        server,
                    )
                detail = "This gateway is not configured to serve this address."
                await JSONResponse({"detail": detail}, status_code=503)(scope, receive, send)
                return
        await self.app(scope, receive, send)


# Answers are JSON (or an image): nothing in them may run, load anything, or be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The API docs (FastAPI's Swagger UI and ReDoc pages) load their code from the CDN FastAPI names; their
# inline scripts are allowed by hash, computed from the page as it is sent.
DOCS_CSP = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net {hashes}; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
INLINE_SCRIPT = re.compile(rb"<script>([\s\S]*?)</script>")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def docs_csp(html: bytes) -> str:
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(html)
    )
    return DOCS_CSP.format(hashes=hashes)


class SecurityHeadersMiddleware:
    """nosniff, no framing (CSP frame-ancestors and X-Frame-Options), no referrer, a CSP on every answer,
    and `Cache-Control: no-store` unless the route chose its own (answers carry tokens and private data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        html = bytearray()

        async def secured_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                headers.setdefault("cache-control", "no-store")
                if not headers.get("content-type", "").startswith("text/html"):
                    headers["content-security-policy"] = API_CSP
                    await send(message)
                    return
                start = message  # an HTML page (the API docs): held until its scripts are known
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            html.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            MutableHeaders(scope=start)["content-security-policy"] = docs_csp(bytes(html))
            await send(start)
            await send({"type": "http.response.body", "body": bytes(html), "more_body": False})

        await self.app(scope, receive, secured_send)
