"""uvicorn's h11 protocol with the deadlines and caps of `Bounds`.

uvicorn gives h11 a buffer limit (`h11_max_incomplete_event_size`) and a keep-alive timeout, but no deadline
for a request's headers or body, no header count and no connection cap. Here:
- the header deadline starts when the connection opens (its first request) or at the first byte of a later
  request, and is not moved by later bytes, so a client trickling one byte a second is cut at the deadline;
- the body deadline starts at the end of the headers and ends with the body (cut at the deadline: the
  application then reads a disconnect);
- beyond the connection cap, a new connection closes the one that has waited longest for a request (busy
  ones are never closed this way), so idle sockets cannot keep other clients out.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol
from uvicorn.server import ServerState

from boundedhttp.bounds import Bounds

TOO_LARGE = 431


@functools.cache
def _connection_cap(bounds: Bounds) -> int:
    return bounds.connection_cap()


def _header_bytes(request: h11.Request) -> int:
    """The request line and headers as sent, give or take whitespace. h11 bounds only what it buffers of an
    incomplete head; a complete one that arrived in a single read (up to 256 KiB) is measured here."""
    line = len(request.method) + len(request.target) + len(b" HTTP/1.1\r\n") + 1
    return line + sum(len(name) + len(value) + 4 for name, value in request.headers.raw_items())


class _Connection(h11.Connection):
    """h11's server side that also counts header fields and reports where the request stands."""

    def __init__(self, bounds: Bounds, on_headers: Callable[[], None], on_end: Callable[[], None]) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=bounds.max_header_bytes)
        self.max_header_bytes = bounds.max_header_bytes
        self.max_headers = bounds.max_headers
        self.on_headers = on_headers
        self.on_end = on_end
        self.error_status = 400

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.error_status = exc.error_status_hint
            raise
        if isinstance(event, h11.Request):
            if len(event.headers) > self.max_headers or _header_bytes(event) > self.max_header_bytes:
                self.error_status = TOO_LARGE
                raise h11.RemoteProtocolError("request headers too large", error_status_hint=TOO_LARGE)
            self.on_headers()
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            self.on_end()
        return event


class BoundedH11Protocol(H11Protocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        bounds: Bounds,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.bounds = bounds
        self.bounded_conn = _Connection(bounds, self._headers_received, self._body_received)
        self.conn = self.bounded_conn
        self.deadline: asyncio.TimerHandle | None = None
        self.idle_since = self.loop.time()

    # --- deadlines ---

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self.deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _headers_received(self) -> None:
        self._arm(self.bounds.body_timeout, self._body_timed_out)

    def _body_received(self) -> None:
        self._disarm()

    def _header_timed_out(self) -> None:
        self.deadline = None
        if not self.is_idle():  # pipelined bytes wait while the previous request is answered
            self._arm(self.bounds.header_timeout, self._header_timed_out)
            return
        self.logger.info(
            "closing a connection: no complete request headers in %gs", self.bounds.header_timeout
        )
        self.close_now()

    def _body_timed_out(self) -> None:
        self.deadline = None
        self.logger.info(
            "closing a connection: the request body took more than %gs", self.bounds.body_timeout
        )
        self.close_now()

    # --- connections ---

    def is_idle(self) -> bool:
        """Waiting for a request (its headers, or the next one): no request is being received or answered."""
        return self.cycle is None or self.cycle.response_complete

    def close_now(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    def _make_room(self) -> None:
        idle = [
            other
            for other in self.connections
            if other is not self and isinstance(other, BoundedH11Protocol) and other.is_idle()
        ]
        victim = min(idle, key=lambda other: other.idle_since, default=self)
        self.logger.info("%d connections open: closing the one idle longest", len(self.connections))
        victim.close_now()

    # --- uvicorn's protocol interface ---

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.idle_since = self.loop.time()
        self._arm(self.bounds.header_timeout, self._header_timed_out)
        if len(self.connections) > _connection_cap(self.bounds):
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.deadline is None and self.conn.their_state in (h11.IDLE, h11.DONE):
            self._arm(self.bounds.header_timeout, self._header_timed_out)  # the first byte of a request
        super().data_received(data)

    def on_response_complete(self) -> None:
        self.idle_since = self.loop.time()
        super().on_response_complete()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()
        super().handle_websocket_upgrade(event)

    def send_400_response(self, msg: str) -> None:
        status = self.bounded_conn.error_status
        if status != TOO_LARGE:
            super().send_400_response(msg)
            return
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
        events: list[h11.Event] = [
            h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status]),
            h11.Data(data=b"Request header fields too large."),
            h11.EndOfMessage(),
        ]
        for event in events:
            output = self.conn.send(event)
            if output:
                self.transport.write(output)
        self.transport.close()
