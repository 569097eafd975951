"""`make run`: serving replicas, gateway and frontend as one foreground stack, kept up once started
(stack/supervise.py); `make stop` from elsewhere."""

from __future__ import annotations

import functools
import json
import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts import demo
from contracts.versions import CANARY, STABLE
from stack.commands import Command, frontend_command, gateway_command, serving_command
from stack.config import StackSettings
from stack.model import ExportFailedError, choose_model
from stack.model_config import run_config
from stack.procs import (
    Service,
    ServiceExitedError,
    ServiceTimeoutError,
    http_ok,
    model_available,
    port_is_free,
    stop_all,
    stop_group,
)
from stack.progress import duration, say, ticking
from stack.supervise import Keeper


@dataclass
class Planned:
    name: str
    command: Command
    ports: dict[int, str]  # port -> the variable that changes it
    ready: Callable[[], bool]
    url: str
    service: Service | None = field(default=None, repr=False)


POLL_SECONDS = 0.5
CONFIG_POLL_SECONDS = 2.0
"""How soon a replica applies what `make canary/promote/rollback` wrote into its model config."""


class PortInUseError(RuntimeError):
    pass


def label_routing(settings: StackSettings) -> dict[str, str]:
    """The gateway's label settings when a canary share is set (the replicas then serve by label)."""
    if settings.canary_percent is None:
        return {}
    return {"STABLE_LABEL": STABLE, "CANARY_LABEL": CANARY, "CANARY_PERCENT": f"{settings.canary_percent:g}"}


def plan(settings: StackSettings, model: str) -> list[Planned]:
    host, bind = settings.host, settings.bind
    proxy_secret = secrets.token_urlsafe(32)  # per run: the page may tell the gateway each browser's address
    planned = []
    for index, (grpc_port, rest_port) in enumerate(settings.replica_ports()):
        rest = f"http://{host}:{rest_port}"
        command = serving_command(
            grpc_port,
            rest_port,
            model_config_file=settings.model_config_file.resolve(),
            config_poll_seconds=CONFIG_POLL_SECONDS,
            # the start-up config labels a version before it has loaded (TF Serving's rule and flag)
            extra_args=["--allow_version_labels_for_unavailable_models"] if label_routing(settings) else [],
            host=bind,
            runtime=settings.serving_runtime,
            precision=settings.precision,
        )
        planned.append(
            Planned(
                name="serving" if settings.replicas == 1 else f"serving-{index + 1}",
                command=command,
                ports={grpc_port: "SERVING_PORT", rest_port: "SERVING_REST_PORT"},
                ready=functools.partial(model_available, rest, model),
                url=f"gRPC {host}:{grpc_port}, REST {rest}/v1/models/{model}",
            )
        )
    gateway_url = f"http://{host}:{settings.gateway_port}"
    planned.append(
        Planned(
            name="gateway",
            command=gateway_command(
                settings.gateway_port,
                host=bind,
                serving_target=",".join(f"{host}:{grpc}" for grpc, _ in settings.replica_ports()),
                model_name=model,
                database_url=settings.database_url,
                upload_dir=settings.var_dir / "uploads",
                proxy_secret=proxy_secret,
                env=label_routing(settings),
            ),
            ports={settings.gateway_port: "GATEWAY_PORT"},
            ready=lambda: http_ok(f"{gateway_url}/ready"),
            url=f"{gateway_url}/docs",
        )
    )
    frontend_url = f"http://{host}:{settings.frontend_port}"
    planned.append(
        Planned(
            name="frontend",
            command=frontend_command(
                settings.frontend_port, gateway_url=gateway_url, host=bind, proxy_secret=proxy_secret
            ),
            ports={settings.frontend_port: "GRADIO_SERVER_PORT"},
            ready=lambda: http_ok(f"{frontend_url}/"),
            url=frontend_url,
        )
    )
    return planned


def start_service(item: Planned, settings: StackSettings) -> Service:
    """Its log is appended to: a restart's output follows the death it explains."""
    return Service(item.command.args, settings.log_dir / f"{item.name}.log", item.command.env, name=item.name)


def keeper(item: Planned, settings: StackSettings) -> Keeper:
    assert item.service is not None
    return Keeper(
        name=item.name,
        start=functools.partial(start_service, item, settings),
        ready=item.ready,
        ready_timeout=settings.ready_timeout,
        service=item.service,
        say=say,
    )


