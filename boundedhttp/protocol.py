"""uvicorn's httptools protocol with the deadlines and caps of `Bounds`.

httptools (llhttp, compiled) parses a request for about half the CPU of h11 in pure Python, but it has no
header limits of its own, and uvicorn gives it only a keep-alive timeout. Here:
- a request's head (request line and header fields) is bounded in bytes and in fields: the complete fields
  are counted as httptools reports them, and the bytes of a head still incomplete after a read are counted
  as they arrive, so a header line that never ends is cut too; either over its bound answers 431 and closes;
- the header deadline starts when the connection opens (its first request) or at the first byte of a later
  request, and is not moved by later bytes, so a client trickling one byte a second is cut at the deadline;
- the body deadline starts at the end of the headers and ends with the body (cut at the deadline: the
  application then reads a disconnect);
- beyond the connection cap, a new connection closes the one that has waited longest for a request (busy
  ones are never closed this way), so idle sockets cannot keep other clients out.
It also sends what one step of the loop writes in one send (`_OneSendPerStep`, its rules there): uvicorn
writes an answer's head and its body apart, two syscalls and two TCP segments per answer.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from boundedhttp.bounds import Bounds

TOO_LARGE = 431
TOO_LARGE_BODY = b"Request header fields too large."
FIELD_OVERHEAD = len(b": \r\n")


@functools.cache
def _connection_cap(bounds: Bounds) -> int:
    return bounds.connection_cap()


class _HeadTooLargeError(Exception):
    """Raised in a parser callback: httptools stops and raises HttpParserCallbackError, which uvicorn
    answers through `send_400_response` (431 here)."""


class _Reading:
    """Where the connection's current request stands."""

    IDLE = "idle"  # between requests: the next byte begins one
    HEAD = "head"
    BODY = "body"


class _OneSendPerStep(asyncio.Transport):
    """A transport whose writes within one step of the event loop leave together. Rules:
    1. Held bytes leave at the end of the step, before a close or an end of input, and at once when they
       pass `HOLD_BYTES`: the socket's transport then sees them and pauses the writer as it did (uvicorn
       waits on a paused transport between body chunks).
    2. `direct()` ends the holding for good (a websocket upgrade): later writes go straight through.
    Everything else is the socket's transport's."""

    HOLD_BYTES = 64 * 1024

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.inner = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._direct = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._direct:
            self.inner.write(data)
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))
        self._held_bytes += len(data)
        if self._held_bytes > self.HOLD_BYTES:
            self.flush()

    def flush(self) -> None:
        held, self._held, self._held_bytes = self._held, [], 0
        if held and not self.inner.is_closing():
            self.inner.writelines(held)

    def direct(self) -> None:
        self.flush()
        self._direct = True

    def close(self) -> None:
        self.flush()
        self.inner.close()

    def abort(self) -> None:
        self._held, self._held_bytes = [], 0
        self.inner.abort()

    def write_eof(self) -> None:
        self.flush()
        self.inner.write_eof()

    def can_write_eof(self) -> bool:
        return self.inner.can_write_eof()

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self.inner.pause_reading()

    def resume_reading(self) -> None:
        self.inner.resume_reading()

    def is_reading(self) -> bool:
        return self.inner.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.inner.get_protocol()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.inner.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.inner.get_write_buffer_limits()

    def get_write_buffer_size(self) -> int:
        return self.inner.get_write_buffer_size() + self._held_bytes


class BoundedHttpToolsProtocol(HttpToolsProtocol):
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
        self.reading = _Reading.IDLE
        self.head_bytes = 0  # of the complete fields (and the request line) of the current head
        self.head_fields = 0
        self.arrived_of_head = 0  # bytes of reads that fell wholly inside the current, incomplete head
        self.begun_in_read = 0  # requests that began within the read being parsed
        self.too_large = False
        self.sends: _OneSendPerStep  # the connection's transport, set when it is made
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
            if other is not self and isinstance(other, BoundedHttpToolsProtocol) and other.is_idle()
        ]
        victim = min(idle, key=lambda other: other.idle_since, default=self)
        self.logger.info("%d connections open: closing the one idle longest", len(self.connections))
        victim.close_now()

    # --- the head's bounds ---

    def _count_field(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > self.bounds.max_header_bytes or self.head_fields > self.bounds.max_headers:
            self.too_large = True
            raise _HeadTooLargeError

    def _count_incomplete_head(self, data: bytes, began: str) -> None:
        """After a read that leaves the head incomplete: all of the read is head if it began in this head,
        or began between requests and started one request. A read in which a pipelined request began after
        another is not counted (its bytes are mostly the other's), so the bound may be passed by one read."""
        whole_read_is_head = (began == _Reading.HEAD and self.begun_in_read == 0) or (
            began == _Reading.IDLE and self.begun_in_read == 1
        )
        if whole_read_is_head:
            self.arrived_of_head += len(data)
        if self.arrived_of_head > self.bounds.max_header_bytes:
            self.too_large = True
            self.send_400_response("")

    # --- uvicorn's protocol interface ---

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.sends = _OneSendPerStep(transport, self.loop)
        super().connection_made(self.sends)
        self.idle_since = self.loop.time()
        self._arm(self.bounds.header_timeout, self._header_timed_out)
        if len(self.connections) > _connection_cap(self.bounds):
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        began = self.reading
        if self.deadline is None and began == _Reading.IDLE:
            self._arm(self.bounds.header_timeout, self._header_timed_out)  # the first byte of a request
        self.begun_in_read = 0
        super().data_received(data)
        if self.reading == _Reading.HEAD and not self.transport.is_closing():
            self._count_incomplete_head(data, began)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.reading = _Reading.HEAD
        self.begun_in_read += 1
        self.head_bytes = self.head_fields = self.arrived_of_head = 0

    def on_url(self, url: bytes) -> None:
        self._count_field(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_fields += 1
        self._count_field(len(name) + len(value) + FIELD_OVERHEAD)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.reading = _Reading.BODY
        self._arm(self.bounds.body_timeout, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.reading = _Reading.IDLE
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.idle_since = self.loop.time()
        super().on_response_complete()

    def eof_received(self) -> None:
        """The socket's transport closes itself on an end of input: what this step wrote goes first."""
        self.sends.flush()
        super().eof_received()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        self.sends.direct()  # an earlier pipelined answer goes out first
        super().handle_websocket_upgrade()

    def send_400_response(self, msg: str) -> None:
        if not self.too_large:
            super().send_400_response(msg)
            return
        self._disarm()
        head = b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        self.transport.write(STATUS_LINE[TOO_LARGE] + head % len(TOO_LARGE_BODY) + TOO_LARGE_BODY)
        self.transport.close()
