"""Issue 22, item 8: `REPLICAS=2 make run` (the tiny model, on free ports, the repository's venv) keeps
serving when a replica is killed: the next requests are answered by the other one, the dead one is started
again with a line saying so, and it serves again."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.parse
from pathlib import Path

import pytest

from contracts import demo, ports
from stack.procs import LOCAL, PYTHON, REPO_ROOT, free_port, model_available, port_is_free
from tests.gateway.photos import photo
from tests.stack.test_make_run import abandon_make_run, http_json, multipart, start_make_run, stop_make_run

pytestmark = pytest.mark.slow


def _free_replica_ports() -> tuple[int, int]:
    """A gRPC and a REST port for the first replica whose second replica's ports are free too."""
    while True:
        grpc, rest = free_port(), free_port()
        if grpc != rest and all(port_is_free(LOCAL, port) for port in ports.replica(1, grpc, rest)):
            return grpc, rest


def _wait_for(log: Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while text not in (output := log.read_text()):
        assert time.monotonic() < deadline, f"no {text!r} in:\n{output}"
        time.sleep(0.5)
    return output


def test_a_killed_replica_is_restarted_while_the_other_serves(tmp_path: Path, tiny_model_base: Path) -> None:
    grpc, rest = _free_replica_ports()
    second = ports.replica(1, grpc, rest)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "VENV": str(Path(PYTHON).parent.parent),
            "MODEL": "tiny",
            "MODELS_DIR": str(tiny_model_base.parent),
            "VAR_DIR": str(tmp_path / "var"),
            "RUNTIME": "tensorflow",
            "REPLICAS": "2",
            "SERVING_PORT": str(grpc),
            "SERVING_REST_PORT": str(rest),
            "GATEWAY_PORT": str(free_port()),
            "GRADIO_SERVER_PORT": str(free_port()),
        }
    )
    log = tmp_path / "make-run.log"
    make, _ = start_make_run(REPO_ROOT, env, log)
    try:
        gateway = f"http://{LOCAL}:{env['GATEWAY_PORT']}"
        form = urllib.parse.urlencode(
            {"username": demo.ADMIN_EMAIL, "password": demo.ADMIN_PASSWORD}
        ).encode()
        token = http_json(f"{gateway}/login", form)["access_token"]

        def predict(seed: int) -> dict:
            body, content_type = multipart("file", f"{seed}.jpg", photo("JPEG", 320, 240, seed=seed))
            headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
            return http_json(f"{gateway}/model/predict", body, headers)

        assert predict(1)["success"] is True
        state = tmp_path / "var" / "run" / "stack.json"
        killed = json.loads(state.read_text())["services"]["serving-2"]
        os.killpg(killed, signal.SIGKILL)
        answered = [predict(seed)["success"] for seed in range(2, 8)]  # distinct photos: no cache hit
        output = _wait_for(log, "serving-2  back, ready in", timeout=180)
        print(f"--- make run ---\n{output}")
        assert answered == [True] * 6
        assert f"gRPC {LOCAL}:{grpc} and {LOCAL}:{second[0]}, REST" in output  # both replicas named
        assert "serving-2 exited with code -9; starting it again in 1s" in output
        assert make.poll() is None  # the run goes on
        restarted = json.loads(state.read_text())["services"]["serving-2"]
        assert restarted != killed
        assert model_available(f"http://{LOCAL}:{second[1]}", "tiny")
        assert [predict(seed)["success"] for seed in range(8, 12)] == [True] * 4
        stop_make_run(REPO_ROOT, env, make)
        assert all(port_is_free(LOCAL, port) for port in (grpc, rest, *second))
    finally:
        abandon_make_run(make)