def model_servers(settings: StackSettings, model: str) -> str:
    """Every replica's addresses (one replica: `m, gRPC h:8500, REST http://h:8501/v1/models/m`)."""
    replicas = settings.replica_ports()
    grpc = " and ".join(f"{settings.host}:{port}" for port, _ in replicas)
    rest = " and ".join(f"http://{settings.host}:{port}/v1/models/{model}" for _, port in replicas)
    count = f", {len(replicas)} replicas" if len(replicas) > 1 else ""
    return f"{model}{count}, gRPC {grpc}, REST {rest}"


def check_ports(planned: list[Planned], bind: str) -> None:
    for item in planned:
        for port, variable in item.ports.items():
            if not port_is_free(bind, port):
                raise PortInUseError(
                    f"port {port} ({item.name}) is already in use: stop what uses it (`make stop` if it is "
                    f"an earlier `make run`) or choose another with {variable}=…"
                )


def serving_rest_urls(settings: StackSettings) -> list[str]:
    return [f"http://{settings.host}:{rest}" for _, rest in settings.replica_ports()]


def write_state(settings: StackSettings, services: list[Service]) -> None:
    settings.state_file.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "supervisor": os.getpid(),
        "services": {s.name: s.pid for s in services},
        "serving_rest": serving_rest_urls(settings),  # for `make canary/promote/rollback`
        "canary_percent": settings.canary_percent,
    }
    settings.state_file.write_text(json.dumps(state))


def read_state(settings: StackSettings) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(settings.state_file.read_text())
        return state
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run(settings: StackSettings) -> int:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    supervisor = read_state(settings).get("supervisor")
    if supervisor and _alive(supervisor):
        say("the stack is already running (`make stop` stops it)")
        return 1
    try:
        model = choose_model(settings)
    except ExportFailedError as error:
        say(f"error: {error}")
        return 1
    labelled = settings.canary_percent is not None
    base = (settings.models_dir / model).resolve()
    rollout = run_config(settings.model_config_file, model, base, labelled=labelled)
    if rollout:
        labels = ", ".join(f"{label} -> {version}" for label, version in sorted(rollout.items()))
        say(f"keeping the roll-out in {settings.model_config_file} ({labels}; make promote or make rollback)")
    planned = plan(settings, model)
    try:
        check_ports(planned, settings.bind)
    except PortInUseError as error:
        say(f"error: {error}")
        return 1

    def on_sigterm(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    services: list[Service] = []
    try:
        say(f"starting {', '.join(p.name for p in planned)} (logs: {settings.log_dir}/<name>.log) …")
        for item in planned:  # all at once: serving loads its model while the others import
            item.service = start_service(item, settings)
            services.append(item.service)
            write_state(settings, services)
        started = time.monotonic()
        for item in planned:
            assert item.service is not None
            with ticking(f"  waiting for {item.name}"):
                item.service.wait_ready(item.ready, settings.ready_timeout, item.name)
            say(f"  {item.name:<10} ready in {duration(time.monotonic() - started):<6} {item.url}")
        say("")
        say(f"Open the web page:  http://{settings.host}:{settings.frontend_port}")
        say(f"Gateway API docs:   http://{settings.host}:{settings.gateway_port}/docs")
        say(f"Model server:       {model_servers(settings, model)}")
        say(
            f"Sign in as {demo.ADMIN_EMAIL} / {demo.ADMIN_PASSWORD} (ADMIN_EMAIL / ADMIN_PASSWORD change it)."
        )
        say("Ctrl-C (or `make stop` in another terminal) stops everything.")
        keepers = [keeper(item, settings) for item in planned]
        now = time.monotonic()
        for kept in keepers:
            kept.ready_at = now
        while True:
            now = time.monotonic()
            for index, kept in enumerate(keepers):
                if kept.poll(now):
                    services[index] = kept.service
                    write_state(settings, services)
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        say("\nstopping …")
        return 0
    except (ServiceExitedError, ServiceTimeoutError) as error:
        say(f"error: {error}")
        return 1
    finally:
        # a second Ctrl-C or SIGTERM must not cut the stop short: stop_all escalates to SIGKILL itself
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(services, on_stopped=lambda s: say(f"  stopped {s.name}"))
        settings.state_file.unlink(missing_ok=True)
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def stop(settings: StackSettings) -> int:
    state = read_state(settings)
    supervisor = state.get("supervisor")
    if supervisor and _alive(supervisor):
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.2)
    for pid in state.get("services", {}).values():  # left behind by a supervisor that died
        stop_group(pid)
    settings.state_file.unlink(missing_ok=True)
    say("stopped" if state else "nothing to stop")
    return 0
