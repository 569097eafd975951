from __future__ import annotations

from pathlib import Path

import pytest

from export_model import versions
from export_model.errors import ExportError


def test_next_version_of_a_missing_base_is_one(tmp_path: Path) -> None:
    assert versions.next_version(tmp_path / "absent") == 1


def test_next_version_skips_non_version_entries(tmp_path: Path) -> None:
    for name in ("1", "3", "0", "foo", ".4.tmp-abc", "10x"):
        (tmp_path / name).mkdir()
    (tmp_path / "7").write_text("a file, not a version")
    assert versions.next_version(tmp_path) == 4


def test_publish_renames_only_when_complete(tmp_path: Path) -> None:
    with versions.publishing(tmp_path, 2) as staging:
        (staging / "saved_model.pb").write_text("x")
        assert versions.existing_versions(tmp_path) == []  # a polling server sees nothing yet
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
