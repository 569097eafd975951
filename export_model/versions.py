"""An atomic publish of a version folder, so a polling server never sees half a model.

The layout (what a version folder is, the next free number) is `model_repository`'s. A polling server
only considers folders whose name is a positive integer, so a model is written under a hidden temporary
name beside its final place and renamed in one step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from export_model.errors import ExportError
from model_repository.publish import PublishError, staged_directory


@contextlib.contextmanager
def publishing(base: Path, version: int) -> Iterator[Path]:
    """Yield an empty temporary folder; on success rename it to ``base/<version>``, on error remove it."""
    if version < 1:
        raise ExportError(f"--version must be a positive integer, got {version}")
    final = base / str(version)
    if final.exists():
        raise ExportError(
            f"{final} already exists; versions are never overwritten (omit --version for the next)"
        )
    try:
        with staged_directory(final, replace=False) as staging:
            yield staging
    except PublishError as exc:
        raise ExportError(str(exc)) from exc
