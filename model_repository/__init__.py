"""The model-repository layout, TF Serving's, in one place (no TensorFlow, importable by every package).

A model lives in `<base>` = `<models_dir>/<name>/`, one folder per version: `<base>/<version>/`. A version
is a folder whose name is a positive integer (`1`, `2`, …; `0`, `-1`, `01x` are not versions) and that
holds `saved_model.pb`. A numbered folder without it is incomplete (being written or broken): it is not
servable, but its number is taken, so the next export gets a higher one. Anything else (files, hidden
temporary folders such as export's `.3.tmp-…`) is ignored.
"""

from __future__ import annotations

from pathlib import Path

SAVED_MODEL = "saved_model.pb"


def _number(entry: Path) -> int | None:
    """The version number a folder's name claims, or None (not a folder, not a positive integer)."""
    name = entry.name
    if not (name.isascii() and name.isdigit()) or not entry.is_dir():
        return None
    number = int(name)
    return number if number > 0 else None


def is_version_dir(path: Path) -> bool:
    """`path` is a complete version folder: a positive integer name and a saved_model.pb."""
    return _number(path) is not None and (path / SAVED_MODEL).is_file()


def version_dirs(base: Path) -> dict[int, Path]:
    """Complete versions under `base`, by number, ascending; {} when `base` does not exist."""
    if not base.is_dir():
        return {}
    found = {number: entry for entry in base.iterdir() if (number := _number(entry)) is not None}
    return {number: found[number] for number in sorted(found) if (found[number] / SAVED_MODEL).is_file()}


def versions(base: Path) -> list[int]:
    """Complete version numbers under `base`, ascending."""
    return list(version_dirs(base))


def latest_version(base: Path) -> int | None:
    numbers = versions(base)
    return numbers[-1] if numbers else None


def latest_version_dir(base: Path) -> Path | None:
    number = latest_version(base)
    return None if number is None else base / str(number)


def has_version(base: Path) -> bool:
    return latest_version(base) is not None


def next_version(base: Path) -> int:
    """One above every numbered folder, complete or not, so a new export never reuses a taken number."""
    if not base.is_dir():
        return 1
    taken = [number for entry in base.iterdir() if (number := _number(entry)) is not None]
    return max(taken, default=0) + 1


def resolve_version_dir(path: Path) -> Path:
    """`path` itself when it is a version folder, else the latest version of the model folder `path`."""
    if (path / SAVED_MODEL).is_file():
        return path
    latest = latest_version_dir(path)
    if latest is None:
        raise FileNotFoundError(f"{path} is neither a version folder nor a model folder with versions")
    return latest


def models(models_dir: Path) -> dict[str, Path]:
    """Model folders under `models_dir` that hold at least one complete version, by name (sorted)."""
    if not models_dir.is_dir():
        return {}
    return {
        entry.name: entry
        for entry in sorted(models_dir.iterdir())
        if entry.is_dir() and not entry.name.startswith(".") and has_version(entry)
    }
