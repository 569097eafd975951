"""Issue 19, the roll-out as the README walks it: `CANARY_PERCENT=50 make run` (the tiny model, free ports,
the repository's venv), a version 2 exported beside version 1 waits, `make canary VERSION=2` sends half of
the users to it (each user always to the same side), `make promote` makes it everyone's; while a steady
stream of predictions runs, not one fails and nothing restarts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
from pathlib import Path

import pytest

from stack.procs import LOCAL, PYTHON, REPO_ROOT, free_port
from tests.gateway.photos import photo
from tests.stack.test_make_run import (
    KEEP_VENV,
    abandon_make_run,
    http_json,
    multipart,
    start_make_run,
    stop_make_run,
)

pytestmark = pytest.mark.slow
USERS = 16  # at 50 %, all on one side has probability 2 / 2**16


def make(target: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", *target, "-o", KEEP_VENV.format(**env)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_canary_is_rolled_out_to_half_the_users_then_promoted(
    tmp_path: Path, tiny_model_base: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_model_base, models / "tiny")
    for extra in sorted(p for p in (models / "tiny").iterdir() if p.name != "1"):
        shutil.rmtree(extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "VENV": str(Path(PYTHON).parent.parent),
            "MODEL": "tiny",
            "MODELS_DIR": str(models),
            "VAR_DIR": str(tmp_path / "var"),
            "RUNTIME": "tensorflow",
            "CANARY_PERCENT": "50",
            "MODEL_STATUS_TTL_SECONDS": "1",
            "SIGNUPS_PER_IP": str(USERS),
            "SERVING_PORT": str(free_port()),
            "SERVING_REST_PORT": str(free_port()),
            "GATEWAY_PORT": str(free_port()),
            "GRADIO_SERVER_PORT": str(free_port()),
        }
    )
    gateway = f"http://{LOCAL}:{env['GATEWAY_PORT']}"
    run, _ = start_make_run(REPO_ROOT, env, tmp_path / "make-run.log")
    failures: list[str] = []
    stop = threading.Event()
    try:
        tokens = []
        for index in range(USERS):
            email = f"user{index}@example.com"
            body = {"name": f"User {index}", "email": email, "password": "a-long-password"}
            http_json(f"{gateway}/user/", json.dumps(body).encode(), {"Content-Type": "application/json"})
            form = urllib.parse.urlencode({"username": email, "password": "a-long-password"}).encode()
            tokens.append(http_json(f"{gateway}/login", form)["access_token"])
        seeds = iter(range(10**6))

        def predict(token: str) -> dict:
            body, content_type = multipart("file", "p.jpg", photo("JPEG", 96, 96, seed=next(seeds)))
            headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
            return http_json(f"{gateway}/model/predict", body, headers)["model"]

        def who_answers() -> list[tuple[int, str | None]]:
            return [(m["version"], m.get("label")) for m in map(predict, tokens)]

        def steady() -> None:
            while not stop.is_set():
                try:
                    predict(tokens[0])
                except (urllib.error.URLError, OSError) as error:
                    failures.append(repr(error))

        stream = threading.Thread(target=steady, daemon=True)
        stream.start()
        shutil.copytree(models / "tiny" / "1", models / "tiny" / "2")  # exported: waits for make canary
        time.sleep(3)
        assert set(who_answers()) == {(1, "stable")}

        canary = make(["canary", "VERSION=2"], env)
        assert canary.returncode == 0, canary.stdout + canary.stderr
        time.sleep(2)  # the gateway's label cache (MODEL_STATUS_TTL_SECONDS)
        first, again = who_answers(), who_answers()
        assert first == again  # each user stays on their side
        assert set(first) == {(1, "stable"), (2, "canary")}

        promote = make(["promote"], env)
        assert promote.returncode == 0, promote.stdout + promote.stderr
        deadline = time.monotonic() + 30
        while set(who_answers()) != {(2, "stable")}:
            assert time.monotonic() < deadline, "version 2 never became everyone's stable"
            time.sleep(1)
        shown = make(["rollout"], env)
        assert "labels stable -> 2" in shown.stdout
        stop.set()
        stream.join(timeout=60)
        assert failures == []
        stop_make_run(REPO_ROOT, env, run)
    finally:
        stop.set()
        abandon_make_run(run)
