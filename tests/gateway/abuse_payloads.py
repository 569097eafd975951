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


@cache
def jpeg_of_comments(size: int) -> bytes:
    """A JPEG start, then `size` bytes of 6-byte comment segments before a frame header and a scan: Pillow's
    open walks every segment in Python (~1 µs each)."""
    frame = b"\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + b"\xff\xfe\x00\x04ab" * (size // 6) + frame + b"\xff\xda\x00\x02\xff\xd9"


@cache
def png_of_text_chunks(count: int) -> bytes:
    """A 16 x 16 PNG whose image data follows `count` tiny text chunks, each walked by Pillow's open."""
    header = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    pixels = zlib.compress((b"\x00" + b"\x00" * 48) * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"tEXt", b"a\0b") * count
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )
