import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from gateway.api.deps import ServingDep
from gateway.core import metrics
from gateway.core.db import ensure_database, ping
from gateway.models import HealthStatus, ModelInfo, ReadyStatus
from gateway.services.serving_client import ServingError

router = APIRouter(tags=["health"])
DB_CHECK_TIMEOUT_S = 3.0


@router.get("/health", response_model=HealthStatus)
async def health() -> HealthStatus:
    """The process is alive (no dependency is checked)."""
    return HealthStatus(status="ok")


@router.get("/ready", response_model=ReadyStatus, responses={503: {"model": ReadyStatus}})
async def ready(request: Request, serving: ServingDep) -> ReadyStatus | JSONResponse:
    """The database answers and a model-server replica reports the model AVAILABLE; else 503 saying which."""
    database = "ok"
    try:
        await asyncio.wait_for(ensure_database(request.app.state), DB_CHECK_TIMEOUT_S * 4)
        await asyncio.wait_for(ping(request.app.state.engine), DB_CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        database = f"unavailable: {type(exc).__name__}: {exc}"[:300]
    model = None
    try:
        versions = await serving.available_versions()
        if versions:
            serving_state = "ok"
            model = ModelInfo(name=serving.model_name, version=versions[-1])
        else:
            serving_state = f"model '{serving.model_name}' has no AVAILABLE version"
    except ServingError as exc:
        serving_state = f"unavailable: {exc.detail}"
    body = ReadyStatus(
        status="ready" if database == serving_state == "ok" else "not ready",
        database=database,
        serving=serving_state,
        model=model,
    )
    if body.status != "ready":
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    return body


@router.get("/metrics", response_model=str, response_class=PlainTextResponse)
async def prometheus_metrics() -> Response:
    """Prometheus text format."""
    content, content_type = metrics.render()
    return Response(content, media_type=content_type)
