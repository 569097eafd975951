"""`make run`'s model config: written fresh, except when it holds a roll-out of the model it serves."""

from __future__ import annotations

import subprocess
from pathlib import Path

from serving.config import read_model_server_config
from serving.rollout import Rollout
from stack.model_config import labelled_versions, run_config
from stack.procs import PYTHON, REPO_ROOT


def versions(base: Path, *numbers: int) -> Path:
    for number in numbers:
        (base / str(number)).mkdir(parents=True)
        (base / str(number) / "saved_model.pb").write_bytes(b"")
    return base


def test_a_fresh_config_serves_the_latest_version(tmp_path: Path) -> None:
    path, base = tmp_path / "run" / "models.config", versions(tmp_path / "models" / "tiny", 1, 2)
    assert run_config(path, "tiny", base, labelled=False) == {}
    (model,) = read_model_server_config(path).model_config_list.config
    assert (model.name, model.base_path) == ("tiny", str(base))
    assert model.model_version_policy.latest.num_versions == 1
    assert dict(model.version_labels) == {}


def test_with_a_canary_share_the_latest_version_is_pinned_as_stable(tmp_path: Path) -> None:
    path, base = tmp_path / "models.config", versions(tmp_path / "models" / "tiny", 1, 2)
    run_config(path, "tiny", base, labelled=True)
    (model,) = read_model_server_config(path).model_config_list.config
    assert list(model.model_version_policy.specific.versions) == [2]
    assert dict(model.version_labels) == {"stable": 2}


def test_a_roll_out_under_way_is_kept_and_another_models_config_is_not(tmp_path: Path) -> None:
    path, base = tmp_path / "models.config", versions(tmp_path / "models" / "tiny", 1)
    run_config(path, "tiny", base, labelled=True)
    rollout = Rollout(path, "tiny", servers=[], reload_targets=[], say=lambda _: None)
    rollout.canary(2, stable=1)  # no server to wait on: the labels are written at once
    assert run_config(path, "tiny", base, labelled=True) == {"stable": 1, "canary": 2}
    assert dict(read_model_server_config(path).model_config_list.config[0].version_labels) == {
        "stable": 1,
        "canary": 2,
    }
    assert run_config(path, "other", versions(tmp_path / "models" / "other", 1), labelled=True) == {}
    assert read_model_server_config(path).model_config_list.config[0].name == "other"


def test_make_runs_supervisor_loads_no_tensorflow_or_grpc() -> None:
    """`make run` starts in seconds and prints no C++ log: its supervisor reads the config as text."""
    code = (
        "import sys, stack.run, stack.model_config; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'tensorflow_serving', 'grpc'}))"
    )
    found = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert found.stdout.strip() == "[]"
    assert found.stderr == ""


def test_the_text_reader_agrees_with_tf_servings_parser(tmp_path: Path) -> None:
    path, base = tmp_path / "models.config", versions(tmp_path / "models" / "tiny", 1, 2)
    run_config(path, "tiny", base, labelled=True)
    Rollout(path, "tiny", servers=[], reload_targets=[], say=lambda _: None).canary(3, stable=2)
    (parsed,) = read_model_server_config(path).model_config_list.config
    assert labelled_versions(path, "tiny", base) == dict(parsed.version_labels) == {"stable": 2, "canary": 3}
    assert labelled_versions(path, "tiny", tmp_path / "elsewhere") == {}
