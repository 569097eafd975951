"""The gateway app, served by `python -m gateway` (settings from the environment, see core/config.py)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.api.main import api_router
from gateway.core.config import Settings, check_secrets, demo_secrets_only_on_loopback, get_settings
from gateway.core.db import create_engine, create_sessionmaker, ensure_database, sqlite_path
from gateway.core.logging import setup_logging
from gateway.core.middleware import (
    BodySizeLimitMiddleware,
    DocsGuardMiddleware,
    ForwardedClientMiddleware,
    LoopbackOnlyMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from gateway.core.rate_limit import LimiterUnavailableError, LocalLimiter, retry_after_header
from gateway.core.redis_limit import RedisLimiter
from gateway.services.auth_limits import AuthLimits, TooManyAttemptsError
from gateway.services.grouped_db import EngineStatements, GroupedDatabase, GroupStatements
from gateway.services.grouped_postgres import PostgresStatements
from gateway.services.grouped_sqlite import SqliteStatements
from gateway.services.image_check import ImageChecker, ImageLimits
from gateway.services.predictions import PredictServices
from gateway.services.result_cache import ResultCache
from gateway.services.serving_client import ServingClient, ServingError
from gateway.services.storage import DISK_FULL, UploadRejectedError, UploadStore

log = logging.getLogger("gateway")
MULTIPART_OVERHEAD = 64 * 1024
LIMITER_RETRY_S = 5
# SQLite's SQLITE_FULL and PostgreSQL's disk_full (53100), as the drivers word them.
DISK_FULL_SIGNS = ("database or disk is full", "No space left on device", "DiskFullError")
# What a database that is down, unreachable or overloaded raises (asyncpg's connect errors are OSErrors;
# a stopped compose or k8s database also loses its DNS name: socket.gaierror).
DB_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)
# Wrapped in SQLAlchemy's generic DBAPIError: PostgreSQL refusing connections while it starts or stops
# (SQLSTATE class 57, e.g. 57P03 "the database system is shutting down"), losing one (class 08), or the
# driver's own state error on a connection the server closed mid-operation (seen in the container suite).
POSTGRES_UNAVAILABLE = (
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InternalClientError,
)


def group_statements(database_url: str, engine: AsyncEngine) -> GroupStatements:
    """The predict path's statements on the database's own driver: a SQLite file's, PostgreSQL's; any other
    database (an in-memory SQLite) through the engine."""
    if (sqlite_file := sqlite_path(database_url)) is not None:
        return SqliteStatements(sqlite_file)
    if engine.dialect.driver == "asyncpg":
        return PostgresStatements(engine)
    return EngineStatements(engine)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    settings: Settings = state.settings
    setup_logging(settings.log_level)
    check_secrets(settings, settings.gateway_host)  # refuses to start: the demo secrets on a public address
    state.engine = create_engine(settings)
    state.sessionmaker = create_sessionmaker(state.engine)
    state.grouped_db = GroupedDatabase(group_statements(settings.database_url, state.engine))
    state.db_initialized = False
    state.db_init_lock = asyncio.Lock()
    state.serving = ServingClient(
        settings.serving_target,
        settings.model_name,
        settings.serving_timeout_seconds,
        settings.model_status_ttl_seconds,
    )
    state.uploads = UploadStore(settings.upload_dir)
    state.results = ResultCache(settings.result_cache_entries)
    state.image_checker = ImageChecker(
        ImageLimits(
            max_pixels=settings.max_image_pixels,
            max_frames=settings.max_image_frames,
            memory_bytes=settings.inspect_memory_bytes,
            serving_max_pixels=settings.serving_max_image_pixels,
            serving_max_bytes=settings.serving_max_image_bytes,
        ),
        settings.serving_timeout_seconds,
        settings.inspect_threads,
    )
    state.predict_services = PredictServices(
        settings, state.serving, state.uploads, state.image_checker, state.results, state.grouped_db
    )
    limiter = (
        RedisLimiter(settings.redis_url, settings.redis_key_prefix) if settings.redis_url else LocalLimiter()
    )
    state.auth_limits = AuthLimits(settings, limiter)
    try:
        await ensure_database(state)
    except Exception as exc:  # start anyway: /ready reports it and retries, requests answer 503
        log.error("database not ready at start-up: %s: %s", type(exc).__name__, exc)
    try:
        yield
    finally:
        await state.serving.close()
        await state.auth_limits.close()
        state.image_checker.close()
        await state.grouped_db.close()
        await state.engine.dispose()


async def _serving_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServingError | UploadRejectedError)
    headers = exc.headers if isinstance(exc, UploadRejectedError) else None
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def _too_many_attempts(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TooManyAttemptsError)
    retry = retry_after_header(exc.wait)
    detail = f"Too many attempts. Try again in {retry} seconds."
    return JSONResponse({"detail": detail}, status_code=429, headers={"Retry-After": retry})


async def _limiter_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """Sign-in and registration fail closed while the shared limiter is down; nothing else needs it."""
    log.error("the shared rate limiter (REDIS_URL) is unavailable: %s", exc)
    detail = "Signing in and registering are unavailable right now; try again in a moment."
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(LIMITER_RETRY_S)})


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, minus the submitted values (`input`): they may be a password or a token."""
    assert isinstance(exc, RequestValidationError)
    errors = [{key: value for key, value in error.items() if key != "input"} for error in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    if any(sign in str(exc) for sign in DISK_FULL_SIGNS):
        log.error("database write refused, its disk is full: %s", exc)
        return JSONResponse({"detail": DISK_FULL}, status_code=507)
    log.error("database unavailable: %s: %s", type(exc).__name__, exc)
    return JSONResponse({"detail": "The database is unavailable; try again later."}, status_code=503)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    cause = exc.orig.__cause__ if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else None
    if isinstance(cause, POSTGRES_UNAVAILABLE):
        return await _database_unavailable(request, exc)
    raise exc


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    body_limit = settings.max_upload_bytes + MULTIPART_OVERHEAD

    docs = settings.api_docs != "off"
    app = FastAPI(
        title="Image classifier gateway",
        version="1.0.0",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    if settings.api_docs == "loopback":
        app.add_middleware(DocsGuardMiddleware, paths=("/docs", "/redoc", "/openapi.json"))
    app.add_middleware(
        BodySizeLimitMiddleware, max_body_size=body_limit, upload_limit=settings.max_upload_bytes
    )
    if demo_secrets_only_on_loopback(settings):  # whatever address the server was told to bind
        app.add_middleware(LoopbackOnlyMiddleware)
    if settings.proxy_secret:
        app.add_middleware(ForwardedClientMiddleware, secret=settings.proxy_secret)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)  # added last: outermost
    app.include_router(api_router)
    app.add_exception_handler(ServingError, _serving_error)
    app.add_exception_handler(UploadRejectedError, _serving_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(TooManyAttemptsError, _too_many_attempts)
    app.add_exception_handler(LimiterUnavailableError, _limiter_unavailable)
    for error in DB_UNAVAILABLE:
        app.add_exception_handler(error, _database_unavailable)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    return app


app = create_app()
