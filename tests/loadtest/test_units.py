"""The load tools' own parts, without servers: pictures, request bodies, the load generator's bounds."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from PIL import Image
from starlette.datastructures import UploadFile
from starlette.requests import Request

from loadtest import payloads
from loadtest.images import distinct_jpeg, jpeg_pool
from loadtest.loadgen import run_load
from loadtest.run import locust_command, parse, require_local, seconds, side_by_side, table
from loadtest.settings import USER_CLASS_TAGS, users_for_tags
from stack.procs import PYTHON, REPO_ROOT


def test_pictures_are_distinct_decodable_and_reproducible() -> None:
    pool = jpeg_pool(300, nonce=5)
    assert len({hashlib.md5(p).digest() for p in pool}) == 300
    with Image.open(io.BytesIO(pool[7])) as picture:
        assert (picture.format, picture.size) == ("JPEG", (320, 240))
    assert distinct_jpeg(7, nonce=5) == pool[7]
    assert distinct_jpeg(7, nonce=6) != pool[7]


async def test_multipart_body_reads_back_through_starlette() -> None:
    picture = distinct_jpeg(1)
    body = payloads.multipart_file(picture, "cat.jpg")
    scope = {
        "type": "http",
        "method": "POST",
        "headers": [(b"content-type", payloads.MULTIPART_TYPE.encode())],
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(scope, receive).form()
    upload = form["file"]
    assert isinstance(upload, UploadFile)
    assert upload.filename == "cat.jpg"
    assert upload.content_type == "image/jpeg"
    assert await upload.read() == picture


def test_login_form_and_rest_body() -> None:
    assert parse_qs(payloads.login_form("a+b@example.com", "p&w").decode()) == {
        "username": ["a+b@example.com"],
        "password": ["p&w"],
    }
    instances = json.loads(payloads.rest_predict(b"\xff\xd8bytes"))["instances"]
    assert base64.b64decode(instances[0]["b64"]) == b"\xff\xd8bytes"


async def test_load_generator_stops_at_the_request_count() -> None:
    seen: list[int] = []

    async def call(index: int) -> None:
        seen.append(index)
        await asyncio.sleep(0)

    result = await run_load(call, concurrency=8, max_requests=50, time_cap=30, first_index=100)
    assert sorted(seen) == list(range(100, 150))
    assert result.summary()["ok"] == 50


async def test_load_generator_stops_at_the_time_cap() -> None:
    async def call(index: int) -> None:
        await asyncio.sleep(0.02)

    started = time.monotonic()
    result = await run_load(call, concurrency=4, max_requests=10**9, time_cap=0.3)
    assert time.monotonic() - started < 2
    assert 0 < result.summary()["ok"] < 200


async def test_load_generator_counts_failures_and_timeouts() -> None:
    async def call(index: int) -> None:
        if index % 4 == 0:
            raise ValueError(f"bad {index}")
        if index % 4 == 1:
            await asyncio.sleep(5)

    summary = (
        await run_load(call, concurrency=4, max_requests=20, time_cap=30, request_timeout=0.05)
    ).summary()
    assert (summary["ok"], summary["errors"]) == (10, 10)
    assert len(summary["error_samples"]) == 5
    assert any(sample.startswith("ValueError: bad") for sample in summary["error_samples"])


@pytest.mark.parametrize(("text", "expected"), [("10", 10), ("10s", 10), ("2m", 120), ("1h30m", 5400)])
def test_durations_in_locust_format(text: str, expected: int) -> None:
    assert seconds(text) == expected


@pytest.mark.parametrize("text", ["", "ten", "5x", "m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        seconds(text)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:8000/", "http://[::1]:8000"])
def test_local_hosts_are_accepted(url: str) -> None:
    assert require_local(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3:8000", "http://93.184.216.34", "ftp://127.0.0.1", "localhost:80"]
)
def test_other_hosts_are_refused(url: str) -> None:
    with pytest.raises(SystemExit):
        require_local(url)


def test_tag_table_matches_the_locustfile() -> None:
    """`loadtest.run` picks user classes from USER_CLASS_TAGS; it must say what the locustfile declares."""
    names = list(USER_CLASS_TAGS)
    script = (
        "import json, sys, loadtest.locustfile as f\n"
        "tags = lambda c: sorted(set().union(*(getattr(t, 'locust_tag_set', set()) for t in c.tasks)))\n"
        "print(json.dumps({name: tags(getattr(f, name)) for name in sys.argv[1:]}))"
    )
    command = [PYTHON, "-c", script, *names]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    declared = json.loads(done.stdout.strip().splitlines()[-1])
    assert declared == {name: sorted(tags) for name, tags in USER_CLASS_TAGS.items()}
    assert users_for_tags({"cached"}) == ["APIUser"]
    assert users_for_tags({"serving", "feedback"}) == ["APIUser", "ServingRESTUser"]
    assert users_for_tags({"nothing"}) == []


def _row(name: str, rps: float, p50: float, failures: int) -> dict:
    return {
        "name": name,
        "requests": 100,
        "req/s": rps,
        "p50 ms": p50,
        "p95 ms": p50 * 2,
        "p99 ms": p50 * 3,
        "failures": failures,
        "failure %": float(failures),
    }


def test_tables_show_every_figure() -> None:
    one = [_row("/model/predict [uncached]", 3.5, 120, 0), _row("all requests", 7.25, 60, 1)]
    two = [_row("/model/predict [uncached]", 6.5, 95, 0)]
    printed = table(one)
    assert "7.25" in printed
    assert "180" in printed  # p99 of the aggregate
    assert "1 (1%)" in printed
    both = side_by_side({"replicas-1": one, "replicas-2": two}).splitlines()
    uncached = next(line for line in both if line.startswith("/model/predict [uncached]"))
    assert "3.5 | 6.5" in uncached
    assert "120 | 95" in uncached
    aggregate = next(line for line in both if line.startswith("all requests"))
    assert "7.25 | -" in aggregate


@pytest.mark.parametrize(
    ("tags", "classes"),
    [
        ("uncached,cached,feedback", ["APIUser"]),
        ("serving", ["ServingRESTUser"]),
        ("cached serving", ["APIUser", "ServingRESTUser"]),
    ],
)
def test_locust_reads_the_command_as_meant(tmp_path: Path, tags: str, classes: list[str]) -> None:
    """Parsed by Locust's own parser (in a child: importing locust patches the process with gevent)."""
    command, users = locust_command(tmp_path, parse(["--tags", tags, "--users", "7", "--duration", "15s"]))
    assert users == classes
    script = (
        "import json, sys\n"
        "from locust.argument_parser import parse_options\n"
        "o = parse_options(sys.argv[1:])\n"
        "print(json.dumps([o.user_classes, sorted(o.tags), o.num_users, o.run_time, o.headless,\n"
        "                  o.csv_prefix]))"
    )
    done = subprocess.run(
        [PYTHON, "-c", script, *command[3:]], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    user_classes, parsed_tags, num_users, run_time, headless, csv_prefix = json.loads(
        done.stdout.splitlines()[-1]
    )
    assert user_classes == classes
    assert parsed_tags == sorted(tags.replace(",", " ").split())
    assert (num_users, run_time, headless) == (7, 15, True)
    assert csv_prefix == str(tmp_path / "locust")
