"""`python -m frontend`: the web page on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (127.0.0.1:7860 by default),
served by uvicorn with boundedhttp's bounds (header size, count and time, body time, connections)."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

import uvicorn

from boundedhttp import uvicorn_kwargs
from frontend.app import create_app
from frontend.assets import load_labels, make_examples
from frontend.config import get_settings
from frontend.gateway_client import GatewayClient

log = logging.getLogger("frontend")


def main(argv: list[str]) -> int:
    if argv:
        print(
            "usage: python -m frontend (settings from the environment: frontend/config.py)", file=sys.stderr
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    labels = load_labels(settings.labels_file)
    examples = make_examples()
    work_dir = Path(tempfile.mkdtemp(prefix="page-", dir=settings.frontend_work_dir))
    # Run in it, with Gradio's files under it by a relative name: the paths Gradio hands the browser
    # (upload answers, file URLs) then name no folder of this machine.
    os.chdir(work_dir)
    os.environ["GRADIO_TEMP_DIR"] = "files"
    log.info("gateway %s; %d labels; %d example photos", settings.gateway_url, len(labels), len(examples))
    client = GatewayClient(settings.gateway_url, settings.gateway_timeout, proxy_secret=settings.proxy_secret)
    app = create_app(settings, client, labels, examples)
    log.info("page on http://%s:%d", settings.gradio_server_name, settings.gradio_server_port)
    uvicorn.run(
        app,
        host=settings.gradio_server_name,
        port=settings.gradio_server_port,
        log_level="warning",
        **uvicorn_kwargs(settings.http_bounds()),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
