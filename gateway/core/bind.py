"""The address this gateway process listens on, as uvicorn was told (`--host`, `UVICORN_HOST`)."""

from __future__ import annotations

import os
import sys

from contracts.net import is_loopback

__all__ = ["bind_host", "is_loopback"]

UVICORN_DEFAULT_HOST = "127.0.0.1"


def _argv_host(argv: list[str]) -> str | None:
    for index, arg in enumerate(argv):
        if arg == "--host" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--host="):
            return arg.split("=", 1)[1]
    return None


def bind_host(argv: list[str] | None = None) -> str | None:
    """The host uvicorn binds when this process is `uvicorn …` (its default is loopback); None in-process
    (tests, or an embedding program that did not go through uvicorn's command line)."""
    argv = sys.argv if argv is None else argv
    if not argv or "uvicorn" not in argv[0]:  # `uvicorn …` or `python -m uvicorn …` (…/uvicorn/__main__.py)
        return os.environ.get("UVICORN_HOST")
    return _argv_host(argv) or os.environ.get("UVICORN_HOST") or UVICORN_DEFAULT_HOST
