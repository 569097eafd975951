"""Photos made at test time as a phone would send them: large JPEGs (with an EXIF orientation), WebP, HEIC."""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()
ORIENTATION = 0x0112


def _scene(width: int, height: int, seed: int) -> Image.Image:
    """Smooth colour blobs plus a sensor's grain, so the encoded size is a phone photo's (a 24 MP JPEG at
    quality 90: about 5 MB, a 50 MP one 11 MB)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, height // 64), max(2, width // 64), 3)).astype(np.uint8)
    scene = Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)
    grain = Image.fromarray(rng.integers(0, 256, (height // 2, width // 2), dtype=np.uint8)).resize(
        (width, height), Image.Resampling.NEAREST
    )
    return Image.blend(scene, Image.merge("RGB", (grain, grain, grain)), 0.06)


@cache
def photo(fmt: str, width: int, height: int, seed: int = 0, orientation: int | None = None) -> bytes:
    """An RGB photo encoded as `fmt` (JPEG, PNG, WEBP, HEIF), at quality 90 where it has one."""
    img = _scene(width, height, seed)
    out = io.BytesIO()
    options: dict[str, object] = {"quality": 90} if fmt in ("JPEG", "WEBP", "HEIF") else {}
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        options["exif"] = exif.tobytes()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def size_of(data: bytes) -> tuple[str, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as img:
        return img.format or "?", img.size
