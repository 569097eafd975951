"""The page as an ASGI app: Gradio mounted in FastAPI, behind the session and upload guard and the security
headers, with the same-origin sign-in routes beside it. `python -m frontend` runs it under uvicorn with
boundedhttp's bounds, as the gateway runs."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from fastapi import FastAPI, Response

from frontend import scripts
from frontend.auth import auth_router
from frontend.config import Settings
from frontend.gateway_client import GatewayClient
from frontend.guard import PageGuard
from frontend.headers import SecurityHeadersMiddleware
from frontend.images import ImageFiles
from frontend.sessions import RedisSessionStore, Sessions, SessionStore
from frontend.style import CSS
from frontend.ui import build_demo


def create_app(
    settings: Settings,
    client: GatewayClient,
    labels: list[str],
    examples: list[Path],
    files: ImageFiles | None = None,
) -> FastAPI:
    max_seconds = settings.session_max_minutes * 60
    store: Sessions = (
        RedisSessionStore(settings.redis_url, settings.session_redis_prefix, max_seconds)
        if settings.redis_url
        else SessionStore(max_seconds, settings.max_sessions)
    )
    demo = build_demo(
        client,
        labels,
        examples,
        store,
        demo_login=settings.show_demo_login(),
        files=files,
        unsure_below=settings.unsure_below,
        max_files=settings.frontend_max_files,
    )
    age = settings.frontend_cache_seconds
    demo.delete_cache = (max(1, min(60, age // 10)), age)
    demo.queue(default_concurrency_limit=settings.frontend_concurrency)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(auth_router(client, store, settings))

    @app.get(scripts.SCRIPT_PATH, include_in_schema=False)
    def page_script() -> Response:
        return Response(scripts.SCRIPT, media_type="text/javascript", headers={"cache-control": "no-cache"})

    gr.mount_gradio_app(
        app,
        demo,
        path="/",
        server_name=settings.gradio_server_name,
        server_port=settings.gradio_server_port,
        footer_links=[],  # no API page, settings or run history for people to find
        run_history=False,  # Gradio would keep every call's inputs in the browser's localStorage
        max_file_size=settings.max_file_bytes(),
        theme=gr.themes.Soft(),
        css=CSS,
        head=f'<script src="{scripts.SCRIPT_PATH.lstrip("/")}"></script>',  # relative, as the page's routes
    )
    app.add_middleware(
        PageGuard,
        store=store,
        max_upload_bytes=settings.max_upload_bytes(),
        max_files=settings.frontend_max_files,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.state.sessions = store
    return app
