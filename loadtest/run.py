"""`make loadtest`: Locust, headless, against a stack this command starts (or `--host`), with reports.

Without `--host` it exports the model if needed, starts `--replicas` serving processes and a gateway on
127.0.0.1 with a fresh SQLite database, runs Locust for `--duration`, stops everything it started, and
prints requests/s, p50, p95, p99 and failures per request type. `--compare` does that at 1 and 2 replicas
and prints both side by side. Reports: loadtest/reports/<timestamp>/ (Locust's HTML and CSV, summary.json).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from contracts import demo
from contracts.net import is_loopback
from loadtest.images import run_nonce
from loadtest.machine import describe, one_line
from loadtest.settings import DEFAULT_TAGS, USER_CLASS_TAGS, users_for_tags
from loadtest.testbed import BENCH_MODELS_DIR, Testbed, bench_model, model_note
from stack.procs import PYTHON, REPO_ROOT

REPORTS_DIR = REPO_ROOT / "loadtest" / "reports"
LOCUSTFILE = REPO_ROOT / "loadtest" / "locustfile.py"
CSV_PREFIX = "locust"
COLUMNS = ("requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "failures")


def say(line: str) -> None:
    print(line, flush=True)


def seconds(timespan: str) -> int:
    """Locust's `-t` format: `90`, `90s`, `2m`, `1h30m`."""
    parts = re.fullmatch(r"(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?", timespan.strip())
    if not parts or not any(parts.groups()):
        raise ValueError(f"not a duration: {timespan!r} (e.g. 30s, 2m, 1h30m)")
    hours, minutes, secs = (int(group or 0) for group in parts.groups())
    return hours * 3600 + minutes * 60 + secs


def require_local(url: str) -> str:
    """Load only ever goes to this machine: every address the host name resolves to must be loopback."""
    host = urlsplit(url).hostname
    if not url.startswith(("http://", "https://")) or not host:
        raise SystemExit(f"not an http(s) URL: {url!r}")
    addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    if not addresses or not all(is_loopback(address) for address in addresses):
        raise SystemExit(
            f"{url} is not a local address ({', '.join(sorted(addresses))}); load tests stay local"
        )
    return url.rstrip("/")


# Locust ---------------------------------------------------------------------------------------------------


