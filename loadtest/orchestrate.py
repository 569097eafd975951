"""What `make bench` runs, in order, against processes it starts on 127.0.0.1 and stops at the end.

a. the model in this process (and TensorFlow's, the reference, when another runtime runs it);
b. the model server over gRPC, batching off then on, and the gRPC floor (an echo of the same request);
c. the gateway on distinct pictures (its cache cannot answer), d. on a few pictures asked again and again,
   and the HTTP floor (a bare endpoint taking the same upload).
Every row records the CPU each process spent per request (loadtest.measure).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import model_repository
from loadtest import gateway_load, grpc_load, h2load, inprocess, wrk
from loadtest.cpu import CpuReader, of_group
from loadtest.floor_http import PATH as PREDICT_PATH
from loadtest.images import jpeg_pool, run_nonce
from loadtest.loadgen import run_load
from loadtest.machine import describe, one_line
from loadtest.measure import GATEWAY, GRPC_FLOOR, HTTP_FLOOR, SERVER, python_load, tool_load
from loadtest.plan import FULL, QUICK, Plan
from loadtest.report import costs, ratios
from loadtest.testbed import Testbed, bench_model, model_note
from loadtest.tools import ToolRun
from serving.config import read_batching_parameters
from serving.engines import TENSORFLOW, EngineSpec
from stack.commands import BATCHING_CONFIG
from stack.procs import REPO_ROOT

Say = Callable[[str], None]
GRPC_CLIENT = "grpc.aio (pre-serialised requests)"
WRK_SCRIPT = "loadtest/wrk_uploads.lua"
HTTP_PYTHON_CLIENT = "httpx (one client per worker)"
WRK_POOL_MARGIN = 1.5  # distinct pictures for c: b's rate x the time x this, so none is sent twice
MAX_WRK_POOL = 12_000


@dataclass(frozen=True, kw_only=True)
class Options:
    quick: bool
    serving_only: bool
    model: str | None
    models_dir: Path
    model_base_path: Path | None
    runtime: str
    precision: str | None
    gateway_workers: int
    client: str  # auto | wrk | python
    email: str
    password: str
    command_line: str


@dataclass(frozen=True)
class Clients:
    """The load generators: wrk for the HTTP rows and h2load for the gRPC rows where they can be had."""

    wrk: str | None = None
    h2load: str | None = None
    notes: tuple[str, ...] = ()

    def describe(self) -> dict[str, str]:
        return {
            "http": f"{wrk.version(self.wrk)} ({WRK_SCRIPT})" if self.wrk else HTTP_PYTHON_CLIENT,
            "grpc": f"{h2load.version(self.h2load)} (one pre-built gRPC message)"
            if self.h2load
            else GRPC_CLIENT,
        }


def choose_clients(choice: str, say: Say) -> Clients:
    if choice == "python":
        return Clients(notes=("The Python clients were asked for (--client python).",))
    found = {"wrk": wrk.find(say), "h2load": h2load.find(say)}
    hints = {"wrk": wrk.INSTALL_HINT, "h2load": h2load.INSTALL_HINT}
    missing = [name for name, path in found.items() if path is None]
    if missing and choice == "compiled":
        raise SystemExit(
            f"--client compiled: not installed: {', '.join(f'{m} ({hints[m]})' for m in missing)}"
        )
    notes = tuple(
        f"{name} was not found and could not be installed ({hints[name]}): the Python client ran "
        "in its place."
        for name in missing
    )
    return Clients(found["wrk"], found["h2load"], notes)


def _in_process(
    version_dir: Path,
    spec: EngineSpec,
    batch_sizes: tuple[int, ...],
    plan: Plan,
    nonce: int,
    say: Say,
) -> dict[str, Any]:
    say(f"a. the model in this process ({spec.runtime} {spec.precision}) …")
    images = jpeg_pool(max(batch_sizes) * 4, nonce)
    # laid out as the batching server (b, c) loads it: one OpenVINO stream per batch thread
    streams = read_batching_parameters(BATCHING_CONFIG).num_batch_threads
    found = {
        "a_in_process": inprocess.measure(
            inprocess.classifier(version_dir, spec, streams),
            images,
            batch_sizes,
            plan.inprocess_seconds,
            say,
        )
    }
    if spec != TENSORFLOW:
        best = found["a_in_process"]["best_batch_size"]
        say(f"a'. TensorFlow in this process, batch {best}, for the ratio to the reference …")
        reference = inprocess.classifier(version_dir, TENSORFLOW)
        found["a_tensorflow"] = inprocess.measure(reference, images, (best,), plan.inprocess_seconds, say)
    return found


@dataclass(frozen=True)
class GrpcLoad:
    """One gRPC row: where, how long, at most how many calls, which processes to watch."""

    target: str
    model_name: str
    components: dict[str, CpuReader]
    max_requests: int
    seconds: float
    warmup_requests: int


async def _python_grpc_row(load: GrpcLoad, plan: Plan, nonce: int) -> dict[str, Any]:
    pool = jpeg_pool(min(load.max_requests, plan.model_requests), nonce)
    requests = [grpc_load.predict_request(load.model_name, image) for image in pool]
    warmups = [
        grpc_load.predict_request(load.model_name, image)
        for image in jpeg_pool(plan.warmup_requests, nonce + 1)
    ]
    async with grpc_load.channel(load.target) as channel:
        return await python_load(
            grpc_load.predict_call(channel, warmups),
            grpc_load.predict_call(channel, requests),
            load.components,
            concurrency=plan.concurrency,
            warmup_requests=load.warmup_requests,
            max_requests=load.max_requests,
            seconds=load.seconds,
            client=GRPC_CLIENT,
        )


def _grpc_row(load: GrpcLoad, plan: Plan, nonce: int, clients: Clients, workdir: Path) -> dict[str, Any]:
    if clients.h2load is None:
        return asyncio.run(_python_grpc_row(load, plan, nonce))
    tool = clients.h2load
    request = grpc_load.predict_request(load.model_name, jpeg_pool(1, nonce)[0])
    body = h2load.write_body(workdir / "predict.grpc", request)
    expected = h2load.FRAME_HEADER + asyncio.run(grpc_load.answer_size(load.target, request))

    def run(seconds: float) -> Callable[[], ToolRun]:
        return lambda: h2load.run(
            tool,
            load.target,
            body,
            expected_answer_bytes=expected,
            connections=plan.concurrency,
            seconds=seconds,
        )

    return tool_load(run(plan.warmup_seconds), run(load.seconds), load.components, client="h2load")


@dataclass(frozen=True)
class HttpLoad:
    """One HTTP row: where, which pictures, what the answer's `cached` must be, which processes to watch."""

    url: str
    warmup: list[bytes]
    measured: list[bytes]
    expect_cached: bool | None
    components: dict[str, CpuReader]
    max_requests: int
    seconds: float


