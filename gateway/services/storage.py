"""Uploads: extension and content checks, then `UPLOAD_DIR/<md5><ext>`, written once, atomically."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import posixpath
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from fastapi import UploadFile
from PIL import Image

ALLOWED_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif"})
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF")
CHUNK = 256 * 1024


class UploadRejectedError(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


UNSUPPORTED = "File type is not supported."


def allowed_extension(filename: str | None) -> str | None:
    """The lower-case extension when allowed (the original's `os.path.splitext` rule), else None.

    `cat.JPGG`, `invoice.pdf`, `/usr/src/dog.`, `/usr/src/api/` → None; `../../car.PNG` → `.png`
    (only the extension is ever used: the stored name comes from the bytes).
    """
    ext = posixpath.splitext(filename or "")[1].lower()
    return ext if ext in ALLOWED_EXTENSIONS else None


async def read_limited(upload: UploadFile, max_bytes: int) -> bytes:
    """The upload's bytes, refused with 413 as soon as they pass `max_bytes` (never read further)."""
    chunks: list[bytes] = []
    total = 0
    while chunk := await upload.read(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise UploadRejectedError(413, f"File too large: the limit is {max_bytes} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


def inspect_image(data: bytes, max_pixels: int) -> ImageInfo:
    """Decode enough to be sure these are PNG/JPEG/GIF bytes of a sane size (blocking: run in a thread)."""
    if not data:
        raise UploadRejectedError(400, "The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise UploadRejectedError(
                        400, f"Image too large: {width}x{height} pixels (the limit is {max_pixels} pixels)."
                    )
                fmt = img.format or "?"
                img.draft("RGB", (224, 224))  # JPEG: decode at reduced scale, still reads every byte
                img.load()
    except UploadRejectedError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UploadRejectedError(400, f"Image too large: {exc}") from exc
    except Exception as exc:  # Pillow raises many kinds for bad data
        detail = f"{UNSUPPORTED} The bytes are not a readable PNG, JPEG or GIF image."
        raise UploadRejectedError(400, detail) from exc
    return ImageInfo(fmt, width, height)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class UploadStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, file_name: str) -> Path:
        return self.root / file_name

    async def save(self, data: bytes, md5: str, ext: str) -> str:
        """Store `data` (whose md5 the caller computed) as `<md5><ext>` unless that file exists already."""
        file_name = f"{md5}{ext}"
        path = self.path_of(file_name)
        # One stat of a local folder (microseconds, cheaper than the thread hop): the common case of bytes
        # seen before under this extension. Writing (with its fsync) stays in a worker thread.
        if not path.exists():
            await asyncio.to_thread(self._write_once, path, data)
        return file_name

    def _write_once(self, path: Path, data: bytes) -> None:
        if path.exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # same bytes stored concurrently: keep the first
                os.link(tmp, path)  # atomic, and unlike rename it never replaces an existing file
        finally:
            os.unlink(tmp)
