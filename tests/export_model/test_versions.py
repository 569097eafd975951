from __future__ import annotations

from pathlib import Path

import pytest

import model_repository
from export_model import versions
from export_model.errors import ExportError


def test_publish_renames_only_when_complete(tmp_path: Path) -> None:
    with versions.publishing(tmp_path, 2) as staging:
        (staging / "saved_model.pb").write_text("x")
        assert model_repository.version_dirs(tmp_path) == {}  # a polling server sees nothing yet
        assert staging.name.startswith(".")
    assert (tmp_path / "2" / "saved_model.pb").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["2"]


def test_failed_publish_leaves_nothing(tmp_path: Path) -> None:
    def export_that_fails() -> None:
        with versions.publishing(tmp_path, 1) as staging:
            (staging / "partial").write_text("half a model")
            raise RuntimeError("export failed")

    with pytest.raises(RuntimeError, match="export failed"):
        export_that_fails()
    assert list(tmp_path.iterdir()) == []


def test_existing_version_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    with pytest.raises(ExportError, match="already exists"), versions.publishing(tmp_path, 1):
        pass


def test_version_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="positive"), versions.publishing(tmp_path, 0):
        pass