async def _python_http_row(load: HttpLoad, token: str, plan: Plan) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        # One keep-alive connection per worker, as 16 separate clients would have.
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=load.url, timeout=60))
            for _ in range(plan.concurrency)
        ]
        return await python_load(
            gateway_load.predict_call(clients, token, load.warmup, load.expect_cached),
            gateway_load.predict_call(clients, token, load.measured, load.expect_cached),
            load.components,
            concurrency=plan.concurrency,
            warmup_requests=plan.warmup_requests,
            max_requests=load.max_requests,
            seconds=load.seconds,
            client=HTTP_PYTHON_CLIENT,
        )


def _http_row(load: HttpLoad, token: str, plan: Plan, clients: Clients, workdir: Path) -> dict[str, Any]:
    if clients.wrk is None:
        return asyncio.run(_python_http_row(load, token, plan))
    tool = clients.wrk
    expect = "any" if load.expect_cached is None else str(load.expect_cached).lower()
    warmup_dir = wrk.write_bodies(workdir / "warmup", load.warmup, token)
    measured_dir = wrk.write_bodies(workdir / "measured", load.measured, token)

    def run(directory: Path, seconds: float) -> Callable[[], ToolRun]:
        return lambda: wrk.run(
            tool,
            load.url,
            PREDICT_PATH,
            directory,
            expect=expect,
            connections=plan.concurrency,
            seconds=seconds,
        )

    return tool_load(
        run(warmup_dir, plan.warmup_seconds), run(measured_dir, load.seconds), load.components, client="wrk"
    )


