"""What docker compose does with deploy/.env before it reads docker-compose.yml: parse, then interpolate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_VARIABLE = re.compile(
    r"\$\$"  # an escaped dollar
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


class MissingVariableError(KeyError):
    """`${NAME:?message}` with NAME unset or empty, as compose refuses it."""


def parse_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{path}: not NAME=value: {raw!r}"
        values[name.strip()] = value.strip()
    return values


def variables_used(text: str) -> set[str]:
    return {m.group("name") or m.group("bare") for m in _VARIABLE.finditer(text) if m.group(0) != "$$"}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Substitute ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, $$."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = env.get(name)
        unset_or_empty = not current
        if op == ":-":
            return arg if unset_or_empty else current
        if op == "-":
            return arg if current is None else current
        if op in (":?", "?"):
            if unset_or_empty if op == ":?" else current is None:
                raise MissingVariableError(f"{name}: {arg}")
            return current
        if op == ":+":
            return "" if unset_or_empty else arg
        return current or ""

    return _VARIABLE.sub(substitute, value)


# compose replaces these sequences when a later file sets them (other sequences are merged by rules this
# helper does not need: it refuses them rather than guess)
_REPLACED_SEQUENCES = {"command", "entrypoint", "test"}


def merge(base: Any, override: Any, key: str = "") -> Any:
    """`docker compose -f base -f override`: mappings merged key by key, command/entrypoint replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            merged[name] = merge(base[name], value, name) if name in base else value
        return merged
    if isinstance(override, list) and key not in _REPLACED_SEQUENCES:
        raise NotImplementedError(f"merging the sequence {key!r} is not modelled here")
    return override
