"""Uploads: extension and size checks, then `UPLOAD_DIR/<user id>/<md5><ext>`, written once, atomically.

Each user's files live in their own folder, so nothing about one user's uploads (whether a file exists, how
long a write takes, deleting it) ever depends on another user's.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import itertools
import logging
import os
import posixpath
import re
import unicodedata
from pathlib import Path

from starlette.datastructures import UploadFile

from gateway.core.wording import too_large_file

log = logging.getLogger("gateway.storage")
CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
}
ALLOWED_EXTENSIONS = frozenset(CONTENT_TYPES)
CHUNK = 256 * 1024
MAX_ORIGINAL_NAME = 255
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
DISK_FULL = "The server's storage is full: the upload was not stored. Try again later."
STORAGE_DOWN = "Uploads cannot be stored right now. Try again later."


class UploadRejectedError(Exception):
    def __init__(self, status_code: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


UNSUPPORTED = "File type is not supported."


def allowed_extension(filename: str | None) -> str | None:
    """The lower-case extension when allowed (the original's `os.path.splitext` rule), else None.

    `cat.JPGG`, `invoice.pdf`, `/usr/src/dog.`, `/usr/src/api/` → None; `../../car.PNG` → `.png`
    (only the extension is ever used: the stored name comes from the bytes).
    """
    ext = posixpath.splitext(filename or "")[1].lower()
    return ext if ext in ALLOWED_EXTENSIONS else None


_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>:\"|?*]")


def original_name(filename: str | None) -> str | None:
    """The name the user's file had, kept for their own history only: the last path part, printable
    characters only, NFC, at most 255 characters with the extension kept; None when nothing is left."""
    if not filename:
        return None
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    # No control, format (bidi overrides could disguise the extension), surrogate, private or unassigned.
    name = "".join(ch for ch in _UNSAFE.sub("", name) if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".")
    if not name:
        return None
    if len(name) > MAX_ORIGINAL_NAME:
        stem, ext = posixpath.splitext(name)
        ext = ext[:16]
        name = stem[: MAX_ORIGINAL_NAME - len(ext)] + ext
    return name


async def read_limited(upload: UploadFile, max_bytes: int) -> bytes:
    """The upload's bytes, refused with 413 as soon as they pass `max_bytes` (never read further)."""
    chunks: list[bytes] = []
    total = 0
    while chunk := await upload.read(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise UploadRejectedError(413, too_large_file(max_bytes))
        chunks.append(chunk)
    return b"".join(chunks)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _storage_error(exc: OSError) -> UploadRejectedError:
    if exc.errno in DISK_FULL_ERRNOS:
        log.error("upload not stored, the disk is full: %s", exc)
        return UploadRejectedError(507, DISK_FULL)
    log.error("upload not stored: %s: %s", type(exc).__name__, exc)
    return UploadRejectedError(503, STORAGE_DOWN)


class UploadStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, user_id: int, file_name: str) -> Path:
        return self.root / str(user_id) / file_name

    async def save(self, user_id: int, data: bytes, md5: str, ext: str) -> tuple[str, bool]:
        """Store `data` (whose md5 the caller computed) as the user's `<md5><ext>` unless it is there
        already; the file name, and whether this call created the file. A full disk is 507, other
        storage failures 503, and neither leaves a partial file behind."""
        file_name = f"{md5}{ext}"
        path = self.path_of(user_id, file_name)
        # One stat of a local folder (microseconds, cheaper than the thread hop): the common case of bytes
        # this user sent before under this extension. Writing (with its fsync) stays in a worker thread.
        if path.exists():
            return file_name, False
        try:
            created = await asyncio.to_thread(self._write_once, path, data)
        except OSError as exc:
            raise _storage_error(exc) from exc
        return file_name, created

    def stored_path(self, user_id: int, file_name: str) -> Path | None:
        """Where this user's file is, if anywhere: their folder, else the flat layout of uploads stored
        before per-user folders (the same bytes, since the name is their md5). One or two stats."""
        for path in (self.path_of(user_id, file_name), self.root / file_name):
            if path.is_file():
                return path
        return None

    async def remove(self, user_id: int, file_name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.path_of(user_id, file_name).unlink)

    @staticmethod
    def _write_once(path: Path, data: bytes) -> bool:
        """A temporary file beside `path`, written and fsynced, then linked under its name (atomic, and
        unlike rename never replacing a file there). Plain system calls, as few as it takes: each is a turn
        of the GIL with the event loop, contended under load."""
        fd, tmp = _create_temporary(path.parent)
        try:
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except BaseException:
                with contextlib.suppress(OSError):  # the write's error (a full disk) is the one to tell
                    os.close(fd)
                raise
            os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:  # the same bytes stored concurrently: keep the first
                return False
            return True
        finally:
            os.unlink(tmp)


_TEMPORARY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_temporary_names = itertools.count()


def _create_temporary(folder: Path) -> tuple[int, Path]:
    """A new file of this process's (mode 0600) in `folder`, which is created when missing."""
    while True:
        tmp = folder / f".upload-{os.getpid()}-{next(_temporary_names)}.part"
        try:
            return os.open(tmp, _TEMPORARY_FLAGS, 0o600), tmp
        except FileNotFoundError:  # the user's first upload
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # left by a process that had this pid (a container's) and crashed
            continue


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
