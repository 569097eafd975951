"""The model config file (TF Serving's text format) that `make serve` and `make run` give their servers."""

from __future__ import annotations

from pathlib import Path

from serving.config import ConfigError, read_model_server_config

POLICY = "model_version_policy { latest { num_versions: 1 } }"


def model_config_text(models: dict[str, Path], header: str) -> str:
    """Serving the latest version of each model: {name: base path}."""
    entries = "".join(
        f'  config {{\n    name: "{name}"\n    base_path: "{base}"\n    model_platform: "tensorflow"\n'
        f"    {POLICY}\n  }}\n"
        for name, base in models.items()
    )
    return f"{header}model_config_list {{\n{entries}}}\n"


def labelled_versions(path: Path, model: str, base: Path) -> dict[str, int]:
    """The version labels `path` gives `model` at `base` (a roll-out under way), or {} when it gives none."""
    try:
        config = read_model_server_config(path)
    except (OSError, ConfigError):
        return {}
    found = [c for c in config.model_config_list.config if c.name == model and Path(c.base_path) == base]
    return dict(found[0].version_labels) if len(config.model_config_list.config) == 1 and found else {}


def run_config(path: Path, model: str, base: Path) -> dict[str, int]:
    """Write `make run`'s config serving `model`'s latest version, unless `path` holds a roll-out of it
    (labels that `make canary`/`promote` wrote): a restart keeps those. Returns the labels kept."""
    kept = labelled_versions(path, model, base)
    if not kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "# written by `make run`; `make canary/promote/rollback` move its labels\n"
        path.write_text(model_config_text({model: base}, header))
    return kept
