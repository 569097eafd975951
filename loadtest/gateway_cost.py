"""The gateway's own CPU per request, source tree against source tree, in interleaved rounds.

    python -m loadtest.gateway_cost --tree /path/to/before --tree . --model-base var/bench-models/tiny \
        [--rounds 3] [--seconds 10] [--workers 1] [--profile DIR]

One model server (the last tree's, batching on, the tiny network on OpenVINO f32 unless told otherwise)
serves every gateway. Each round starts `python -m gateway` from every tree in turn (a fresh SQLite database
and upload folder each) and drives it with wrk (16 connections) on distinct pictures (the uncached path,
c of `make bench`) and on 8 pictures asked again and again (the cached path, d), then does the same to the
HTTP floor (loadtest/floor_http.py). It reads the gateway's process-group CPU over each measured window.
Interleaving the trees within a round and comparing within it is what makes before/after comparable on a
shared machine. `--profile DIR` also records each gateway with py-spy during each measured window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from contracts import demo
from loadtest import gateway_load, wrk
from loadtest.cpu import TICK, CpuMeter, of_group
from loadtest.floor_http import PATH
from loadtest.loadgen import run_load
from loadtest.machine import describe, one_line
from loadtest.server_cost import serve, thread_names, thread_ticks
from stack.commands import gateway_command
from stack.procs import LOCAL, PYTHON, Service, free_port, http_ok

CONNECTIONS = 16
WARMUP_S = 2.0
CACHED_POOL = 8
UNCACHED_POOL = 12_000
UNCACHED_WARMUP = 2_000


def _gateway(tree: Path, target: str, model: str, work: Path, workers: int) -> tuple[Service, str]:
    port = free_port()
    command = gateway_command(
        port,
        serving_target=target,
        model_name=model,
        database_url=f"sqlite+aiosqlite:///{work / 'gateway.db'}",
        upload_dir=work / "uploads",
        secret_key=secrets.token_urlsafe(32),
        workers=workers,
        quiet=True,
    )
    service = Service(command.args, work / "gateway.log", command.env, cwd=tree)
    url = f"http://{LOCAL}:{port}"
    service.wait_ready(lambda: http_ok(f"{url}/ready"), 120, f"gateway of {tree}")
    return service, url


def _floor(tree: Path, work: Path) -> tuple[Service, str]:
    port = free_port()
    args = [PYTHON, "-m", "loadtest.floor_http", "--port", str(port)]
    service = Service(args, work / "floor.log", {}, cwd=tree)
    url = f"http://{LOCAL}:{port}"
    service.wait_ready(lambda: http_ok(f"{url}/ready"), 120, "http floor")
    return service, url


async def _prime(url: str, token: str, bodies: list[bytes]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        call = gateway_load.predict_call([client], token, bodies, None)
        await run_load(call, concurrency=1, max_requests=len(bodies), time_cap=120)


def _measure(
    tool: str,
    service: Service,
    url: str,
    bodies: tuple[Path, Path],
    expect: str,
    seconds: float,
    profile: Path | None,
) -> dict[str, Any]:
    """`bodies`: the warmup's and the measured window's (distinct for the uncached path)."""
    warmup, bodies_dir = bodies
    wrk.run(tool, url, PATH, warmup, expect=expect, connections=CONNECTIONS, seconds=WARMUP_S)
    spy: subprocess.Popen[bytes] | None = None
    if profile is not None:
        py_spy = Path(sys.executable).parent / "py-spy"
        spy = subprocess.Popen(
            [
                str(py_spy),
                "record",
                "--pid",
                str(service.pid),
                "--subprocesses",
                "--format",
                "raw",
                "--gil",
                "--rate",
                "250",
                "--duration",
                str(int(seconds)),
                "--nonblocking",
                "--output",
                str(profile),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    names = thread_names(service.pid)
    before = thread_ticks(service.pid, names)
    meter = CpuMeter({"gateway": of_group(service.pid)}).start()
    done = wrk.run(tool, url, PATH, bodies_dir, expect=expect, connections=CONNECTIONS, seconds=seconds)
    meter.stop()
    after = thread_ticks(service.pid, names)
    if spy is not None:
        spy.wait(timeout=60)
    requests = int(done.figures["ok"]) + int(done.figures["errors"])
    threads = {
        name: round(1000 * (after[name] - before[name]) / TICK / max(requests, 1), 3)
        for name in sorted(after, key=lambda n: before[n] - after[n])
        if after[name] > before[name]
    }
    return {
        "rps": done.figures["throughput_rps"],
        "errors": done.figures["errors"],
        "first_error": next(iter(done.figures["error_samples"]), ""),  # wrk's, when an answer failed
        "gateway_ms": round(1000 * meter.spent["gateway"] / max(requests, 1), 3),
        "client_ms": round(1000 * done.cpu_seconds / max(requests, 1), 3),
        "threads_ms": threads,
        "load": round(os.getloadavg()[0], 2),
    }


def _round_of_tree(
    tool: str, tree: Path, target: str, model: str, work: Path, args: argparse.Namespace, name: str
) -> dict[str, Any]:
    service, url = _gateway(tree, target, model, work, args.workers)
    row: dict[str, Any] = {}
    try:
        token = asyncio.run(gateway_load.sign_in(url, demo.ADMIN_EMAIL, demo.ADMIN_PASSWORD))
        nonce = int.from_bytes(os.urandom(3), "big")
        warmup = gateway_load.upload_bodies(UNCACHED_WARMUP, nonce, "warmup")
        distinct = gateway_load.upload_bodies(UNCACHED_POOL, nonce + 1, "new")
        row["uncached"] = _measure(
            tool,
            service,
            url,
            (
                wrk.write_bodies(work / "uncached-warmup", warmup, token),
                wrk.write_bodies(work / "uncached", distinct, token),
            ),
            "false",
            args.seconds,
            args.profile / f"{name}-uncached.txt" if args.profile else None,
        )
        repeated = gateway_load.upload_bodies(CACHED_POOL, nonce + 2, "repeated")
        asyncio.run(_prime(url, token, repeated))
        cached = wrk.write_bodies(work / "cached", repeated, token)
        row["cached"] = _measure(
            tool,
            service,
            url,
            (cached, cached),
            "true",
            args.seconds,
            args.profile / f"{name}-cached.txt" if args.profile else None,
        )
    finally:
        service.stop()
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.gateway_cost", description=__doc__)
    parser.add_argument("--tree", type=Path, action="append", required=True, help="a source tree (repeat)")
    parser.add_argument("--model-base", type=Path, required=True)
    parser.add_argument("--runtime", default="openvino")
    parser.add_argument("--precision", default="f32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="gateway workers")
    parser.add_argument("--profile", type=Path, help="py-spy raw profiles of each gateway into this folder")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    tool = wrk.find(print)
    if tool is None:
        raise SystemExit(f"wrk is needed ({wrk.INSTALL_HINT})")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    model_base = args.model_base.resolve()
    extra = [f"--runtime={args.runtime}"] + (
        [f"--precision={args.precision}"] if args.runtime == "openvino" else []
    )
    print(one_line(describe()), flush=True)
    result: dict[str, Any] = {"machine": describe(), "args": [str(a) for a in (argv or sys.argv[1:])]}
    result["rounds"] = rounds = []
    with tempfile.TemporaryDirectory(prefix="gateway-cost-") as tmp:
        work = Path(tmp)
        serving, target = serve(args.tree[-1].resolve(), model_base, True, extra, work / "serving.log")
        try:
            for number in range(args.rounds):
                row: dict[str, Any] = {}
                for index, tree in enumerate(args.tree):
                    name = f"r{number + 1}-tree{index}"
                    tree_work = work / name
                    tree_work.mkdir()
                    row[f"tree{index}"] = _round_of_tree(
                        tool, tree.resolve(), target, model_base.name, tree_work, args, name
                    )
                    print(f"round {number + 1} tree{index} ({tree}): {row[f'tree{index}']}", flush=True)
                floor, url = _floor(args.tree[-1].resolve(), work)
                try:
                    token = "floor"
                    bodies = gateway_load.upload_bodies(256, number, "floor")
                    floor_bodies = wrk.write_bodies(work / "floor", bodies, token)
                    row["floor"] = _measure(
                        tool,
                        floor,
                        url,
                        (floor_bodies, floor_bodies),
                        "any",
                        args.seconds,
                        None,
                    )
                finally:
                    floor.stop()
                print(f"round {number + 1} floor: {row['floor']}", flush=True)
                rounds.append(row)
        finally:
            serving.stop()
    _summary(rounds, len(args.tree), print)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


def _summary(rounds: list[dict[str, Any]], trees: int, say: Callable[[str], None]) -> None:
    say("\nmedian over rounds (gateway CPU ms per request, req/s):")
    for path in ("uncached", "cached"):
        for index in range(trees):
            cpu = statistics.median(r[f"tree{index}"][path]["gateway_ms"] for r in rounds)
            rps = statistics.median(r[f"tree{index}"][path]["rps"] for r in rounds)
            say(f"  {path} tree{index}: {cpu:.3f} ms, {rps:.1f} req/s")
        first = [r["tree0"][path]["gateway_ms"] for r in rounds]
        for index in range(1, trees):
            mine = [r[f"tree{index}"][path]["gateway_ms"] for r in rounds]
            ratios = ", ".join(f"{m / f:.3f}" for m, f in zip(mine, first, strict=True))
            say(f"  {path} tree{index} / tree0 per round: {ratios}")
    floor = statistics.median(r["floor"]["gateway_ms"] for r in rounds)
    say(f"  HTTP floor: {floor:.3f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
