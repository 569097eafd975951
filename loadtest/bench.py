"""`make bench` and `make bench-serving`: how close each layer gets to the model's own speed, in one run.

a. the SavedModel's `serving_default` called in this process on pre-encoded JPEGs, at several batch sizes;
   the best is the ceiling of this runtime on this machine;
b. the model server over gRPC from 16 concurrent clients, server-side batching on and off;
c. the gateway end to end (sign-in token, multipart upload, storage, gRPC, database) on distinct pictures,
   so its cache cannot answer;
d. the gateway on a few pictures asked again and again (its cache answers);
and the ratios b/a, c/a, c/b, d/c. Every load is closed-loop (see loadtest.loadgen), bounded in count and
time, against processes this command starts on 127.0.0.1 and stops at the end.
`--serving-only` (`make bench-serving`) measures a at batch 1 and 8, and b, only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx

import model_repository
from contracts import demo
from contracts import model as contract
from loadtest import inprocess, payloads
from loadtest.images import jpeg_pool, run_nonce
from loadtest.loadgen import Call, current_worker, run_load
from loadtest.machine import CpuMeter, describe, one_line
from loadtest.testbed import BENCH_MODELS_DIR, Testbed, bench_model, model_note
from serving.engines import TENSORFLOW
from serving.precisions import PRECISIONS, RUNTIMES
from stack.procs import REPO_ROOT

REPORTS_DIR = REPO_ROOT / "loadtest" / "reports"
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
TARGETS = {"c/a": 0.85, "d/c": 20.0}


@dataclass(frozen=True)
class Plan:
    """How much load each measurement gets."""

    batch_sizes: tuple[int, ...]
    inprocess_seconds: float
    concurrency: int
    model_requests: int  # cap for b and c (the model's path)
    model_seconds: float
    cached_requests: int  # cap for d
    cached_seconds: float
    warmup_requests: int
    cached_pool: int = 8


FULL = Plan((1, 4, 8, 16), 10.0, 16, 2000, 30.0, 30000, 15.0, 48)
QUICK = Plan((1, 8), 2.0, 16, 48, 10.0, 400, 5.0, 16)


def say(line: str) -> None:
    print(line, flush=True)


# b. Serving over gRPC ------------------------------------------------------------------------------------


def predict_request(model_name: str, image: bytes) -> bytes:
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = contract.SIGNATURE
    tensor = request.inputs[contract.INPUT]
    tensor.dtype = types_pb2.DT_STRING
    tensor.tensor_shape.dim.add(size=1)
    tensor.string_val.append(image)
    serialized: bytes = request.SerializeToString()
    return serialized


async def measure_grpc(
    target: str, model_name: str, plan: Plan, nonce: int, watch: dict[str, int]
) -> dict[str, Any]:
    from tensorflow_serving.apis import predict_pb2

    requests = [predict_request(model_name, image) for image in jpeg_pool(plan.model_requests, nonce)]
    warmups = [predict_request(model_name, image) for image in jpeg_pool(plan.warmup_requests, nonce + 1)]
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        # Serialised once above; the channel sends the bytes as they are.
        predict = channel.unary_unary(
            PREDICT_METHOD,
            request_serializer=None,
            response_deserializer=predict_pb2.PredictResponse.FromString,
        )

        def call_with(pool: list[bytes]) -> Call:
            async def call(index: int) -> None:
                response = await predict(pool[index % len(pool)], timeout=60)
                shape = [dim.size for dim in response.outputs["scores"].tensor_shape.dim]
                if len(shape) != 2 or shape[0] != 1 or shape[1] < 1:
                    raise ValueError(f"unexpected scores shape {shape} in the answer")

            return call

        return await _measure(
            call_with(warmups),
            call_with(requests),
            plan.concurrency,
            plan.warmup_requests,
            plan.model_requests,
            plan.model_seconds,
            watch,
        )


# c, d. The gateway ---------------------------------------------------------------------------------------


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await client.post(
        "/login", content=payloads.login_form(email, password), headers={"Content-Type": payloads.FORM_TYPE}
    )
    response.raise_for_status()
    return {
        "Authorization": f"Bearer {response.json()['access_token']}",
        "Content-Type": payloads.MULTIPART_TYPE,
    }


def _gateway_call(
    clients: list[httpx.AsyncClient], headers: dict[str, str], bodies: list[bytes], expect_cached: bool | None
) -> Call:
    async def call(index: int) -> None:
        client = clients[current_worker() % len(clients)]
        response = await client.post("/model/predict", content=bodies[index % len(bodies)], headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        answer = response.json()
        if expect_cached is not None and answer.get("cached") is not expect_cached:
            raise RuntimeError(f"expected cached={expect_cached}, got {answer.get('cached')!r}")

    return call


async def measure_gateway(
    url: str, plan: Plan, nonce: int, email: str, password: str, watch: dict[str, int]
) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        # One keep-alive connection per worker, as 16 separate clients would have.
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=60))
            for _ in range(plan.concurrency)
        ]
        headers = await _sign_in(clients[0], email, password)

        def bodies(count: int, seed: int, name: str) -> list[bytes]:
            return [
                payloads.multipart_file(image, f"{name}-{i}.jpg")
                for i, image in enumerate(jpeg_pool(count, seed))
            ]

        say("  c. gateway, distinct pictures …")
        uncached = await _measure(
            _gateway_call(clients, headers, bodies(plan.warmup_requests, nonce + 2, "warmup"), False),
            _gateway_call(clients, headers, bodies(plan.model_requests, nonce + 3, "new"), False),
            plan.concurrency,
            plan.warmup_requests,
            plan.model_requests,
            plan.model_seconds,
            watch,
        )
        say("  d. gateway, repeated pictures …")
        repeated = bodies(plan.cached_pool, nonce + 4, "repeated")
        # Priming: the first answer for each picture comes from the model and fills the cache.
        await run_load(
            _gateway_call(clients, headers, repeated, None),
            concurrency=plan.cached_pool,
            max_requests=plan.cached_pool,
            time_cap=120,
        )
        cached = await _measure(
            _gateway_call(clients, headers, repeated, True),
            _gateway_call(clients, headers, repeated, True),
            plan.concurrency,
            plan.warmup_requests * 4,
            plan.cached_requests,
            plan.cached_seconds,
            watch,
        )
    return {"uncached": uncached, "cached": cached}


async def _measure(
    warmup: Call,
    measured: Call,
    concurrency: int,
    warmup_requests: int,
    max_requests: int,
    seconds: float,
    watch: dict[str, int],
) -> dict[str, Any]:
    await run_load(warmup, concurrency=concurrency, max_requests=warmup_requests, time_cap=seconds)
    meter = CpuMeter(watch)
    meter.start()
    load = await run_load(measured, concurrency=concurrency, max_requests=max_requests, time_cap=seconds)
    result: dict[str, Any] = load.summary()
    result.update(meter.stop(len(load.latencies_ms) + load.errors))
    result.update(
        max_requests=max_requests,
        time_cap_s=seconds,
        warmup_requests=warmup_requests,
        load_average_1m=round(os.getloadavg()[0], 2),
    )
    return result


# Report --------------------------------------------------------------------------------------------------


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 4) if denominator > 0 else 0.0


def _row(label: str, figures: dict[str, Any]) -> str:
    return (
        f"| {label} | {figures['throughput_rps']:.2f} req/s | {figures['p50_ms']:.1f} | "
        f"{figures['p95_ms']:.1f} | {figures['p99_ms']:.1f} | {figures['ok']} | {figures['errors']} |"
    )


def _cpu_cell(figures: dict[str, Any], name: str) -> str:
    if name not in figures["cpu_ms_per_request"]:
        return "–"
    return f"{figures['cpu_ms_per_request'][name]:.1f} ms ({figures['cores_busy'][name]:.2f} cores)"


def markdown(report: dict[str, Any]) -> str:
    m = report["measurements"]
    a = m["a_in_process"]
    c_ = report["settings"]["concurrency"]
    lines = [
        f"{report['title']} — {report['date']}",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {one_line(report['machine'])}  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in report["machine"]["versions"].items()) + "  ",
        f"Model: {report['model']['name']} v{report['model']['version']} — {report['model']['note']}  ",
        f"Runtime: {report['runtime']['runtime']} {report['runtime']['precision']} "
        f"(asked: {report['runtime']['asked']})",
        "",
        "| measurement | throughput | p50 ms | p95 ms | p99 ms | ok | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, value in a["by_batch_size"].items():
        best = " (best)" if int(size) == a["best_batch_size"] else ""
        lines.append(
            f"| a. in process, batch {size}, {a['callers']} callers{best} | {value:.2f} img/s | | | | | |"
        )
    if "a_tensorflow" in m:
        reference = m["a_tensorflow"]
        lines.append(
            f"| a'. TensorFlow in process, batch {reference['best_batch_size']} (reference) | "
            f"{reference['images_per_s']:.2f} img/s | | | | | |"
        )
    lines.append(_row(f"b. serving gRPC, {c_} clients, batching on", m["b_serving_batching_on"]))
    lines.append(_row(f"b. serving gRPC, {c_} clients, batching off", m["b_serving_batching_off"]))
    if "c_gateway_uncached" in m:
        lines.append(_row(f"c. gateway, {c_} clients, distinct pictures", m["c_gateway_uncached"]))
        lines.append(_row(f"d. gateway, {c_} clients, cached pictures", m["d_gateway_cached"]))
    lines += [
        "",
        "Where the CPU went during each measurement (ms of CPU per request; cores busy on average):",
        "",
        "| measurement | serving | gateway | load generator | load average |",
        "|---|---|---|---|---|",
    ]
    for key, figures in m.items():
        if "cpu_ms_per_request" in figures:
            cells = [_cpu_cell(figures, name) for name in ("serving", "gateway", "load generator")]
            lines.append(f"| {key} | {' | '.join(cells)} | {figures['load_average_1m']} |")
    lines += ["", "| ratio | value | target |", "|---|---|---|"]
    for name, value in report["ratios"].items():
        target = TARGETS.get(name)
        verdict = "" if target is None else f"≥ {target:g} {'met' if value >= target else 'NOT met'}"
        lines.append(f"| {name} | {value:.3f} | {verdict} |")
    lines += ["", *report["notes"]]
    return "\n".join(lines) + "\n"


def ratios(m: dict[str, Any], serving_only: bool) -> dict[str, float]:
    b_on = m["b_serving_batching_on"]["throughput_rps"]
    b_off = m["b_serving_batching_off"]["throughput_rps"]
    if serving_only:
        by_size = m["a_in_process"]["by_batch_size"]
        return {
            "b_on/a_batch8": ratio(b_on, by_size.get("8", 0.0)),
            "b_off/a_batch1": ratio(b_off, by_size.get("1", 0.0)),
            "b_on/b_off": ratio(b_on, b_off),
        }
    a = m["a_in_process"]["images_per_s"]
    c = m["c_gateway_uncached"]["throughput_rps"]
    d = m["d_gateway_cached"]["throughput_rps"]
    figures = {
        "b/a": ratio(b_on, a),
        "c/a": ratio(c, a),
        "c/b": ratio(c, b_on),
        "d/c": ratio(d, c),
        "b_off/a": ratio(b_off, a),
        "b_on/b_off": ratio(b_on, b_off),
    }
    if "a_tensorflow" in m:  # this runtime against the reference, both in process, same batch, same run
        figures["a/a_tensorflow"] = ratio(a, m["a_tensorflow"]["images_per_s"])
        figures["c/a_tensorflow"] = ratio(c, m["a_tensorflow"]["images_per_s"])
    return figures


# Main ----------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, started: dt.datetime) -> dict[str, Any]:
    plan = QUICK if args.quick else FULL
    model = args.model or ("tiny" if args.quick else "resnet50")
    stamp = started.strftime("%Y%m%d-%H%M%S")
    kind = "bench-serving" if args.serving_only else "bench"
    machine = describe()
    say(f"{kind}: {one_line(machine)}")
    model_base = args.model_base_path or bench_model(model, args.models_dir, say)
    version_dir = model_repository.resolve_version_dir(model_base)
    if args.model_base_path:
        say(f"model: {model_base.name} v{version_dir.name} — {model_note(model_base.name)}")
    nonce = run_nonce()
    batch_sizes = (1, 8) if args.serving_only else plan.batch_sizes
    measurements: dict[str, Any] = {}

    spec = inprocess.resolve_engine(version_dir, args.runtime, args.precision, say)
    runtime, precision = spec.runtime, spec.precision
    say(f"a. the model in this process ({runtime} {precision}) …")
    images = jpeg_pool(max(batch_sizes) * 4, nonce)
    measurements["a_in_process"] = inprocess.measure(
        inprocess.classifier(version_dir, spec), images, batch_sizes, plan.inprocess_seconds, say
    )
    if runtime != "tensorflow":
        best = measurements["a_in_process"]["best_batch_size"]
        say(f"a'. TensorFlow in this process, batch {best}, for the ratio to the reference …")
        reference = inprocess.classifier(version_dir, TENSORFLOW)
        measurements["a_tensorflow"] = inprocess.measure(
            reference, images, (best,), plan.inprocess_seconds, say
        )

    serving_args = [f"--runtime={runtime}"] + ([f"--precision={precision}"] if runtime == "openvino" else [])
    with Testbed(REPO_ROOT / "var" / kind / stamp, model_base, say, serving_args) as testbed:
        for batching in (False, True):
            word = "on" if batching else "off"
            replicas = testbed.start_serving(1, batching=batching)
            say(f"b. serving over gRPC, {plan.concurrency} clients, batching {word} …")
            watch = {"serving": replicas[0].service.proc.pid}
            figures = asyncio.run(
                measure_grpc(replicas[0].grpc_target, model_base.name, plan, nonce + 10, watch)
            )
            measurements[f"b_serving_batching_{word}"] = figures
            say(
                f"  {figures['throughput_rps']:.2f} req/s, p50 {figures['p50_ms']:.0f} ms, "
                f"errors {figures['errors']}"
            )
            if not batching:
                testbed.stop_serving(replicas)
        if not args.serving_only:
            url = testbed.start_gateway(testbed.replicas, workers=args.gateway_workers)
            assert testbed.gateway is not None
            watch = {"serving": testbed.replicas[0].service.proc.pid, "gateway": testbed.gateway.proc.pid}
            gateway = asyncio.run(measure_gateway(url, plan, nonce + 20, args.email, args.password, watch))
            measurements["c_gateway_uncached"] = gateway["uncached"]
            measurements["d_gateway_cached"] = gateway["cached"]

    report = {
        "kind": kind,
        "title": "make bench-serving" if args.serving_only else "make bench",
        "date": started.isoformat(timespec="seconds"),
        "command": args.command_line,
        "quick": args.quick,
        "machine": {**machine, "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
        "runtime": {"asked": args.runtime, "runtime": runtime, "precision": precision},
        "model": {
            "name": model_base.name,
            "version": int(version_dir.name),
            "path": str(model_base),
            "note": model_note(model_base.name),
        },
        "settings": {
            "concurrency": plan.concurrency,
            "gateway_workers": args.gateway_workers,
            "batch_sizes": list(batch_sizes),
            "request_timeout_s": 60,
            "target": "127.0.0.1 only",
            "plan": plan.__dict__,
        },
        "measurements": measurements,
        "ratios": ratios(measurements, args.serving_only),
        "targets": {} if args.serving_only else TARGETS,
        "notes": [
            "Throughput counts successful answers per second over the measured window (after a warmup);",
            "one picture per request, so req/s and images/s compare directly. The load generator runs on",
            "the same cores as the servers.",
        ],
    }
    errors = sum(v.get("errors", 0) for v in measurements.values())
    if errors:
        report["notes"].append(f"{errors} requests failed; see error_samples in the JSON.")
    return report


def write(report: dict[str, Any], reports_dir: Path, stamp: str) -> tuple[Path, Path]:
    reports_dir.mkdir(parents=True, exist_ok=True)
    json_path = reports_dir / f"{report['kind']}-{stamp}.json"
    md_path = json_path.with_suffix(".md")
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="tiny model, few requests (the tests use it)")
    parser.add_argument(
        "--serving-only", action="store_true", help="a at batch 1 and 8, and b (bench-serving)"
    )
    parser.add_argument("--model", help="model to export if absent (default resnet50, tiny with --quick)")
    parser.add_argument("--models-dir", type=Path, default=BENCH_MODELS_DIR)
    parser.add_argument("--model-base-path", type=Path, help="use this exported model folder as it is")
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="auto",
        help="what runs the model in process and in the server (default auto, as make run)",
    )
    parser.add_argument("--precision", choices=PRECISIONS, help="with --runtime openvino")
    parser.add_argument("--reports-dir", type=Path, default=REPORTS_DIR)
    parser.add_argument("--gateway-workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--email", default=demo.ADMIN_EMAIL)
    parser.add_argument("--password", default=demo.ADMIN_PASSWORD)
    args = parser.parse_args(argv)
    if args.precision and args.runtime != "openvino":
        parser.error("--precision needs --runtime openvino (auto chooses its own, tensorflow runs f32)")
    args.command_line = " ".join(["python -m loadtest.bench", *(shlex.quote(part) for part in argv)])
    return args


def main(argv: list[str] | None = None, out: Callable[[str], None] = say) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    started = dt.datetime.now().astimezone()
    report = run(args, started)
    json_path, md_path = write(report, args.reports_dir, started.strftime("%Y%m%d-%H%M%S"))
    out("")
    out(markdown(report))
    out(f"wrote {json_path} and {md_path}")
    return 1 if any(v.get("errors", 0) for v in report["measurements"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
