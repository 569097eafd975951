"""`python -m gateway`: the gateway's one start command. Host, port, workers and the HTTP bounds come from
the settings (gateway/README.md); the demo-secret check judges the address actually bound. This process
also owns the workers' metrics folder and, with GATEWAY_METRICS_PORT, the metrics listener
(gateway/core/metrics_server.py), both set up before uvicorn starts the workers."""

from __future__ import annotations

import sys

import uvicorn

from boundedhttp import uvicorn_kwargs
from gateway.core.config import InsecureSettingsError, check_secrets, get_settings
from gateway.core.metrics_server import MetricsPortError, metrics_listener, multiprocess_dir


def main(argv: list[str]) -> int:
    if argv:
        print("usage: python -m gateway (settings from the environment: gateway/README.md)", file=sys.stderr)
        return 2
    settings = get_settings()
    try:
        check_secrets(settings, settings.gateway_host)
    except InsecureSettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        with multiprocess_dir(settings.gateway_workers), metrics_listener(settings):
            uvicorn.run(
                "gateway.main:app",
                host=settings.gateway_host,
                port=settings.gateway_port,
                workers=settings.gateway_workers,
                log_level=settings.log_level.lower(),
                access_log=False,  # the gateway logs every request itself, with its request id
                timeout_graceful_shutdown=settings.shutdown_grace_seconds,
                **uvicorn_kwargs(settings.http_bounds()),
            )
    except MetricsPortError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
