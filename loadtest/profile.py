"""Where each component's CPU goes under `make bench`'s loads: py-spy on every process, per load.

    python -m loadtest.profile [--model efficientnet-lite0] [--runtime auto] [--seconds 20] [--native]

a. the model in this process (the in-process timing loop, batch `--batch`);
b. the model server under 16 gRPC clients (batching on);
c. the model server and the gateway under 16 wrk connections of distinct pictures;
d. the gateway under 16 wrk connections of cached pictures.
Each process is recorded with py-spy for `--seconds` after a warmup (CPU samples only: idle threads are
left out; `--native` adds C/C++ frames, and pauses the process per sample). Writes the collapsed stacks to
`loadtest/reports/profile-<stamp>-<load>-<process>.txt` and a summary (`…-summary.md`): per process, the
share of samples by package and the functions with the most samples, self and total.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import model_repository
from contracts import demo
from loadtest import gateway_load, grpc_load, inprocess, wrk
from loadtest.bench import REPORTS_DIR
from loadtest.floor_http import PATH as PREDICT_PATH
from loadtest.images import jpeg_pool, run_nonce
from loadtest.loadgen import run_load
from loadtest.testbed import BENCH_MODELS_DIR, Testbed, bench_model
from serving.engines.timing import throughput
from serving.precisions import PRECISIONS, RUNTIMES
from stack.procs import REPO_ROOT

WARMUP_S = 4.0
CONCURRENCY = 16
_LINE = re.compile(r":\d+\)$")
_SITE = re.compile(r".*/site-packages/")


def _spy(pid: int, seconds: float, out: Path, native: bool) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).parent / "py-spy"
    args = [str(py_spy), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100"]
    args += ["--format", "raw", "--output", str(out)]
    args += ["--native"] if native else ["--nonblocking"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def _frame(frame: str) -> str:
    """`function (path:line)` -> `function (module path)`: lines merged, site-packages and the repo cut."""
    frame = _LINE.sub(")", frame.strip())
    name, _, where = frame.partition(" (")
    where = _SITE.sub("", where).replace(str(REPO_ROOT) + "/", "")
    return f"{name} ({where}" if where else name


def _package(frame: str) -> str:
    where = frame.partition(" (")[2].rstrip(")")
    if not where:
        return "native/other"
    if where.startswith("/"):
        return "python stdlib" if "/lib/python3" in where else where.rsplit("/", 1)[0]
    top = where.split("/")[0]
    return top.removesuffix(".py")


def summary(collapsed: Path, top: int = 15) -> str:
    """The heaviest packages and frames of a py-spy raw (collapsed) file: self share and total share."""
    total: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or not stack:
            continue
        count = int(count_text)
        frames = [_frame(frame) for frame in stack.split(";") if frame]
        samples += count
        for frame in set(frames):
            total[frame] += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
    if not samples:
        return f"{collapsed.name}: no samples"
    lines = [f"{collapsed.name}: {samples} samples", "  self, by package:"]
    lines += [f"    {n / samples:6.1%}  {name}" for name, n in packages.most_common(top)]
    lines += ["  self, by function:"] + [f"    {n / samples:6.1%}  {f}" for f, n in own.most_common(top)]
    lines += ["  total (on the stack):"] + [f"    {n / samples:6.1%}  {f}" for f, n in total.most_common(top)]
    return "\n".join(lines)


@contextmanager
def _background(work: Callable[[], object]) -> Iterator[None]:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _record(pids: dict[str, int], load: str, seconds: float, stamp: str, native: bool) -> list[Path]:
    time.sleep(WARMUP_S)
    outputs = {name: REPORTS_DIR / f"profile-{stamp}-{load}-{name}.txt" for name in pids}
    recorders = [_spy(pid, seconds, outputs[name], native) for name, pid in pids.items()]
    for recorder in recorders:
        recorder.wait()
    return list(outputs.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.profile", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--runtime", default="auto", choices=RUNTIMES)
    parser.add_argument("--precision", choices=PRECISIONS)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=8, help="a: the in-process batch size")
    parser.add_argument(
        "--native", action="store_true", help="C/C++ frames too (pauses each process per sample)"
    )
    args = parser.parse_args(argv)
    wrk_path = wrk.find(print)
    if wrk_path is None:
        raise SystemExit(f"the profile loads the gateway with wrk: {wrk.INSTALL_HINT}")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    model_base = bench_model(args.model, BENCH_MODELS_DIR, print)
    version_dir = model_repository.resolve_version_dir(model_base)
    spec = inprocess.resolve_engine(version_dir, args.runtime, args.precision, print)
    runtime, precision = spec.runtime, spec.precision
    nonce = run_nonce()
    span = args.seconds + WARMUP_S + 2
    files: list[Path] = []

    print(f"a. the model in this process ({runtime} {precision}), batch {args.batch} …")
    classify = inprocess.classifier(version_dir, spec)
    images = jpeg_pool(args.batch * 8, nonce)
    batches = [images[i : i + args.batch] for i in range(0, len(images), args.batch)]
    with _background(lambda: throughput(classify, batches, seconds=span)):
        files += _record({"model": os.getpid()}, "a", args.seconds, stamp, args.native)

    serving_args = [f"--runtime={runtime}"] + ([f"--precision={precision}"] if runtime == "openvino" else [])
    with Testbed(REPO_ROOT / "var" / "profile" / stamp, model_base, print, serving_args) as testbed:
        [replica] = testbed.start_serving(1)
        serving_pid = replica.service.pid
        print(f"b. the model server under {CONCURRENCY} gRPC clients …")
        requests = [grpc_load.predict_request(model_base.name, image) for image in jpeg_pool(256, nonce + 1)]

        async def grpc_clients() -> None:
            async with grpc_load.channel(replica.grpc_target) as channel:
                call = grpc_load.predict_call(channel, requests)
                await run_load(call, concurrency=CONCURRENCY, max_requests=10**9, time_cap=span)

        with _background(lambda: asyncio.run(grpc_clients())):
            files += _record({"serving": serving_pid}, "b", args.seconds, stamp, args.native)

        url = testbed.start_gateway([replica])
        assert testbed.gateway is not None
        gateway_pid = testbed.gateway.pid
        token = asyncio.run(gateway_load.sign_in(url, demo.ADMIN_EMAIL, demo.ADMIN_PASSWORD))
        bodies = testbed.workdir / "bodies"
        distinct = gateway_load.upload_bodies(3000, nonce + 2, "new")
        repeated = gateway_load.upload_bodies(8, nonce + 3, "repeated")
        loads = {
            "c": (wrk.write_bodies(bodies / "c", distinct, token), "false", {"serving": serving_pid}),
            "d": (wrk.write_bodies(bodies / "d", repeated, token), "any", {}),
        }
        for load, (directory, expect, extra) in loads.items():
            print(f"{load}. the gateway under {CONCURRENCY} wrk connections …")
            command = wrk.command(wrk_path, url, PREDICT_PATH, directory, expect, CONCURRENCY, span)
            driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            try:
                files += _record({"gateway": gateway_pid, **extra}, load, args.seconds, stamp, args.native)
            finally:
                driver.wait(timeout=span + 60)
    text = "\n\n".join(summary(path) for path in files if path.exists())
    summary_path = REPORTS_DIR / f"profile-{stamp}-summary.md"
    summary_path.write_text(text + "\n")
    print(text)
    print(f"wrote {summary_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
