"""Hostile uploads, made here at test time: a PNG dimension bomb, animated GIFs, a large plain PNG."""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache

from PIL import Image


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@cache
def png_of_zeros(width: int, height: int) -> bytes:
    """A valid RGBA PNG of `width` x `height` transparent pixels, compressed row by row (7071 x 7071 is
    about 200 KB on disk and 200 MB once decoded) without ever holding the pixels in memory."""
    row = b"\x00" * (1 + 4 * width)  # filter byte "none", then the pixels
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


@cache
def animated_gif(frames: int, size: tuple[int, int] = (16, 16)) -> bytes:
    """`frames` frames of distinct solid colours (the GIF writer merges identical neighbours)."""
    images = [Image.new("P", size, color=index % 256) for index in range(frames)]
    for index, image in enumerate(images):
        image.putpalette(bytes((index * 7 + channel * 85) % 256 for _ in range(256) for channel in range(3)))
        image.putpixel((0, 0), (index // 256) % 256)  # keeps frames over 256 distinct too
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=10, loop=0)
    return out.getvalue()
