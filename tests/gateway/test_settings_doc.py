"""gateway/README.md's settings table is the one description of the gateway's settings: it names every field
of `Settings` with its default, and nothing else (but the variables libraries read)."""

from __future__ import annotations

import re
from pathlib import Path

from contracts import demo
from gateway.core.config import Settings
from stack.procs import REPO_ROOT

README = REPO_ROOT / "gateway" / "README.md"
# Read by libraries, not by Settings: documented in the same table.
LIBRARY_VARIABLES = {"PROMETHEUS_MULTIPROC_DIR"}


def documented() -> dict[str, str]:
    """variable -> its default as the table writes it (rows may pair variables: `A` / `B` | `1` / `2`)."""
    rows: dict[str, str] = {}
    for line in README.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        defaults = [part.strip().strip("`") for part in cells[1].split(" / ")]
        if len(defaults) != len(names):
            defaults = [cells[1].strip("`")] * len(names)
        rows.update(zip(names, defaults, strict=True))
    return rows


def rendered(name: str, value: object) -> str:
    if name == "SECRET_KEY":
        assert value == demo.SECRET_KEY
        return "demo key"
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Path):
        return value.as_posix()
    return str(value)


def test_the_table_names_every_setting_and_only_those() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert set(documented()) - LIBRARY_VARIABLES == fields


def test_the_table_gives_the_defaults_the_code_has() -> None:
    """The declared defaults (what `Settings()` has with nothing in the environment)."""
    table = documented()
    code = {
        name.upper(): rendered(name.upper(), field.default) for name, field in Settings.model_fields.items()
    }
    wrong = {name: (table.get(name), default) for name, default in code.items() if table.get(name) != default}
    assert not wrong, f"README default vs code default: {wrong}"
