"""The version manager on real SavedModel folders (no server): load, switch, unload, fall back."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from serving.config import single_model_config
from serving.errors import ServingError
from serving.loader import servable_loader
from serving.manager import ModelManager, State, VersionRequest

pytestmark = pytest.mark.slow
TENSORFLOW_LOADER = servable_loader("tensorflow", "f32")


def states(manager: ModelManager) -> dict[int, int]:
    return {entry.version: entry.state for entry in manager.status("m")}


def wait_unloaded(manager: ModelManager, version: int) -> None:
    for _ in range(200):
        if states(manager).get(version) == State.END:
            return
        time.sleep(0.05)
    raise AssertionError(f"version {version} still {states(manager).get(version)}")


def test_versions_come_and_go_with_their_folders(tiny_model_base: Path, tmp_path: Path) -> None:
    base = tmp_path / "m"
    shutil.copytree(tiny_model_base / "1", base / "1")
    (base / "not-a-version").mkdir()
    manager = ModelManager(single_model_config("m", str(base)), None, 0, TENSORFLOW_LOADER)
    manager.start()
    assert states(manager) == {1: State.AVAILABLE}

    shutil.copytree(tiny_model_base / "1", base / "3")
    manager.poll_once()
    wait_unloaded(manager, 1)
    assert states(manager) == {3: State.AVAILABLE, 1: State.END}
    with manager.acquire("m") as servable:
        assert servable.version == 3
    with pytest.raises(ServingError, match="Specific"), manager.acquire("m", VersionRequest(number=1)):
        pass

    shutil.rmtree(base / "3")  # the newest folder disappears: the previous version is served again
    manager.poll_once()
    wait_unloaded(manager, 3)
    assert states(manager) == {3: State.END, 1: State.AVAILABLE}
    with manager.acquire("m") as servable:
        assert servable.version == 1
    manager.stop()


def test_a_version_that_cannot_load_keeps_the_old_one_serving(tiny_model_base: Path, tmp_path: Path) -> None:
    base = tmp_path / "m"
    shutil.copytree(tiny_model_base / "1", base / "1")
    manager = ModelManager(single_model_config("m", str(base)), None, 0, TENSORFLOW_LOADER)
    manager.start()
    (base / "2").mkdir()
    (base / "2" / "saved_model.pb").write_bytes(b"garbage")
    manager.poll_once()
    status = {entry.version: entry for entry in manager.status("m")}
    assert status[1].state == State.AVAILABLE
    assert status[2].state == State.END
    assert status[2].error
    with manager.acquire("m") as servable:
        assert servable.version == 1
    manager.stop()
