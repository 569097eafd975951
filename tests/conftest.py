"""Fixtures shared by every part's tests. Each part's own fixtures live in its folder's conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.procs import REPO_ROOT

pytest_plugins = ["tests.model_fixtures", "tests.serving_fixtures"]

TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def reference_dog_jpeg() -> bytes:
    """The original project's reference photo (tests/data/README.md says where it comes from)."""
    return (TEST_DATA / "dog.jpeg").read_bytes()


@pytest.fixture(scope="session")
def test_output_dir() -> Path:
    """Screenshots and reports that a person may want to look at after a run."""
    path = REPO_ROOT / "test-output"
    path.mkdir(exist_ok=True)
    return path
