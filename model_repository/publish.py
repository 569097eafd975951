"""Writing into a model repository so that a reader (a polling server, another replica) never sees half of
a file or a folder: everything is written under a hidden name beside its place, then renamed in one step."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` at once; a failure (a full disk) leaves no staging file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        staging.write_text(text, encoding="utf-8")
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


class PublishError(OSError):
    """The finished folder could not take its place (it exists, or the file system refused the rename)."""


@contextlib.contextmanager
def staged_directory(final: Path, *, replace: bool) -> Iterator[Path]:
    """An empty hidden folder beside `final`; when the block succeeds it becomes `final` in one rename.

    `replace`: an existing `final` is moved aside and removed (a stale cache); otherwise PublishError when
    `final` exists or appeared meanwhile. On any error nothing is left but what was there."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield staging
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a server under another user must read it
        try:
            if replace and final.exists():
                retired = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
                os.rename(final, retired)
                shutil.rmtree(retired, ignore_errors=True)
            os.rename(staging, final)
        except OSError as exc:
            raise PublishError(exc.errno, f"cannot publish {final}: {exc.strerror}") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
