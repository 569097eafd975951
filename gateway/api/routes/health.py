import asyncio
import logging

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse

from gateway.api.deps import ClientAddressDep, ServingDep, SettingsDep
from gateway.core import metrics
from gateway.core.db import ensure_database, ping
from gateway.models import ErrorDetail, HealthStatus, ModelVersion, ReadyStatus, RootStatus
from gateway.services.serving_client import ServingError

router = APIRouter(tags=["health"])
DB_CHECK_TIMEOUT_S = 3.0
log = logging.getLogger("gateway.ready")


@router.get("/", response_model=RootStatus)
async def root(settings: SettingsDep) -> RootStatus:
    """The API's health URL of the original project: alive (as `/health`), and where the docs are (null
    when API_DOCS is off; loopback clients only unless it is public)."""
    return RootStatus(status="ok", docs="/docs" if settings.api_docs != "off" else None)


@router.get("/health", response_model=HealthStatus)
async def health() -> HealthStatus:
    """The process is alive (no dependency is checked)."""
    return HealthStatus(status="ok")


@router.get("/ready", response_model=ReadyStatus, responses={503: {"model": ReadyStatus}})
async def ready(request: Request, serving: ServingDep) -> ReadyStatus | JSONResponse:
    """The database answers and a model-server replica reports the model AVAILABLE; else 503 saying which
    part is down. The reasons go to the log, never into the answer (it is public)."""
    database = "ok"
    try:
        await asyncio.wait_for(ensure_database(request.app.state), DB_CHECK_TIMEOUT_S * 4)
        await asyncio.wait_for(ping(request.app.state.engine), DB_CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready"
        log.warning("not ready: database: %s: %s", type(exc).__name__, exc)
        database = "unavailable"
    model = None
    try:
        versions = await serving.available_versions()
        if versions:
            serving_state = "ok"
            model = ModelVersion(name=serving.model_name, version=versions[-1])
        else:
            serving_state = "no available model version"
    except ServingError as exc:
        log.warning("not ready: serving: %s", exc.detail)
        serving_state = "unavailable"
    body = ReadyStatus(
        status="ready" if database == serving_state == "ok" else "not ready",
        database=database,
        serving=serving_state,
        model=model,
    )
    if body.status != "ready":
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    return body


@router.get(
    "/metrics",
    response_model=str,
    response_class=PlainTextResponse,
    responses={401: {"model": ErrorDetail}, 404: {"model": ErrorDetail}},
)
async def prometheus_metrics(request: Request, settings: SettingsDep, client: ClientAddressDep) -> Response:
    """Prometheus text format, for operators only: with METRICS_TOKEN set, to `Authorization: Bearer
    <token>`; without it, to loopback clients only (404 for anyone else). With GATEWAY_METRICS_PORT set the
    metrics are served there instead, and this answers 404."""
    if settings.gateway_metrics_port is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    allowed = metrics.access(settings.metrics_token, request.headers.get("authorization", ""), client)
    if allowed is metrics.Access.UNAUTHORIZED:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Metrics need the operator's token.",
            {"WWW-Authenticate": "Bearer"},
        )
    if allowed is metrics.Access.HIDDEN:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    content, content_type = metrics.render()
    return Response(content, media_type=content_type)
