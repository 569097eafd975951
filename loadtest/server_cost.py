"""The model server's own CPU per request, source tree against source tree, in interleaved rounds.

    python -m loadtest.server_cost --tree /path/to/before --tree . --model-base var/bench-models/tiny \
        [--runtime openvino --precision f32] [--rounds 3] [--seconds 15] [--batching on|off|both] \
        [--images-per-request N]

Each round starts `python -m serving` from every tree in turn (the same flags, the same model, batching as
asked) and drives it with h2load (16 connections, one pre-built PredictRequest of `--images-per-request`
distinct images, 1 by default; the gateway may send up to max_batch_size in one; with N images 16 // N
connections, so that as many images are in flight) after a warmup, then does
the same to the gRPC echo floor (loadtest/floor_grpc.py). It reads the server's CPU (its process group,
/proc) over the measured window. On a shared machine other work moves every figure: interleaving the
trees within each round and comparing ratios within a round is what makes before/after comparable. The
model's own CPU per image in process (`--in-process`, batch 1 and 4, the same engine with this tree's
thread layout: one stream per batch thread with batching on) is measured once, so that "beyond the model"
= server CPU per image − the model's. Every CPU figure is per image (per request divided by
`--images-per-request`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import model_repository
from loadtest import grpc_load, h2load, inprocess
from loadtest.cpu import TICK, CpuMeter, of_group
from loadtest.images import jpeg_pool, run_nonce
from loadtest.machine import describe, one_line
from serving.config import read_batching_parameters
from stack.commands import BATCHING_CONFIG, serving_command
from stack.procs import LOCAL, PYTHON, Service, free_port, model_available, port_is_free

CONNECTIONS = 16
WARMUP_S = 3.0


def serve(tree: Path, model_base: Path, batching: bool, extra: list[str], log: Path) -> tuple[Service, str]:
    grpc_port, rest_port = free_port(), free_port()
    command = serving_command(
        grpc_port,
        rest_port,
        base_path=model_base,
        batching=batching,
        monitoring_config=None,
        extra_args=extra,
    )
    service = Service(command.args, log, command.env, cwd=tree)
    service.wait_ready(
        functools.partial(model_available, f"http://{LOCAL}:{rest_port}", model_base.name), 600, str(tree)
    )
    return service, f"{LOCAL}:{grpc_port}"


def _floor(tree: Path, log: Path) -> tuple[Service, str]:
    port = free_port()
    args = [PYTHON, "-m", "loadtest.floor_grpc", "--host", LOCAL, "--port", str(port)]
    service = Service(args, log, {}, cwd=tree)
    service.wait_ready(lambda: not port_is_free(LOCAL, port), 120, "grpc floor")
    return service, f"{LOCAL}:{port}"


_PY_SPY_THREAD = re.compile(r'Thread (\d+) \([^)]*\): "([^"]+)"')


def thread_names(pid: int) -> dict[str, str]:
    """Native thread id -> Python thread name, from `py-spy dump` (a dev tool; {} without it)."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        return {}
    dump = subprocess.run(
        [str(py_spy), "dump", "--pid", str(pid)], capture_output=True, text=True, check=False
    )
    return {tid: name.rstrip("0123456789_-") for tid, name in _PY_SPY_THREAD.findall(dump.stdout)}


def thread_ticks(pid: int, names: dict[str, str]) -> collections.Counter[str]:
    """CPU ticks (user + system) of each of a process's threads, summed by thread name."""
    ticks: collections.Counter[str] = collections.Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            name = names.get(task.name) or (task / "comm").read_text().strip().rstrip("0123456789_-")
            ticks[name] += int(fields[11]) + int(fields[12])
    return ticks


