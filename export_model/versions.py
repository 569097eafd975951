"""An atomic publish of a version folder, so a polling server never sees half a model.

The layout (what a version folder is, the next free number) is `model_repository`'s. A polling server
only considers folders whose name is a positive integer, so a model is written under a hidden temporary
name beside its final place and renamed in one step.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from export_model.errors import ExportError


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
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=base))
    try:
        yield staging
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a server under another user must read it
        try:
            os.rename(staging, final)  # atomic on one file system; fails if `final` appeared meanwhile
        except OSError as exc:
            raise ExportError(f"cannot publish {final}: {exc}") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
