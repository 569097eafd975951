"""Photos of past predictions on the page: small thumbnails and files Gradio can serve.

The gateway serves a prediction's photo to its owner only; what is fetched is cached per user, so one
person's files are never looked up under another's key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
from collections import OrderedDict
from pathlib import Path

from PIL import Image

log = logging.getLogger(__name__)

THUMBNAIL_PX = 192
MAX_PIXELS = 50_000_000  # the gateway's own checks come first; this only bounds our own decoding


def thumbnail(content: bytes, size: int = THUMBNAIL_PX) -> bytes | None:
    """A JPEG at most `size` pixels on its longer side; None for bytes PIL cannot read."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            if image.width * image.height > MAX_PIXELS:
                return None
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
            image.thumbnail((size, size))
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=82)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        log.info("no thumbnail: %s", exc)
        return None


def no_photo(size: int = THUMBNAIL_PX) -> bytes:
    """A plain grey JPEG tile, for a file that has no thumbnail of its own (refused or unreadable)."""
    out = io.BytesIO()
    Image.new("RGB", (size, size), (226, 228, 232)).save(out, format="JPEG", quality=82)
    return out.getvalue()


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


class ImageFiles:
    """Files under `folder` for Gradio to serve (it copies them into its own cache), plus an in-memory
    LRU of thumbnails keyed by (user, prediction id)."""

    def __init__(self, folder: Path, max_thumbnails: int = 2000) -> None:
        self.folder = folder
        self._thumbs: OrderedDict[tuple[str, int], bytes | None] = OrderedDict()
        self._max = max_thumbnails

    def _user_dir(self, user: str) -> Path:
        path = self.folder / hashlib.sha256(user.encode()).hexdigest()[:16]
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def write(self, user: str, name: str, content: bytes) -> Path:
        path = self._user_dir(user) / Path(name).name
        await asyncio.to_thread(path.write_bytes, content)
        return path

    def cached_thumbnail(self, user: str, prediction_id: int) -> tuple[bool, bytes | None]:
        key = (user, prediction_id)
        if key in self._thumbs:
            self._thumbs.move_to_end(key)
            return True, self._thumbs[key]
        return False, None

    def keep_thumbnail(self, user: str, prediction_id: int, jpeg: bytes | None) -> None:
        self._thumbs[(user, prediction_id)] = jpeg
        while len(self._thumbs) > self._max:
            self._thumbs.popitem(last=False)