def locust_command(out_dir: Path, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Locust's command line, and the user classes it runs (those with a task left after `--tags`)."""
    tags = sorted(set(args.tags))
    users = users_for_tags(set(tags))
    if not users:
        known = sorted(set().union(*USER_CLASS_TAGS.values()))
        raise SystemExit(f"no task has any of the tags {tags}; known: {known}")
    # The user classes come before `--tags`, whose list would swallow them.
    command = [PYTHON, "-m", "locust", "-f", str(LOCUSTFILE), *users, "--headless"]
    command += [
        "-u",
        str(args.users),
        "-r",
        str(args.spawn_rate),
        "-t",
        args.duration,
        "--stop-timeout",
        "10",
    ]
    command += ["--html", str(out_dir / "report.html"), "--csv", str(out_dir / CSV_PREFIX), "--only-summary"]
    command += ["--loglevel", "WARNING", "--tags", *tags]
    return command, users


def run_locust(
    out_dir: Path, args: argparse.Namespace, gateway_url: str, serving_url: str, model_name: str
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    command, users = locust_command(out_dir, args)
    tags = args.tags
    env = {
        "LOADTEST_GATEWAY_URL": gateway_url,
        "LOADTEST_SERVING_URL": serving_url,
        "LOADTEST_MODEL_NAME": model_name,
        "LOADTEST_NONCE": str(run_nonce()),
        "LOADTEST_EMAIL": args.email,
        "LOADTEST_PASSWORD": args.password,
        "LOADTEST_WAIT_MIN": str(args.wait[0]),
        "LOADTEST_WAIT_MAX": str(args.wait[1]),
    }
    say(
        f"locust: {args.users} users ({', '.join(users)}), spawn rate {args.spawn_rate}/s, {args.duration}, "
        f"tags {' '.join(sorted(tags))}, think time {args.wait[0]:g}-{args.wait[1]:g} s"
    )
    log = out_dir / "locust.log"
    with log.open("wb") as out:
        try:
            subprocess.run(
                command,
                cwd=REPO_ROOT,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=seconds(args.duration) + 120,
                check=False,
            )
        except subprocess.TimeoutExpired:
            say(f"locust did not end within {seconds(args.duration) + 120}s; see {log}")
    stats = out_dir / f"{CSV_PREFIX}_stats.csv"
    if not stats.exists():
        raise SystemExit(f"locust wrote no statistics; see {log}:\n{log.read_text(errors='replace')[-3000:]}")
    return stats


def read_stats(stats_csv: Path) -> list[dict[str, Any]]:
    rows = []
    with stats_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            count, failures = int(row["Request Count"]), int(row["Failure Count"])
            rows.append(
                {
                    "name": row["Name"] if row["Type"] else "all requests",
                    "type": row["Type"],
                    "requests": count,
                    "req/s": round(float(row["Requests/s"]), 2),
                    "p50 ms": _ms(row["50%"]),
                    "p95 ms": _ms(row["95%"]),
                    "p99 ms": _ms(row["99%"]),
                    "failures": failures,
                    "failure %": round(100 * failures / count, 1) if count else 0.0,
                }
            )
    return rows


def _ms(value: str) -> float | None:
    return None if value in ("", "N/A") else float(value)


# Tables -------------------------------------------------------------------------------------------------


def _cell(row: dict[str, Any] | None, column: str) -> str:
    if row is None:
        return "-"
    value = row[column]
    if column == "failures":
        return f"{value} ({row['failure %']:g}%)"
    return "-" if value is None else f"{value:g}"


def table(rows: list[dict[str, Any]]) -> str:
    width = max(len(row["name"]) for row in rows)
    lines = [f"{'request':<{width}}  " + "  ".join(f"{c:>12}" for c in COLUMNS)]
    lines += [
        f"{row['name']:<{width}}  " + "  ".join(f"{_cell(row, c):>12}" for c in COLUMNS) for row in rows
    ]
    return "\n".join(lines)


def side_by_side(runs: dict[str, list[dict[str, Any]]]) -> str:
    """One line per request type; each cell shows the runs' figures as `first | second`."""
    labels = list(runs)
    names = list(dict.fromkeys(row["name"] for rows in runs.values() for row in rows))
    width = max(len(name) for name in names)
    by_name = {label: {row["name"]: row for row in rows} for label, rows in runs.items()}
    lines = [f"{'request':<{width}}  " + "  ".join(f"{c:>20}" for c in COLUMNS)]
    for name in names:
        cells = [" | ".join(_cell(by_name[label].get(name), c) for label in labels) for c in COLUMNS]
        lines.append(f"{name:<{width}}  " + "  ".join(f"{cell:>20}" for cell in cells))
    return "\n".join(lines)


# Runs ---------------------------------------------------------------------------------------------------


def one_run(
    args: argparse.Namespace, replicas: int, out_dir: Path, model_base: Path | None
) -> dict[str, Any]:
    if args.host:
        serving_url = args.serving_url or "http://127.0.0.1:8501"
        stats = run_locust(out_dir, args, args.host, serving_url, args.model_name or args.model)
        return {"host": args.host, "replicas": None, "stats": read_stats(stats)}
    assert model_base is not None
    workdir = REPO_ROOT / "var" / "loadtest" / out_dir.relative_to(args.reports_dir)
    with Testbed(workdir, model_base, say) as testbed:
        started = testbed.start_serving(replicas, batching=True)
        gateway_url = testbed.start_gateway(started)
        stats = run_locust(out_dir, args, gateway_url, started[0].rest_url, model_base.name)
    say(f"stopped the stack (logs in {workdir})")
    return {"host": gateway_url, "replicas": replicas, "stats": read_stats(stats)}


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` blocks stop the stack
    started = dt.datetime.now().astimezone()
    out_dir = args.reports_dir / started.strftime("%Y%m%d-%H%M%S")
    machine = describe()
    say(f"loadtest: {one_line(machine)}")
    model_base = None
    if not args.host:
        model_base = args.model_base_path or bench_model(args.model, args.models_dir, say)
    summary: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(["python -m loadtest.run", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine,
        "model": {
            "name": model_base.name if model_base else args.model_name or args.model,
            "note": model_note(model_base.name) if model_base else "as served at --host",
        },
        "users": args.users,
        "spawn_rate": args.spawn_rate,
        "duration": args.duration,
        "tags": sorted(args.tags),
        "think_time_s": list(args.wait),
        "runs": {},
    }
    replica_counts = (1, 2) if args.compare else (args.replicas,)
    for count in replica_counts:
        label = f"replicas-{count}" if not args.host else "host"
        run_dir = out_dir / label if args.compare else out_dir
        summary["runs"][label] = one_run(args, count, run_dir, model_base)
        summary["runs"][label]["report_dir"] = str(run_dir)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    say("")
    say(f"model: {summary['model']['name']} — {summary['model']['note']}")
    if args.compare:
        say("each cell: 1 replica | 2 replicas")
        say(side_by_side({label: run["stats"] for label, run in summary["runs"].items()}))
    else:
        say(table(next(iter(summary["runs"].values()))["stats"]))
    say(f"\nreports: {out_dir}")
    return 0


def _wait(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--duration", default="60s", help="Locust's -t: 30s, 2m, …")
    parser.add_argument("--replicas", type=int, default=1, choices=range(1, 9), metavar="1-8")
    parser.add_argument("--compare", action="store_true", help="run at 1 and at 2 replicas, side by side")
    parser.add_argument("--host", type=require_local, help="a running gateway (local); no stack is started")
    parser.add_argument("--serving-url", type=require_local, help="serving REST URL for the `serving` tag")
    parser.add_argument(
        "--tags",
        type=lambda text: text.replace(",", " ").split(),
        default=list(DEFAULT_TAGS),
        help=f"space/comma list of task tags (default: {' '.join(DEFAULT_TAGS)}; also: serving)",
    )
    parser.add_argument(
        "--wait",
        type=_wait,
        default=(1.0, 5.0),
        help="think time between a user's requests, 'min,max' seconds (default 1,5)",
    )
    parser.add_argument("--model", default="resnet50", help="exported into --models-dir when absent")
    parser.add_argument("--models-dir", type=Path, default=BENCH_MODELS_DIR)
    parser.add_argument("--model-base-path", type=Path, help="serve this exported model folder as it is")
    parser.add_argument("--model-name", help="model name at --host (default --model)")
    parser.add_argument("--reports-dir", type=Path, default=REPORTS_DIR)
    parser.add_argument("--email", default=demo.ADMIN_EMAIL)
    parser.add_argument("--password", default=demo.ADMIN_PASSWORD)
    args = parser.parse_args(argv)
    try:
        seconds(args.duration)
    except ValueError as error:
        parser.error(str(error))
    if args.compare and args.host:
        parser.error("--compare starts its own stacks; it cannot be combined with --host")
    if not args.tags:
        args.tags = list(DEFAULT_TAGS)
    return args


if __name__ == "__main__":
    sys.exit(main())
