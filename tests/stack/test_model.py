"""ensure_model exports only when needed; make run's offline fallback is remembered and said once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import model_repository
from stack.config import StackSettings
from stack.model import (
    ExportFailedError,
    choose_model,
    ensure_model,
    export_failure_reason,
    served_model,
)


def make_version(base: Path, version: int = 1) -> None:
    (base / str(version)).mkdir(parents=True)
    (base / str(version) / "saved_model.pb").write_bytes(b"graph")


def exports_run(log: Path) -> int:
    """Export commands started so far (each is written to the log before it runs)."""
    return log.read_text().count("\n$ ") if log.exists() else 0


def test_ensure_model_does_not_export_what_is_there(tmp_path: Path) -> None:
    make_version(tmp_path / "models" / "tiny", 2)
    log = tmp_path / "export.log"
    lines: list[str] = []
    assert (
        ensure_model("tiny", tmp_path / "models", log=log, speak=lines.append) == tmp_path / "models" / "tiny"
    )
    assert exports_run(log) == 0
    assert lines == []


def test_ensure_model_failure_names_the_log(tmp_path: Path) -> None:
    log = tmp_path / "log" / "export.log"
    lines: list[str] = []
    with pytest.raises(ExportFailedError, match=f"(?s)export of resnet50 failed; see {log}:\n.*no such file"):
        ensure_model(
            "resnet50", tmp_path / "models", log=log, weights=str(tmp_path / "absent.h5"), speak=lines.append
        )
    assert "no such file" in log.read_text()  # export_model's own answer is kept in the log
    assert len(lines) == 1  # the progress line; the caller reports the failure
    assert lines[0].startswith("exporting resnet50 into")


@pytest.mark.slow
def test_ensure_model_exports_once(tmp_path: Path) -> None:
    models, log = tmp_path / "models", tmp_path / "export.log"
    assert ensure_model("tiny", models, log=log, speak=lambda line: None) == models / "tiny"
    assert model_repository.versions(models / "tiny") == [1]
    ensure_model("tiny", models, log=log, speak=lambda line: None)
    assert exports_run(log) == 1
    assert model_repository.versions(models / "tiny") == [1]


@pytest.fixture
def offline(tmp_path: Path) -> StackSettings:
    """A wanted model whose export fails at once (its weights file is missing); the fallback is exported."""
    make_version(tmp_path / "models" / "tiny")
    return StackSettings(
        MODEL="resnet50",
        RESNET50_WEIGHTS=tmp_path / "missing.h5",
        FALLBACK_MODEL="tiny",
        MODELS_DIR=tmp_path / "models",
        VAR_DIR=tmp_path / "var",
    )


def test_the_fallback_is_explained_once_then_remembered(offline: StackSettings) -> None:
    log = offline.log_dir / "export.log"
    first: list[str] = []
    assert choose_model(offline, first.append) == "tiny"
    said = "\n".join(first)
    assert "Could not export resnet50" in said
    assert "missing.h5: no such file" in said  # why, not only that it failed
    assert "RESNET50_WEIGHTS" in said
    assert "RETRY_RESNET50=1" in said
    assert json.loads(offline.fallback_marker.read_text())["served"] == "tiny"
    assert exports_run(log) == 1

    again = offline.model_copy(update={"resnet50_weights": None})  # a plain `make run`
    second: list[str] = []
    assert choose_model(again, second.append) == "tiny"
    assert len(second) == 1  # one line, no banner
    assert "serving tiny" in second[0]
    assert "RETRY_RESNET50=1" in second[0]
    assert exports_run(log) == 1  # no new download attempt
    assert served_model(again) == "tiny"


def test_retry_tries_the_wanted_model_again(offline: StackSettings) -> None:
    log = offline.log_dir / "export.log"
    choose_model(offline, lambda line: None)
    retry = offline.model_copy(update={"retry_export": True})
    assert choose_model(retry, lambda line: None) == "tiny"
    assert exports_run(log) == 2


def test_the_wanted_model_once_there_ends_the_fallback(offline: StackSettings) -> None:
    choose_model(offline, lambda line: None)
    assert offline.fallback_marker.exists()
    make_version(offline.models_dir / "resnet50")  # e.g. `make export` on a connected day
    lines: list[str] = []
    assert choose_model(offline, lines.append) == "resnet50"
    assert lines == []
    assert not offline.fallback_marker.exists()


def test_a_failing_fallback_is_an_error(tmp_path: Path) -> None:
    settings = StackSettings(
        MODEL="resnet50",
        RESNET50_WEIGHTS=tmp_path / "missing.h5",
        FALLBACK_MODEL="no-such-model",
        MODELS_DIR=tmp_path / "models",
        VAR_DIR=tmp_path / "var",
    )
    with pytest.raises(ExportFailedError, match="export of no-such-model failed"):
        choose_model(settings, lambda line: None)


OFFLINE_LOG = """
$ python -m export_model --model resnet50 --out models --weights imagenet
I0000 00:00:1796297959.454796    7893 cpu_feature_guard.cc:227] This TensorFlow binary is optimized
Downloading data from https://storage.googleapis.com/tensorflow/keras-applications/resnet/r.h5
export_model: error: Cannot download the Keras ResNet50 ImageNet weights (Exception: URL fetch failure on \
https://storage.googleapis.com/r.h5: None -- [Errno -2] Name or service not known). Two ways forward:
  1. --weights PATH  a local copy of Keras's weights
"""


def test_the_reason_an_export_failed_is_said_in_a_few_words(tmp_path: Path) -> None:
    log = tmp_path / "export.log"
    log.write_text(
        "\n$ python -m export_model --weights a.h5\nexport_model: error: --weights a.h5: no such file\n"
    )
    assert export_failure_reason(log) == "--weights a.h5: no such file"
    log.write_text(log.read_text() + OFFLINE_LOG)  # the last run counts
    assert export_failure_reason(log) == ("no network ([Errno -2] Name or service not known)")
    log.write_text("\n$ python -m export_model\nKilled\n")
    assert export_failure_reason(log) == "Killed"
    assert export_failure_reason(tmp_path / "absent.log") == "no output; see the log"
