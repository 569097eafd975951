"""What a REST predict request may hold, each bound taken only once what it bounds exists:

- the body: refused from its Content-Length when that says more than `--max_request_bytes` (nothing is
  read), and while it arrives as soon as it passes the limit; its bytes are held in `--max_queued_bytes`
  as they arrive (a client that declares 11 MiB and sends one byte holds one byte);
- time: the body must arrive, and the answer be ready, within `--rest_api_timeout_in_ms` of the request's
  arrival (408 for a body still coming, 504 for an answer);
- a processing slot (`--max_concurrent_rest_requests`) is taken only once the body is complete, so idle or
  slow bodies never keep other callers (or the status URL) out.
Headers, idle connections and their number are bounded by the HTTP server itself (boundedhttp/).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from starlette.requests import Request

from serving.errors import unavailable


class BodyTooLargeError(Exception):
    pass


class BodyTimeoutError(Exception):
    pass


def check_declared_length(request: Request, limit: int) -> None:
    """BodyTooLargeError when the Content-Length says more than `limit` (nothing is read then)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise BodyTooLargeError


async def read_body(request: Request, limit: int, hold: Callable[[int], None], deadline: float) -> bytes:
    """The body, each chunk held (`hold`) as it arrives; BodyTooLargeError past `limit` (whatever the
    Content-Length said), BodyTimeoutError when it is not complete by `deadline` (the loop's clock)."""
    chunks: list[bytes] = []
    total = 0
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise BodyTooLargeError
                hold(len(chunk))
                chunks.append(chunk)
    except TimeoutError as error:
        raise BodyTimeoutError from error
    return b"".join(chunks)


class ProcessingSlots:
    """At most `limit` REST predict requests with a complete body are processed at once; the next gets
    503 at once instead of queueing."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    @contextmanager
    def taken(self) -> Iterator[None]:
        if self.active >= self.limit:
            raise unavailable(
                f"the server is busy: {self.active} REST requests are being served; the limit is "
                f"{self.limit} (--max_concurrent_rest_requests)"
            )
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
