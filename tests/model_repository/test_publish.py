"""Writes into a model repository: a reader sees the old state or the new one, never half, and a failure
leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model_repository.publish import PublishError, staged_directory, write_text


def test_write_text_replaces_the_file_and_leaves_no_staging(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "choice.json"
    write_text(target, "one")
    write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["choice.json"]


def test_a_failed_write_keeps_the_old_file_and_no_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "choice.json"
    write_text(target, "old")

    def disk_full(_src: object, _dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["choice.json"]


def test_a_staged_directory_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    final = tmp_path / "3"

    def export_that_fails() -> None:
        with staged_directory(final, replace=False) as staging:
            (staging / "saved_model.pb").write_bytes(b"half")
            raise RuntimeError("the export failed")

    with pytest.raises(RuntimeError):
        export_that_fails()
    assert list(tmp_path.iterdir()) == []

    with staged_directory(final, replace=False) as staging:
        (staging / "saved_model.pb").write_bytes(b"whole")
    assert (final / "saved_model.pb").read_bytes() == b"whole"
    assert oct(final.stat().st_mode & 0o777) == "0o755"


def test_an_existing_directory_is_kept_unless_replacing(tmp_path: Path) -> None:
    final = tmp_path / "f32"
    with staged_directory(final, replace=False) as staging:
        (staging / "model.xml").write_text("first")
    with (
        pytest.raises(PublishError, match="cannot publish"),
        staged_directory(final, replace=False) as staging,
    ):
        (staging / "model.xml").write_text("second")
    assert (final / "model.xml").read_text() == "first"
    with staged_directory(final, replace=True) as staging:
        (staging / "model.xml").write_text("third")
    assert (final / "model.xml").read_text() == "third"
    assert [p.name for p in tmp_path.iterdir()] == ["f32"]  # the old one and the staging are gone
