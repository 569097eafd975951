"""The style and type gates run with the tests, so CI refuses code that `make lint` would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stack.procs import REPO_ROOT

RUFF = Path(sys.executable).parent / "ruff"
MYPY = Path(sys.executable).parent / "mypy"


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]], ids=["check", "format"])
def test_ruff_is_clean(args: list[str]) -> None:
    result = subprocess.run([str(RUFF), *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    """mypy with no arguments reads its files and strictness from pyproject.toml, as `make lint` runs it."""
    result = subprocess.run([str(MYPY)], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