def _drive(
    tool: str,
    service: Service,
    target: str,
    request: bytes,
    seconds: float,
    work: Path,
    images: int = 1,
    connections: int = CONNECTIONS,
) -> dict[str, Any]:
    """h2load against `target` for `seconds`; CPU figures in ms per image (`images` per request)."""
    body = h2load.write_body(work / "predict.grpc", request)
    expected = h2load.FRAME_HEADER + asyncio.run(grpc_load.answer_size(target, request))
    h2load.run(tool, target, body, expected_answer_bytes=expected, connections=connections, seconds=WARMUP_S)
    names = thread_names(service.pid)
    before = thread_ticks(service.pid, names)
    meter = CpuMeter({"server": of_group(service.pid)}).start()
    done = h2load.run(
        tool, target, body, expected_answer_bytes=expected, connections=connections, seconds=seconds
    )
    meter.stop()
    after = thread_ticks(service.pid, names)
    requests = int(done.figures["ok"]) + int(done.figures["errors"])
    counted = max(requests * images, 1)
    threads = {
        name: round(1000 * (after[name] - before[name]) / TICK / counted, 3)
        for name in sorted(after, key=lambda n: before[n] - after[n])
        if after[name] > before[name]
    }
    return {
        "rps": done.figures["throughput_rps"],
        "errors": done.figures["errors"],
        "images_per_s": round(done.figures["throughput_rps"] * images, 1),
        "server_ms": round(1000 * meter.spent["server"] / counted, 3),
        "client_ms": round(1000 * done.cpu_seconds / counted, 3),
        "threads_ms": threads,
        "load": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.server_cost", description=__doc__)
    parser.add_argument("--tree", type=Path, action="append", required=True, help="a source tree (repeat)")
    parser.add_argument("--model-base", type=Path, required=True)
    parser.add_argument("--runtime", default="openvino")
    parser.add_argument("--precision", default="f32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--batching", choices=("on", "off", "both"), default="on")
    parser.add_argument(
        "--images-per-request",
        type=int,
        default=1,
        help="distinct images in each PredictRequest (a [N] string tensor); CPU is reported per image",
    )
    parser.add_argument(
        "--connections",
        type=int,
        help=f"h2load connections (default {CONNECTIONS} // images per request: the same images in flight)",
    )
    parser.add_argument("--in-process", action="store_true", help="also the model's CPU per image in process")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.images_per_request < 1:
        parser.error("--images-per-request must be at least 1")
    tool = h2load.find(print)
    if tool is None:
        raise SystemExit(f"h2load is needed ({h2load.INSTALL_HINT})")
    model_base = args.model_base.resolve()
    extra = [f"--runtime={args.runtime}"] + (
        [f"--precision={args.precision}"] if args.runtime == "openvino" else []
    )
    print(one_line(describe()), flush=True)
    nonce = run_nonce()
    images = args.images_per_request
    connections = args.connections or max(CONNECTIONS // images, 1)
    request = grpc_load.predict_request(model_base.name, *jpeg_pool(images, nonce))
    result: dict[str, Any] = {"machine": describe(), "args": [str(a) for a in (argv or [])], "rounds": []}
    if args.in_process:
        version_dir = model_repository.resolve_version_dir(model_base)
        spec = inprocess.resolve_engine(version_dir, args.runtime, args.precision, print)
        # the engine laid out as the server loads it (this tree's): one stream per batch thread
        streams = read_batching_parameters(BATCHING_CONFIG).num_batch_threads if args.batching == "on" else 0
        result["in_process"] = inprocess.measure(
            inprocess.classifier(version_dir, spec, streams), jpeg_pool(32, nonce), (1, 4), 8.0, print
        )
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.batching]
    with tempfile.TemporaryDirectory(prefix="server-cost-") as tmp:
        work = Path(tmp)

        def drive(service: Service, target: str) -> dict[str, Any]:
            return _drive(tool, service, target, request, args.seconds, work, images, connections)

        for number in range(args.rounds):
            row: dict[str, Any] = {}
            for batching in modes:
                for index, tree in enumerate(args.tree):
                    name = f"tree{index}-batching-{'on' if batching else 'off'}"
                    service, target = serve(tree.resolve(), model_base, batching, extra, work / f"{name}.log")
                    try:
                        row[name] = drive(service, target)
                    finally:
                        service.stop()
                    print(f"round {number + 1} {name} ({tree}): {row[name]}", flush=True)
            service, target = _floor(args.tree[-1].resolve(), work / "floor.log")
            try:
                row["floor"] = drive(service, target)
            finally:
                service.stop()
            print(f"round {number + 1} floor: {row['floor']}", flush=True)
            result["rounds"].append(row)
    names = list(result["rounds"][0])
    print(f"\nmedian over rounds (server CPU ms per image, {images} image(s) per request; req/s):")
    for name in names:
        cpu = statistics.median(r[name]["server_ms"] for r in result["rounds"])
        rps = statistics.median(r[name]["rps"] for r in result["rounds"])
        groups = sorted({group for r in result["rounds"] for group in r[name]["threads_ms"]})
        rows = [r[name]["threads_ms"] for r in result["rounds"]]
        by_thread = ", ".join(
            f"{group} {statistics.median(row.get(group, 0.0) for row in rows):.3f}" for group in groups
        )
        print(f"  {name}: {cpu:.3f} ms, {rps:.1f} req/s; by thread: {by_thread}")
    for batching in modes:
        word = "on" if batching else "off"
        first = [r[f"tree0-batching-{word}"]["server_ms"] for r in result["rounds"]]
        for index in range(1, len(args.tree)):
            mine = [r[f"tree{index}-batching-{word}"]["server_ms"] for r in result["rounds"]]
            ratios = ", ".join(f"{m / f:.3f}" for m, f in zip(mine, first, strict=True))
            print(f"  tree{index} / tree0, batching {word}, per round: {ratios}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
