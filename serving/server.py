"""Run gRPC (grpc.aio) and REST (Starlette on uvicorn) in one asyncio loop; drain on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import uvicorn
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer

from boundedhttp import Bounds, uvicorn_kwargs
from serving.batching import BatchScheduler
from serving.config import ServerConfig
from serving.config_poller import ConfigPoller
from serving.errors import ServingError
from serving.flags import Flags
from serving.grpc_services import add_services
from serving.loader import LoadServable
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.predictor import Predictor
from serving.rest import create_app
from serving.servable import Servable

log = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0
_PREDICTION_SERVICE = "tensorflow.serving.PredictionService"


def grpc_options(flags: Flags) -> list[tuple[str, int | str]]:
    """TF Serving accepts messages up to INT_MAX bytes; here a message is at most --max_request_bytes, refused
    by gRPC (RESOURCE_EXHAUSTED "Received message larger than max") before it is parsed. grpc binds with
    SO_REUSEPORT by default: a second server on a busy port would silently share its traffic instead of
    failing to start. Like TF Serving, refuse a port that is taken. `--grpc_channel_arguments` come last
    (flags.py's defaults end every connection, and any idle call on it, after a maximum age)."""
    return [
        ("grpc.max_receive_message_length", flags.limits.max_request_bytes),
        ("grpc.max_send_message_length", 2**31 - 1),
        ("grpc.so_reuseport", 0),
        *flags.grpc_channel_arguments,
    ]


def rest_bounds(rest_timeout: float) -> Bounds:
    """The REST port's HTTP bounds (boundedhttp/), from its one time flag: headers within the request's time
    (at most 10 s), the body read by the application within it (408), the connection cut 5 s later."""
    return Bounds(header_timeout=min(10.0, rest_timeout), body_timeout=rest_timeout + 5)


class _UvicornServer(uvicorn.Server):
    """uvicorn without its own signal handling: this process drains both servers on SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(flags: Flags, config: ServerConfig, load_servable: LoadServable) -> int:
    loop = asyncio.get_running_loop()
    metrics = Metrics()
    scheduler = BatchScheduler(config.batching, metrics) if config.batching is not None else None

    def unloaded(servable: Servable) -> None:
        metrics.servable_unloaded(servable)
        if scheduler is not None:
            loop.call_soon_threadsafe(scheduler.forget, servable)

    manager = ModelManager(
        config.models,
        flags.models_dir,
        flags.file_system_poll_wait_seconds,
        load_servable,
        warmup_batch_sizes=scheduler.warmup_batch_sizes() if scheduler else (),
        on_unloaded=unloaded,
        on_loaded=metrics.servable_loaded,
        allow_labels_for_unavailable=flags.allow_version_labels_for_unavailable_models,
    )
    metrics.known_models = manager.names_view
    health = HealthServicer()

    def models_changed() -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if manager.any_available()
            else (health_pb2.HealthCheckResponse.NOT_SERVING)
        )
        for service in ("", _PREDICTION_SERVICE):
            asyncio.run_coroutine_threadsafe(health.set(service, status), loop)

    manager.on_change = models_changed
    try:
        await asyncio.to_thread(manager.start)
    except ServingError as error:
        log.error("Failed to start server: %s", error.message)
        return 1
    models_changed()
    poller = None
    if flags.model_config_file is not None and flags.model_config_file_poll_wait_seconds > 0:
        poller = ConfigPoller(manager, flags.model_config_file, flags.model_config_file_poll_wait_seconds)
        poller.start()

    limits = flags.limits
    # Its queue is bounded by the predictor's admission (at most --max_queued_requests tasks).
    request_pool = ThreadPoolExecutor(max_workers=limits.request_threads, thread_name_prefix="request")
    predictor = Predictor(manager, scheduler, metrics, request_pool, limits)

    grpc_server = grpc.aio.server(options=grpc_options(flags))
    add_services(grpc_server, predictor, health)
    try:
        grpc_port = grpc_server.add_insecure_port(f"{flags.grpc_bind_address}:{flags.port}")
    except RuntimeError:
        log.error("Failed to start server: gRPC port %d is already in use (--port)", flags.port)
        manager.stop()
        return 1
    await grpc_server.start()
    log.info("Running gRPC ModelServer at %s:%d ...", flags.grpc_bind_address, grpc_port)

    rest_server: _UvicornServer | None = None
    rest_task: asyncio.Task[None] | None = None
    if flags.rest_api_port > 0:
        rest_timeout = flags.rest_api_timeout_in_ms / 1000
        uvicorn_config = uvicorn.Config(
            create_app(predictor, config.monitoring, limits, rest_timeout),
            host=flags.rest_api_bind_address,
            port=flags.rest_api_port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=DRAIN_SECONDS,  # type: ignore[arg-type]  # uvicorn takes any number
            **uvicorn_kwargs(rest_bounds(rest_timeout)),
        )
        rest_server = _UvicornServer(uvicorn_config)
        rest_socket = uvicorn_config.bind_socket()  # logs and exits if the port is taken
        rest_task = asyncio.create_task(rest_server.serve(sockets=[rest_socket]))
        log.info("Exporting HTTP/REST API at:%s:%d ...", flags.rest_api_bind_address, flags.rest_api_port)

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()

    log.info("Shutting down: draining in-flight requests (up to %.0fs)", DRAIN_SECONDS)
    await health.enter_graceful_shutdown()
    if rest_server is not None:
        rest_server.should_exit = True
    await asyncio.gather(grpc_server.stop(DRAIN_SECONDS), *([rest_task] if rest_task else []))
    if poller is not None:
        poller.stop()
    manager.stop()
    request_pool.shutdown(wait=True)
    if scheduler is not None:
        scheduler.shutdown()
    log.info("Server stopped")
    return 0
