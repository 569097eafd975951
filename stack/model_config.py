"""The model config file (TF Serving's text format) that `make serve` and `make run` give their servers."""

from __future__ import annotations

import re
from pathlib import Path

import model_repository
from contracts.versions import STABLE

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


_CONFIG = re.compile(r"^\s*config\s*\{", re.M)
_FIELD = r'^\s*{}:\s*"([^"]*)"'
_LABEL = re.compile(r'version_labels\s*\{\s*key:\s*"([^"]+)"\s*value:\s*(\d+)\s*\}')


def labelled_versions(path: Path, model: str, base: Path) -> dict[str, int]:
    """The version labels `path` gives `model` at `base` (a roll-out under way), or {} when it gives none.

    Read from the text as `make run` and `serving.rollout` write it (text_format's own layout), not through
    TF Serving's proto: that module imports TensorFlow, which `make run`'s supervisor never loads. A file of
    any other shape reads as no roll-out, and `make run` writes its own."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    name, base_path = (re.search(_FIELD.format(key), text, re.M) for key in ("name", "base_path"))
    if len(_CONFIG.findall(text)) != 1 or not name or not base_path:
        return {}
    if name.group(1) != model or Path(base_path.group(1)) != base:
        return {}
    return {label: int(version) for label, version in _LABEL.findall(text)}


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
