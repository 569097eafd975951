"""`make bench` and `make bench-serving`: how close each layer gets to the model's own speed, in one run,
and what each process costs in CPU per request against a bare floor.

a. the model in this process on pre-encoded JPEGs, at several batch sizes (the best is the ceiling);
b. the model server over gRPC from 16 concurrent clients, batching off and on; the gRPC floor;
c. the gateway end to end (token, multipart upload, storage, gRPC, database) on distinct pictures;
d. the gateway on a few pictures asked again and again (its cache answers); the HTTP floor;
with the ratios b/a, c/a, c/b, d/c and each layer's CPU against its floor (loadtest/orchestrate.py).
`--serving-only` (`make bench-serving`) measures a at batch 1 and 8, b and the gRPC floor only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from contracts import demo
from loadtest.orchestrate import Options, run
from loadtest.report import markdown, write
from loadtest.testbed import BENCH_MODELS_DIR
from serving.precisions import PRECISIONS, RUNTIMES
from stack.procs import REPO_ROOT

REPORTS_DIR = REPO_ROOT / "loadtest" / "reports"


def say(line: str) -> None:
    print(line, flush=True)


def parse(argv: list[str]) -> tuple[Options, Path]:
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
    parser.add_argument(
        "--client",
        choices=("auto", "compiled", "python"),
        default="auto",
        help="load generators: compiled (wrk for HTTP, h2load for gRPC; installed when missing, as root on "
        "Debian), python (httpx, grpc.aio), or auto: each compiled one that can be had, else Python",
    )
    parser.add_argument("--email", default=demo.ADMIN_EMAIL)
    parser.add_argument("--password", default=demo.ADMIN_PASSWORD)
    args = parser.parse_args(argv)
    if args.precision and args.runtime != "openvino":
        parser.error("--precision needs --runtime openvino (auto chooses its own, tensorflow runs f32)")
    options = Options(
        quick=args.quick,
        serving_only=args.serving_only,
        model=args.model,
        models_dir=args.models_dir,
        model_base_path=args.model_base_path,
        runtime=args.runtime,
        precision=args.precision,
        gateway_workers=args.gateway_workers,
        client=args.client,
        email=args.email,
        password=args.password,
        command_line=" ".join(["python -m loadtest.bench", *(shlex.quote(part) for part in argv)]),
    )
    return options, args.reports_dir


def main(argv: list[str] | None = None, out: Callable[[str], None] = say) -> int:
    options, reports_dir = parse(sys.argv[1:] if argv is None else argv)
    started = dt.datetime.now().astimezone()
    report = run(options, started, say)
    json_path, md_path = write(report, reports_dir, started.strftime("%Y%m%d-%H%M%S"))
    out("")
    out(markdown(report))
    out(f"wrote {json_path} and {md_path}")
    return 1 if any(v.get("errors", 0) for v in report["measurements"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
