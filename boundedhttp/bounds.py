"""The numbers that bound one server process, and the uvicorn settings that apply them."""

from __future__ import annotations

import functools
import resource
from dataclasses import dataclass
from typing import Any

# File descriptors a process keeps for itself beyond its connections (database, gRPC, logs, uploads).
FD_RESERVE = 64


@dataclass(frozen=True)
class Bounds:
    max_header_bytes: int = 16 * 1024
    """Request line plus headers; larger get 431 and the connection is closed."""
    max_headers: int = 100
    """Header fields per request; more get 431."""
    header_timeout: float = 10.0
    """Seconds from a request's first byte (or from the connection's opening) to the end of its headers."""
    body_timeout: float = 60.0
    """Seconds from the end of the headers to the end of the body; then the connection is closed."""
    keep_alive_timeout: float = 5.0
    """Seconds an idle connection is kept between requests."""
    max_connections: int = 1000
    """Open connections per process (lowered to the file-descriptor limit less FD_RESERVE). A connection
    beyond it closes the one that has waited longest for a request, or is itself closed when all are busy."""

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "max_headers", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("header_timeout", "body_timeout", "keep_alive_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be more than 0")

    def connection_cap(self) -> int:
        """max_connections, but never so many that accepting one more would run out of descriptors."""
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, soft - FD_RESERVE))


def uvicorn_kwargs(bounds: Bounds) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config`.

    - httptools through BoundedHttpToolsProtocol, which adds the header bounds httptools lacks; the bounds
      travel in a partial, which pickles into the worker processes uvicorn spawns.
    - `limit_concurrency` stays off: uvicorn counts open connections in it and answers 503 to every request
      beyond, so idle sockets would turn health checks away. The connection cap evicts idle ones instead.
    - `proxy_headers` off: a client's forwarded address is trusted only on the application's own terms
      (PROXY_SECRET), never for being on loopback (uvicorn's default).
    """
    from boundedhttp.protocol import BoundedHttpToolsProtocol  # uvicorn is imported only by servers

    return {
        "http": functools.partial(BoundedHttpToolsProtocol, bounds=bounds),
        "timeout_keep_alive": bounds.keep_alive_timeout,
        "limit_concurrency": None,
        "proxy_headers": False,
    }
