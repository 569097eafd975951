"""Pick the model to serve: export it when `models/` has none, fall back to bundled weights when offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stack.config import StackSettings


def has_version(base: Path) -> bool:
    return base.is_dir() and any(
        child.name.isdigit() and (child / "saved_model.pb").exists() for child in base.iterdir()
    )


def export(model: str, settings: StackSettings, weights: str | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "export_model", "--model", model, "--out", str(settings.models_dir)]
    if weights:
        args += ["--weights", weights]
    log = settings.log_dir / "export.log"
    with log.open("ab") as out:
        return subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, check=False)


def banner(lines: list[str]) -> str:
    width = max(len(line) for line in lines) + 4
    rule = "!" * width
    return "\n".join([rule, *(f"! {line.ljust(width - 4)} !" for line in lines), rule])


def ensure_model(settings: StackSettings, say=print) -> str:
    """Return the name of a model with at least one exported version, exporting one if needed."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    wanted = settings.model
    if has_version(settings.models_dir / wanted):
        return wanted

    weights = None
    if wanted == "resnet50":
        weights = str(settings.resnet50_weights) if settings.resnet50_weights else "imagenet"
    say(f"exporting {wanted} (weights: {weights or 'bundled'}) into {settings.models_dir}/ …")
    if export(wanted, settings, weights).returncode == 0 and has_version(settings.models_dir / wanted):
        return wanted

    fallback = settings.fallback_model
    say(
        banner(
            [
                f"Could not export {wanted} (weights: {weights or 'bundled'}).",
                f"Details: {settings.log_dir / 'export.log'}",
                f"Falling back to {fallback}, whose real ImageNet weights ship in a Python package.",
                "For ResNet50 offline: RESNET50_WEIGHTS=/path/to/resnet50_weights.h5 make run",
                "Every prediction names the model that answered.",
            ]
        )
    )
    if has_version(settings.models_dir / fallback):
        return fallback
    say(f"exporting {fallback} into {settings.models_dir}/ …")
    if export(fallback, settings).returncode != 0 or not has_version(settings.models_dir / fallback):
        raise SystemExit(f"export of {fallback} failed too; see {settings.log_dir / 'export.log'}")
    return fallback