async def _prime(url: str, token: str, bodies: list[bytes]) -> None:
    """The first answer for each picture comes from the model and fills the gateway's cache."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        call = gateway_load.predict_call([client], token, bodies, None)
        await run_load(call, concurrency=1, max_requests=len(bodies), time_cap=120)


def _gateway_rows(
    testbed: Testbed, options: Options, plan: Plan, nonce: int, clients: Clients, b_rps: float, say: Say
) -> dict[str, Any]:
    url = testbed.start_gateway(testbed.replicas, workers=options.gateway_workers)
    assert testbed.gateway is not None
    server, gateway = of_group(testbed.replicas[0].service.pid), of_group(testbed.gateway.pid)
    token = asyncio.run(gateway_load.sign_in(url, options.email, options.password))
    work = testbed.workdir / "bodies"
    found: dict[str, Any] = {}

    # wrk has no request cap: enough distinct pictures that none repeats within the time (b bounds c's rate)
    distinct = plan.model_requests
    if clients.wrk is not None:
        distinct = min(
            MAX_WRK_POOL, max(plan.model_requests, math.ceil(b_rps * plan.model_seconds * WRK_POOL_MARGIN))
        )
    say(f"c. gateway, {plan.concurrency} clients, distinct pictures ({distinct} prepared) …")
    found["c_gateway_uncached"] = _http_row(
        HttpLoad(
            url,
            gateway_load.upload_bodies(plan.warmup_requests, nonce + 2, "warmup"),
            gateway_load.upload_bodies(distinct, nonce + 3, "new"),
            False,
            {SERVER: server, GATEWAY: gateway},
            plan.model_requests,
            plan.model_seconds,
        ),
        token,
        plan,
        clients,
        work / "c",
    )
    _say_row(say, found["c_gateway_uncached"])

    say(f"d. gateway, {plan.concurrency} clients, {plan.cached_pool} pictures asked again and again …")
    repeated = gateway_load.upload_bodies(plan.cached_pool, nonce + 4, "repeated")
    asyncio.run(_prime(url, token, repeated))
    found["d_gateway_cached"] = _http_row(
        HttpLoad(
            url,
            repeated,
            repeated,
            True,
            {SERVER: server, GATEWAY: gateway},
            plan.cached_requests,
            plan.cached_seconds,
        ),
        token,
        plan,
        clients,
        work / "d",
    )
    _say_row(say, found["d_gateway_cached"])

    floor = testbed.start_http_floor()
    say(f"HTTP floor: {plan.concurrency} clients, the same uploads to a bare endpoint …")
    found["floor_http"] = _http_row(
        HttpLoad(
            testbed.http_floor_url,
            gateway_load.upload_bodies(plan.warmup_requests, nonce + 5, "warmup"),
            gateway_load.upload_bodies(256, nonce + 6, "floor"),
            False,
            {HTTP_FLOOR: of_group(floor.pid)},
            plan.cached_requests,
            plan.cached_seconds,
        ),
        token,
        plan,
        clients,
        work / "floor",
    )
    _say_row(say, found["floor_http"])
    testbed.stop_service(floor)
    return found


def _say_row(say: Say, figures: dict[str, Any]) -> None:
    cpu = ", ".join(f"{name} {ms:.2f}" for name, ms in figures["cpu_ms_per_request"].items())
    say(
        f"  {figures['throughput_rps']:.2f} req/s, p50 {figures['p50_ms']:.1f} ms, "
        f"errors {figures['errors']}; CPU ms per request: {cpu}"
    )


def run(options: Options, started: dt.datetime, say: Say) -> dict[str, Any]:
    plan = QUICK if options.quick else FULL
    model = options.model or ("tiny" if options.quick else "resnet50")
    kind = "bench-serving" if options.serving_only else "bench"
    machine = describe()
    say(f"{kind}: {one_line(machine)}")
    clients = choose_clients(options.client, say)
    model_base = options.model_base_path or bench_model(model, options.models_dir, say)
    version_dir = model_repository.resolve_version_dir(model_base)
    if options.model_base_path:
        say(f"model: {model_base.name} v{version_dir.name} — {model_note(model_base.name)}")
    nonce = run_nonce()
    batch_sizes = (1, 8) if options.serving_only else plan.batch_sizes

    spec = inprocess.resolve_engine(version_dir, options.runtime, options.precision, say)
    runtime, precision = spec.runtime, spec.precision
    measurements = _in_process(version_dir, spec, batch_sizes, plan, nonce, say)

    serving_args = [f"--runtime={runtime}"] + ([f"--precision={precision}"] if runtime == "openvino" else [])
    workdir = REPO_ROOT / "var" / kind / started.strftime("%Y%m%d-%H%M%S")
    with Testbed(workdir, model_base, say, serving_args) as testbed:
        for batching in (False, True):
            word = "on" if batching else "off"
            replicas = testbed.start_serving(1, batching=batching)
            say(f"b. serving over gRPC, {plan.concurrency} clients, batching {word} …")
            load = GrpcLoad(
                replicas[0].grpc_target,
                model_base.name,
                {SERVER: of_group(replicas[0].service.pid)},
                plan.model_requests,
                plan.model_seconds,
                plan.warmup_requests,
            )
            figures = _grpc_row(load, plan, nonce + 10, clients, workdir / f"grpc-{word}")
            measurements[f"b_serving_batching_{word}"] = figures
            _say_row(say, figures)
            if not batching:
                testbed.stop_serving(replicas)
        floor = testbed.start_grpc_floor()
        say(f"gRPC floor: {plan.concurrency} clients, the same PredictRequests to an echo server …")
        load = GrpcLoad(
            testbed.grpc_floor_target,
            model_base.name,
            {GRPC_FLOOR: of_group(floor.pid)},
            plan.cached_requests,
            plan.cached_seconds,
            plan.warmup_requests * 4,
        )
        measurements["floor_grpc"] = _grpc_row(load, plan, nonce + 11, clients, workdir / "grpc-floor")
        _say_row(say, measurements["floor_grpc"])
        testbed.stop_service(floor)
        if not options.serving_only:
            b_rps = measurements["b_serving_batching_on"]["throughput_rps"]
            measurements.update(_gateway_rows(testbed, options, plan, nonce + 20, clients, b_rps, say))

    notes = [
        "Throughput counts successful answers per second over the measured window (after a warmup); one",
        "picture per request, so req/s and images/s compare directly. CPU per request is read from /proc",
        "for each process (user + system, every thread and worker), so other work on the machine changes",
        "it little; the load generator runs on the same cores as the servers.",
    ]
    notes += clients.notes
    errors = sum(v.get("errors", 0) for v in measurements.values())
    if errors:
        notes.append(f"{errors} requests failed; see error_samples in the JSON.")
    return {
        "kind": kind,
        "title": "make bench-serving" if options.serving_only else "make bench",
        "date": started.isoformat(timespec="seconds"),
        "command": options.command_line,
        "quick": options.quick,
        "machine": {**machine, "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
        "runtime": {"asked": options.runtime, "runtime": runtime, "precision": precision},
        "model": {
            "name": model_base.name,
            "version": int(version_dir.name),
            "path": str(model_base),
            "note": model_note(model_base.name),
        },
        "clients": clients.describe(),
        "settings": {
            "concurrency": plan.concurrency,
            "gateway_workers": options.gateway_workers,
            "batch_sizes": list(batch_sizes),
            "request_timeout_s": 60,
            "target": "127.0.0.1 only",
            "plan": plan.to_json(),
        },
        "measurements": measurements,
        "ratios": ratios(measurements, options.serving_only),
        "costs": costs(measurements),
        "notes": notes,
    }
