"""`python -m stack run` end to end where it fails: a service that exits during start-up is named with its
log and the log's end, and everything it started is stopped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stack.config import StackSettings
from stack.procs import LOCAL, PYTHON, REPO_ROOT, free_port, port_is_free
from stack.run import model_servers


def make_version(base: Path) -> None:
    (base / "1").mkdir(parents=True)
    (base / "1" / "saved_model.pb").write_bytes(b"never loaded: the server stops at its flags")


def test_a_service_that_exits_during_start_up_is_named_with_its_log(tmp_path: Path) -> None:
    make_version(tmp_path / "models" / "tiny")
    ports = {name: str(free_port()) for name in ("SERVING_PORT", "SERVING_REST_PORT", "GATEWAY_PORT")}
    ports["GRADIO_SERVER_PORT"] = str(free_port())
    env = {
        "PATH": "/usr/bin:/bin",
        "MODEL": "tiny",
        "MODELS_DIR": str(tmp_path / "models"),
        "VAR_DIR": str(tmp_path / "var"),
        "RUNTIME": "no-such-runtime",  # serving's flag parser refuses it at once
        **ports,
    }
    done = subprocess.run(
        [PYTHON, "-m", "stack", "run"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stdout + done.stderr
    log = tmp_path / "var" / "log" / "serving.log"
    error = next(line for line in done.stdout.splitlines() if line.startswith("error:"))
    assert error == f"error: serving exited with code 2; see {log}"
    assert "invalid choice: 'no-such-runtime'" in done.stdout  # the log's end is quoted
    assert "stopped gateway" in done.stdout
    assert "stopped frontend" in done.stdout
    assert all(port_is_free(LOCAL, int(port)) for port in ports.values())
    assert not (tmp_path / "var" / "run" / "stack.json").exists()


def test_the_model_server_line_names_every_replica() -> None:
    one = StackSettings(REPLICAS=1, SERVING_PORT=8500, SERVING_REST_PORT=8501, BIND=LOCAL)
    assert model_servers(one, "m") == "m, gRPC 127.0.0.1:8500, REST http://127.0.0.1:8501/v1/models/m"
    two = StackSettings(REPLICAS=2, SERVING_PORT=8500, SERVING_REST_PORT=8501, BIND=LOCAL)
    assert model_servers(two, "m") == (
        "m, 2 replicas, gRPC 127.0.0.1:8500 and 127.0.0.1:8510, "
        "REST http://127.0.0.1:8501/v1/models/m and http://127.0.0.1:8511/v1/models/m"
    )
