"""Distinct test pictures, so a load test can choose between the gateway's cache and the model.

Each picture is a few random colour cells scaled up smoothly: cheap to make (~2 ms), about 11 KB as JPEG,
and a different file for every (nonce, index). A fresh nonce per run keeps a later run from hitting the
answers an earlier run left in a gateway's cache.
"""

from __future__ import annotations

import io
import secrets

import numpy as np
from PIL import Image

SIZE = (320, 240)


def run_nonce() -> int:
    return secrets.randbits(48)


def distinct_jpeg(index: int, nonce: int = 0, size: tuple[int, int] = SIZE, quality: int = 85) -> bytes:
    rng = np.random.default_rng([nonce, index])
    cells = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    picture = Image.fromarray(cells).resize(size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def jpeg_pool(count: int, nonce: int = 0) -> list[bytes]:
    return [distinct_jpeg(index, nonce) for index in range(count)]
