"""Where a gateway request's CPU goes: py-spy on the model server and the gateway under `make bench`'s load c.

    python -m loadtest.profile [--model efficientnet-lite0] [--runtime auto] [--seconds 20]

Starts serving and the gateway on 127.0.0.1 (as `make bench` does), sends 16 clients' distinct pictures
through the gateway, and records both processes with py-spy (`--idle` off: CPU only, with native frames
of the runtimes). Writes `loadtest/reports/profile-<stamp>-<process>.txt`, the collapsed stacks, and
prints for each process the functions that hold the most samples (self and total), by package.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import subprocess
import sys
from pathlib import Path

import model_repository
from contracts import demo
from loadtest import bench
from loadtest.images import run_nonce
from loadtest.testbed import BENCH_MODELS_DIR, Testbed, bench_model
from serving.precisions import PRECISIONS, RUNTIMES
from stack.procs import REPO_ROOT


def _record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).parent / "py-spy"
    args = [str(py_spy), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
    args += ["--format", "raw", "--output", str(out), "--nonblocking", "--threads"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def summary(collapsed: Path, top: int = 15) -> str:
    """The heaviest frames of a py-spy raw (collapsed) file: total share (on stack) and self share."""
    total: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame.split(" (")[0] + " (" + frame.split(" (")[-1] for frame in stack.split(";")[1:]]
        samples += count
        for frame in set(frames):
            total[frame] += count
        if frames:
            own[frames[-1]] += count
    lines = [f"{collapsed.name}: {samples} samples"]
    lines += ["  self:"] + [f"    {n / samples:6.1%}  {f}" for f, n in own.most_common(top)]
    lines += ["  total:"] + [f"    {n / samples:6.1%}  {f}" for f, n in total.most_common(top)]
    return "\n".join(lines)


async def _load(
    url: str, plan: bench.Plan, nonce: int, email: str, password: str, watch: dict[str, int]
) -> None:
    await bench.measure_gateway(url, plan, nonce, email, password, watch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.profile", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--runtime", default="auto", choices=RUNTIMES)
    parser.add_argument("--precision", choices=PRECISIONS)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    model_base = bench_model(args.model, BENCH_MODELS_DIR, print)
    model_repository.resolve_version_dir(model_base)
    serving_args = [f"--runtime={args.runtime}"] + (
        [f"--precision={args.precision}"] if args.precision else []
    )
    plan = bench.Plan((1,), 1.0, 16, 100_000, args.seconds + 10, 16, 1.0, 48)
    with Testbed(REPO_ROOT / "var" / "profile" / stamp, model_base, print, serving_args) as testbed:
        replicas = testbed.start_serving(1)
        url = testbed.start_gateway(replicas)
        assert testbed.gateway is not None
        pids = {"serving": replicas[0].service.proc.pid, "gateway": testbed.gateway.proc.pid}
        outputs = {name: bench.REPORTS_DIR / f"profile-{stamp}-{name}.txt" for name in pids}
        bench.REPORTS_DIR.mkdir(parents=True, exist_ok=True)

        async def run() -> None:
            load = asyncio.create_task(
                _load(url, plan, run_nonce(), demo.ADMIN_EMAIL, demo.ADMIN_PASSWORD, pids)
            )
            await asyncio.sleep(5)  # past sign-in and warmup
            recorders = [_record(pid, args.seconds, outputs[name]) for name, pid in pids.items()]
            await asyncio.to_thread(lambda: [r.wait() for r in recorders])
            load.cancel()

        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(run())
    for path in outputs.values():
        if path.exists():
            print(summary(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
