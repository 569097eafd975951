"""export(): versions, atomic publication, metadata, and the CLI's errors."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from export_model import export, warmup
from export_model.errors import ExportError
from stack.procs import PYTHON, REPO_ROOT

pytestmark = pytest.mark.slow

REQUIRED_FILES = (
    "saved_model.pb",
    "variables/variables.index",
    "assets.extra/model_info.json",
    "assets.extra/tf_serving_warmup_requests",
)


def test_tiny_metadata(tiny_model_base: Path) -> None:
    extra = tiny_model_base / "1" / "assets.extra"
    info = json.loads((extra / "model_info.json").read_text())
    expected = {
        "model_name": "tiny",
        "version": 1,
        "weights": "random",
        "random_weights": True,
        "test_only": True,
        "label_count": 1000,
        "input_size": [224, 224],
    }
    assert {key: info[key] for key in expected} == expected
    assert info["exported_at"].endswith("+00:00")
    assert (extra / "labels.txt").read_text().splitlines()[248] == "Eskimo_dog"


def test_next_free_version_and_atomic_publish(tmp_path: Path) -> None:
    """A poller (like TF Serving's) never sees a version folder before it is complete."""
    base = tmp_path / "tiny"
    (base / "3").mkdir(parents=True)
    (base / "3" / "saved_model.pb").write_text("an older version")
    seen_incomplete: list[str] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            for entry in base.iterdir() if base.exists() else []:
                if entry.name.isdigit() and entry.name != "3":
                    missing = [f for f in REQUIRED_FILES if not (entry / f).exists()]
                    if missing:
                        seen_incomplete.append(f"{entry.name}: {missing}")
            time.sleep(0.001)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        path = export("tiny", out=tmp_path)
    finally:
        done.set()
        poller.join()
    assert path == base / "4"
    assert not seen_incomplete
    assert all((path / f).exists() for f in REQUIRED_FILES)
    assert sorted(p.name for p in base.iterdir()) == ["3", "4"]  # no temporary folder left behind


def test_failed_export_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_write(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(warmup, "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        export("tiny", out=tmp_path, version=1)
    assert list((tmp_path / "tiny").iterdir()) == []


def test_existing_version_is_refused(tiny_model_base: Path) -> None:
    with pytest.raises(ExportError, match="already exists"):
        export("tiny", out=tiny_model_base.parent, version=1)


def test_bad_pth_for_efficientnet(tmp_path: Path) -> None:
    bogus = tmp_path / "weights.pth"
    bogus.write_bytes(b"definitely not a state dict")
    with pytest.raises(ExportError, match=r"weights\.pth"):
        export("efficientnet-lite0", str(bogus), tmp_path / "models")
    assert not (tmp_path / "models").exists()


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "export_model", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_cli_bad_weights_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-weights.h5"
    result = run_cli("--model", "resnet50", "--weights", str(missing), "--out", str(tmp_path / "models"))
    assert result.returncode == 2
    assert f"--weights {missing}: no such file" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "models").exists()


def test_cli_imagenet_offline_names_both_ways_forward(tmp_path: Path) -> None:
    """An empty Keras cache and a proxy that refuses every connection: the download fails instead of hanging.

    The issue asks for an exit within a minute, hence the subprocess timeout (a hang fails the test).
    """
    dead_proxy = "http://127.0.0.1:9"
    env = {
        "KERAS_HOME": str(tmp_path / "keras"),
        "HTTPS_PROXY": dead_proxy,
        "https_proxy": dead_proxy,
        "HTTP_PROXY": dead_proxy,
        "http_proxy": dead_proxy,
        "NO_PROXY": "",
        "no_proxy": "",
    }
    result = run_cli(
        "--model", "resnet50", "--weights", "imagenet", "--out", str(tmp_path / "models"), env=env, timeout=60
    )
    assert result.returncode != 0
    assert "--weights PATH" in result.stderr
    assert "--model efficientnet-lite0" in result.stderr
    assert not (tmp_path / "models").exists()
