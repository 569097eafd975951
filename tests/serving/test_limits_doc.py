"""The README's table of model server limits names every flag of `Limits` with its default, and no other."""

from __future__ import annotations

import re
from dataclasses import fields

from serving.limits import Limits
from stack.procs import REPO_ROOT


def documented() -> dict[str, str]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index("### Model server limits") :]
    section = section[: section.index("\n## ")]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = re.findall(r"`--([a-z_]+)`", cells[0]) if len(cells) >= 3 else []
        if not names:
            continue
        defaults = re.findall(r"`(\d+)`", cells[1])
        rows.update(zip(names, defaults, strict=True))
    return rows


def test_the_table_is_the_limits_with_their_defaults() -> None:
    assert documented() == {f.name: str(f.default) for f in fields(Limits)}
