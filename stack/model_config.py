"""The model config file (TF Serving's text format) that `make serve` and `make run` give their servers."""

from __future__ import annotations

from pathlib import Path

import model_repository
from serving.config import ConfigError, read_model_server_config
from serving.rollout import STABLE

LATEST = "model_version_policy { latest { num_versions: 1 } }"
HEADER = "# written by `make run`; `make canary/promote/rollback` move its labels\n"


def model_config_text(models: dict[str, Path], header: str, policy: str = LATEST) -> str:
    """Serving each model ({name: base path}) under `policy`: by default its latest version."""
    entries = "".join(
        f'  config {{\n    name: "{name}"\n    base_path: "{base}"\n    model_platform: "tensorflow"\n'
        f"    {policy}\n  }}\n"
        for name, base in models.items()
    )
    return f"{header}model_config_list {{\n{entries}}}\n"


def pinned_policy(version: int) -> str:
    """Only `version`, labelled stable: a version exported later waits for `make canary`."""
    return (
        f"model_version_policy {{ specific {{ versions: {version} }} }}\n"
        f'    version_labels {{ key: "{STABLE}" value: {version} }}'
    )


def labelled_versions(path: Path, model: str, base: Path) -> dict[str, int]:
    """The version labels `path` gives `model` at `base` (a roll-out under way), or {} when it gives none."""
    try:
        config = read_model_server_config(path)
    except (OSError, ConfigError):
        return {}
    found = [c for c in config.model_config_list.config if c.name == model and Path(c.base_path) == base]
    return dict(found[0].version_labels) if len(config.model_config_list.config) == 1 and found else {}


def run_config(path: Path, model: str, base: Path, *, labelled: bool) -> dict[str, int]:
    """Write `make run`'s config for `model`: its latest version, or with `labelled` (a canary share is
    set) that version pinned as stable. A roll-out of the same model in `path` (labels `make canary` or
    `make promote` wrote) is kept instead, so a restart does not undo it. Returns the labels kept."""
    kept = labelled_versions(path, model, base) if labelled else {}
    if not kept:
        latest = model_repository.latest_version(base)
        policy = pinned_policy(latest) if labelled and latest is not None else LATEST
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(model_config_text({model: base}, HEADER, policy))
    return kept
