"""`python -m serving.rollout` on a config file, with no server to wait on: each command's file and code."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.config import read_model_server_config
from serving.rollout import main

CONFIG = 'model_config_list { config { name: "m" base_path: "/models/m" model_platform: "tensorflow" } }\n'


def labels(path: Path) -> dict[str, int]:
    return dict(read_model_server_config(path).model_config_list.config[0].version_labels)


def test_canary_promote_and_a_refused_rollback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "models.config"
    path.write_text(CONFIG)
    args = ["--config", str(path), "--model", "m"]
    assert main([*args, "canary", "2", "--stable", "1"]) == 0
    assert labels(path) == {"stable": 1, "canary": 2}
    assert main([*args, "promote"]) == 0
    assert labels(path) == {"stable": 2}
    assert list(
        read_model_server_config(path).model_config_list.config[0].model_version_policy.specific.versions
    ) == [2]
    assert main([*args, "rollback"]) == 1
    assert "no canary" in capsys.readouterr().err
    assert main([*args, "show"]) == 0
