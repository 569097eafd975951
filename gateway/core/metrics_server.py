"""The metrics port (GATEWAY_METRICS_PORT): `python -m gateway`'s parent process serves /metrics on a
listener of its own, next to the uvicorn workers, so a scraper never needs the API port and the API port
never shows metrics. It handles no API request itself: with several workers it serves what they wrote to
PROMETHEUS_MULTIPROC_DIR, merged (a folder the parent empties, or makes, before the workers start); with
one worker, in the same process, that worker's own registry. Same HTTP bounds as the API port, same
METRICS_TOKEN rule."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from boundedhttp import uvicorn_kwargs
from gateway.core import metrics
from gateway.core.config import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

Scope = dict[str, Any]


class MetricsPortError(RuntimeError):
    pass


class MetricsApp:
    """A bare ASGI app: `GET /metrics` (and HEAD) under `metrics.access`; everything else 404. The client
    is the socket's peer: nothing forwards to this port."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        status, headers, body = 404, [(b"content-type", b"text/plain; charset=utf-8")], b"Not Found\n"
        if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            client = scope["client"][0] if scope.get("client") else None
            allowed = metrics.access(self.token, authorization, client)
            if allowed is metrics.Access.UNAUTHORIZED:
                status, body = 401, b"Metrics need the operator's token.\n"
                headers.append((b"www-authenticate", b"Bearer"))
            elif allowed is metrics.Access.ALLOWED:
                content, content_type = await asyncio.to_thread(metrics.render)
                status, headers, body = 200, [(b"content-type", content_type.encode())], content
        elif scope["path"] == "/metrics":
            status, body = 405, b"Method Not Allowed\n"
            headers.append((b"allow", b"GET, HEAD"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


@contextmanager
def multiprocess_dir(workers: int) -> Iterator[None]:
    """Several workers need one folder for their metric files, empty when they start (prometheus-client's
    rule; a restarted k8s container keeps its emptyDir). A given folder is emptied of metric files; without
    one, a temporary folder is made for this run and removed after it."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink(missing_ok=True)
        yield
        return
    if workers == 1:
        yield
        return
    made = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ[MULTIPROC_ENV] = made  # inherited by the workers uvicorn spawns
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(made, ignore_errors=True)


@contextmanager
def metrics_listener(settings: Settings) -> Iterator[None]:
    """Serve /metrics on GATEWAY_METRICS_PORT (nothing when it is unset) while the block runs."""
    if settings.gateway_metrics_port is None:
        yield
        return
    config = uvicorn.Config(
        MetricsApp(settings.metrics_token),
        host=settings.gateway_host,
        port=settings.gateway_metrics_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="off",
        **uvicorn_kwargs(settings.http_bounds()),
    )
    server = uvicorn.Server(config)
    # a thread of its own (uvicorn leaves the signals to the main thread's server or supervisor)
    thread = threading.Thread(target=_serve, args=(server,), name="gateway-metrics", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        server.should_exit = True
        raise MetricsPortError(
            f"could not serve metrics on {settings.gateway_host}:{settings.gateway_metrics_port} "
            "(GATEWAY_METRICS_PORT): see the log above"
        )
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)


def _serve(server: uvicorn.Server) -> None:
    with contextlib.suppress(SystemExit):  # uvicorn's answer to a port it could not bind (logged)
        server.run()
