"""The one rule for version folders: a positive integer name and a saved_model.pb."""

from __future__ import annotations

from pathlib import Path

import pytest

import model_repository


def make_version(base: Path, name: str, complete: bool = True) -> Path:
    folder = base / name
    folder.mkdir(parents=True)
    if complete:
        (folder / "saved_model.pb").write_bytes(b"graph")
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """1 and 3 complete; 5 incomplete (no saved_model.pb); 0, a file 7, a temporary and odd names."""
    base = tmp_path / "model"
    make_version(base, "1")
    make_version(base, "3")
    make_version(base, "5", complete=False)
    make_version(base, "0")
    make_version(base, ".9.tmp-abc")
    make_version(base, "10x")
    make_version(base, "٣")  # an Arabic-Indic three: str.isdigit() says yes, int() would accept it
    (base / "7").write_text("a file, not a version")
    return base


def test_only_complete_positive_versions_count(repo: Path) -> None:
    assert model_repository.version_dirs(repo) == {1: repo / "1", 3: repo / "3"}
    assert model_repository.versions(repo) == [1, 3]
    assert model_repository.latest_version(repo) == 3
    assert model_repository.latest_version_dir(repo) == repo / "3"
    assert model_repository.has_version(repo)


def test_versions_sort_as_numbers(tmp_path: Path) -> None:
    for name in ("9", "10", "2"):
        make_version(tmp_path, name)
    assert model_repository.versions(tmp_path) == [2, 9, 10]
    assert model_repository.latest_version_dir(tmp_path) == tmp_path / "10"


def test_next_version_skips_past_incomplete_folders_and_ignores_temporary_ones(repo: Path) -> None:
    assert model_repository.next_version(repo) == 6  # 5 is taken though not servable; .9.tmp is not a version


@pytest.mark.parametrize("name", ["absent", "empty"])
def test_a_missing_or_empty_base_has_no_version(tmp_path: Path, name: str) -> None:
    (tmp_path / "empty").mkdir()
    base = tmp_path / name
    assert model_repository.version_dirs(base) == {}
    assert model_repository.latest_version(base) is None
    assert model_repository.latest_version_dir(base) is None
    assert not model_repository.has_version(base)
    assert model_repository.next_version(base) == 1


def test_is_version_dir(repo: Path) -> None:
    assert model_repository.is_version_dir(repo / "3")
    assert not model_repository.is_version_dir(repo / "5")
    assert not model_repository.is_version_dir(repo / "0")
    assert not model_repository.is_version_dir(repo / ".9.tmp-abc")


def test_resolve_version_dir_takes_a_version_or_a_model_folder(repo: Path, tmp_path: Path) -> None:
    assert model_repository.resolve_version_dir(repo) == repo / "3"
    assert model_repository.resolve_version_dir(repo / "1") == repo / "1"
    with pytest.raises(FileNotFoundError, match="neither a version folder nor a model folder"):
        model_repository.resolve_version_dir(repo / "5")
    with pytest.raises(FileNotFoundError):
        model_repository.resolve_version_dir(tmp_path / "absent")


def test_models_lists_only_models_with_a_servable_version(tmp_path: Path) -> None:
    make_version(tmp_path / "resnet50", "1", complete=False)
    make_version(tmp_path / "efficientnet-lite0", "2")
    make_version(tmp_path / "tiny", "1")
    make_version(tmp_path / ".hidden", "1")
    (tmp_path / "notes.txt").write_text("x")
    assert model_repository.models(tmp_path) == {
        "efficientnet-lite0": tmp_path / "efficientnet-lite0",
        "tiny": tmp_path / "tiny",
    }
    assert model_repository.models(tmp_path / "absent") == {}


def test_no_tensorflow_is_imported() -> None:
    import subprocess
    import sys

    code = "import sys, model_repository; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
