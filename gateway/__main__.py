"""`python -m gateway`: the gateway's one start command. Host, port, workers and the HTTP bounds come from
the settings (gateway/README.md); the demo-secret check judges the address actually bound."""

from __future__ import annotations

import sys

import uvicorn

from boundedhttp import uvicorn_kwargs
from gateway.core.config import InsecureSettingsError, check_secrets, get_settings


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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
