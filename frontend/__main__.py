"""`python -m frontend`: the web page on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (127.0.0.1:7860 by default)."""

from __future__ import annotations

import logging

import gradio as gr

from frontend.assets import load_labels, make_examples
from frontend.config import get_settings
from frontend.gateway_client import GatewayClient
from frontend.style import CSS
from frontend.ui import build_demo

log = logging.getLogger("frontend")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    labels = load_labels(settings.labels_file)
    examples = make_examples()
    log.info("gateway %s; %d labels; %d example photos", settings.gateway_url, len(labels), len(examples))
    client = GatewayClient(settings.gateway_url, settings.gateway_timeout)
    demo = build_demo(client, labels, examples, demo_login=settings.show_demo_login())
    demo.queue(default_concurrency_limit=settings.frontend_concurrency)
    demo.launch(theme=gr.themes.Soft(), css=CSS, max_file_size=f"{settings.frontend_max_file_mb}mb")


if __name__ == "__main__":
    main()
