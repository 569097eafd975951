"""deploy/docker/export-job.sh: export once, weights from the mounted file, fall back loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stack.procs import REPO_ROOT

SCRIPT = REPO_ROOT / "deploy" / "docker" / "export-job.sh"


def run_job(models: Path, bin_dir: Path, **env: str) -> subprocess.CompletedProcess:
    """The job as the container runs it: `python` on PATH, the repository as working directory."""
    full_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "MODELS_DIR": str(models), **env}
    return subprocess.run(
        ["sh", str(SCRIPT)],
        cwd=REPO_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture
def recording_python(tmp_path: Path) -> tuple[Path, Path]:
    """A `python` that records its arguments and fails: for the choices made before any export."""
    bin_dir, record = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$*" >> {record}\nexit 1\n')
    (bin_dir / "python").chmod(0o755)
    return bin_dir, record


def test_a_present_version_means_nothing_to_do(tmp_path: Path, recording_python: tuple[Path, Path]) -> None:
    (tmp_path / "models" / "resnet50" / "3").mkdir(parents=True)
    (tmp_path / "models" / "resnet50" / "3" / "saved_model.pb").write_bytes(b"x")
    result = run_job(tmp_path / "models", recording_python[0], MODEL="resnet50")
    assert result.returncode == 0
    assert "already holds a version" in result.stdout
    assert not recording_python[1].exists()


def test_an_unfinished_export_folder_is_not_a_version(
    tmp_path: Path, recording_python: tuple[Path, Path]
) -> None:
    (tmp_path / "models" / "resnet50" / ".1.tmp-abc").mkdir(parents=True)
    (tmp_path / "models" / "resnet50" / ".1.tmp-abc" / "saved_model.pb").write_bytes(b"x")
    result = run_job(
        tmp_path / "models", recording_python[0], MODEL="resnet50", RESNET50_WEIGHTS_FILE="/dev/null"
    )
    assert result.returncode != 0
    calls = recording_python[1].read_text().splitlines()
    assert calls[0] == f"-m export_model --out {tmp_path / 'models'} --model resnet50 --weights imagenet"


def test_a_rollout_exports_even_when_a_version_exists(
    tmp_path: Path, recording_python: tuple[Path, Path]
) -> None:
    (tmp_path / "models" / "resnet50" / "1").mkdir(parents=True)
    (tmp_path / "models" / "resnet50" / "1" / "saved_model.pb").write_bytes(b"x")
    result = run_job(
        tmp_path / "models",
        recording_python[0],
        MODEL="resnet50",
        EXPORT_NEW_VERSION="1",
        RESNET50_WEIGHTS_FILE="/dev/null",
    )
    assert result.returncode != 0  # the recording python fails: a failed rollout is not hidden by a fallback
    assert recording_python[1].read_text().splitlines() == [
        f"-m export_model --out {tmp_path / 'models'} --model resnet50"
    ]


def test_a_mounted_weights_file_is_used(tmp_path: Path, recording_python: tuple[Path, Path]) -> None:
    weights = tmp_path / "resnet50.h5"
    weights.write_bytes(b"not empty")
    run_job(tmp_path / "models", recording_python[0], MODEL="resnet50", RESNET50_WEIGHTS_FILE=str(weights))
    calls = recording_python[1].read_text().splitlines()
    assert calls[0].endswith(f"--model resnet50 --weights {weights}")


@pytest.mark.slow
def test_without_resnet50_weights_it_exports_the_fallback_and_says_what_to_do(tmp_path: Path) -> None:
    """Real exports: a corrupt weights file makes the ResNet50 export fail without a network. The fallback
    is the tiny model here (FALLBACK_MODEL), to keep the suite quick: efficientnet-lite0's export is the
    export_model tests' subject; this one is about the job's path through the failure."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')  # the venv's, as `python`
    (bin_dir / "python").chmod(0o755)
    weights = tmp_path / "resnet50.h5"
    weights.write_bytes(b"this is not an HDF5 file")
    models = tmp_path / "models"
    result = run_job(
        models, bin_dir, MODEL="resnet50", RESNET50_WEIGHTS_FILE=str(weights), FALLBACK_MODEL="tiny"
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "not a Keras ResNet50 weights file" in result.stderr
    assert "set MODEL=tiny in deploy/.env" in result.stderr
    assert sorted(p.relative_to(models).as_posix() for p in models.glob("*/*/saved_model.pb")) == [
        "tiny/1/saved_model.pb"
    ]
    again = run_job(models, bin_dir, MODEL="tiny")
    assert again.returncode == 0
    assert "already holds a version" in again.stdout
