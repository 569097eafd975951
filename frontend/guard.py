"""What Gradio serves to anyone, bounded here (issue 21 item 6): its file routes (upload, download, streams)
answer only a signed-in session, an upload is refused by its declared size (all its files together, at most
`max_upload_bytes`) before a byte is stored, one upload carries at most `max_files` files (counted as the
body streams in), and each file stops at `max_file_bytes` (Gradio's own `max_file_size`, also while it
streams). A tab's session hash serves only the person signed in with it
(`frontend.tabs`). Routes the page does not use (run history, proxying other sites,
monitoring) are not served at all."""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontend.sessions import COOKIE, Sessions, SessionsUnavailableError
from frontend.tabs import TabOwners

API = "/gradio_api"
UPLOAD = f"{API}/upload"
SIGNED_IN_ONLY = (UPLOAD, f"{API}/file", f"{API}/stream/", f"{API}/process_recording")
NOT_SERVED = (
    f"{API}/proxy=",
    f"{API}/runs",
    f"{API}/run-history",
    f"{API}/vibe",
    f"{API}/undo-vibe",
    f"{API}/dev/",
    "/monitoring",
    "/login",
    "/logout",
)
STREAMS = (f"{API}/queue/data", f"{API}/heartbeat/")
EVENTS = (f"{API}/queue/join", f"{API}/call/", f"{API}/run/", f"{API}/api/")
EVENT_BODY_BYTES = 1024 * 1024  # inputs name uploaded files by path; the bytes went to /upload
MULTIPART_OVERHEAD = 64 * 1024  # per file: part headers and boundaries around its bytes
AUTH_BODY_BYTES = 8 * 1024


def _starts(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path.startswith(prefix) for prefix in prefixes)


def _boundary(headers: Headers) -> bytes | None:
    content_type = headers.get("content-type", "")
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    return None


class _PartCounter:
    """Counts multipart delimiters as the body streams past; more than `max_files` parts ends the read."""

    def __init__(self, receive: Receive, boundary: bytes, max_files: int) -> None:
        self.receive = receive
        self.delimiter = b"--" + boundary
        self.limit = max_files + 1  # one delimiter before each part, and the closing one
        self.seen = 0
        self.tail = b""
        self.exceeded = False

    async def __call__(self) -> Message:
        if self.exceeded:
            return {"type": "http.disconnect"}
        message = await self.receive()
        if message["type"] == "http.request":
            data = self.tail + message.get("body", b"")
            self.seen += data.count(self.delimiter) - self.tail.count(self.delimiter)
            self.tail = data[-(len(self.delimiter) - 1) :]
            if self.seen > self.limit:
                self.exceeded = True
                return {"type": "http.disconnect"}
        return message


class PageGuard:
    def __init__(self, app: ASGIApp, store: Sessions, max_upload_bytes: int, max_files: int) -> None:
        self.app = app
        self.store = store
        self.tabs = TabOwners(store)
        self.max_upload_bytes = max_upload_bytes
        self.max_files = max_files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if _starts(path, NOT_SERVED):
            await PlainTextResponse("Not found.", 404)(scope, receive, send)
            return
        if path.startswith("/auth/"):
            refusal = self._length_refusal(Headers(scope=scope), AUTH_BODY_BYTES, required=False)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        if _starts(path, STREAMS):
            await self._stream(scope, receive, send)
            return
        if _starts(path, EVENTS) and scope["method"] == "POST":
            await self._event(scope, receive, send)
            return
        if not _starts(path, SIGNED_IN_ONLY):
            await self.app(scope, receive, send)
            return
        if await self._session_id(scope) is None:
            await PlainTextResponse("Sign in first.", 401)(scope, receive, send)
            return
        if path.rstrip("/") == UPLOAD and scope["method"] == "POST":
            await self._upload(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _session_id(self, scope: Scope) -> str | None:
        """The request's page session id if that session is live (None while the store is unreachable)."""
        session_id = HTTPConnection(scope).cookies.get(COOKIE)
        try:
            return session_id if await self.store.get(session_id) is not None else None
        except SessionsUnavailableError:
            return None

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope)
        session_hash = (
            connection.query_params.get("session_hash") or scope["path"].rstrip("/").rsplit("/")[-1]
        )
        session_id = await self._session_id(scope)
        if not await self.tabs.admit(session_hash, session_id):
            await PlainTextResponse("This page belongs to another session.", 403)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _event(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An event names its tab in its JSON body: read it (bounded), check the tab, then hand it on."""
        refusal = self._length_refusal(Headers(scope=scope), EVENT_BODY_BYTES, required=False)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > EVENT_BODY_BYTES:
                await PlainTextResponse("The request is too large.", 413)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        session_hash = payload.get("session_hash") if isinstance(payload, dict) else None
        if isinstance(session_hash, str) and not await self.tabs.admit(
            session_hash, await self._session_id(scope)
        ):
            await PlainTextResponse("This page belongs to another session.", 403)(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _length_refusal(
        self, headers: Headers, limit: int, required: bool, what: str = "The file"
    ) -> PlainTextResponse | None:
        declared = headers.get("content-length")
        if declared is None:
            if required or "chunked" in headers.get("transfer-encoding", "").lower():
                return PlainTextResponse("A Content-Length is required.", 411)
            return None
        if not declared.isascii() or not declared.isdigit():
            return PlainTextResponse("The Content-Length is not a number.", 400)
        if int(declared) > limit:
            return PlainTextResponse(f"{what} is larger than {limit // (1024 * 1024) or 1} MB.", 413)
        return None

    async def _upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        limit = self.max_upload_bytes + self.max_files * MULTIPART_OVERHEAD
        refusal = self._length_refusal(headers, limit, required=True, what="The upload")
        boundary = _boundary(headers)
        if refusal is None and boundary is None:
            refusal = PlainTextResponse("A multipart/form-data body is required.", 400)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        assert boundary is not None
        counter = _PartCounter(receive, boundary, self.max_files)
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if counter.exceeded:
                return  # the app's answer to the cut-off body is replaced below
            started = True
            await send(message)

        try:
            await self.app(scope, counter, guarded_send)
        except Exception:
            if not counter.exceeded:
                raise
        if counter.exceeded and not started:
            too_many = PlainTextResponse(f"At most {self.max_files} file(s) per upload.", 413)
            await too_many(scope, receive, send)
