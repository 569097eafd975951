"""What an encoded image declares in its header (format, size, frames), read without decoding a pixel, in
a bounded number of steps whatever the bytes.

Decoders allocate what the header declares: TensorFlow's `decode_image(expand_animations=False)` still
reads every frame of a GIF into memory (giflib's DGifSlurp) before it keeps the first one, and a few KB of
PNG can declare billions of pixels. And a header walk in Python costs per segment, not per byte: Pillow's
open walks every segment before a JPEG's scan and every chunk before a PNG's image data, so 24 MB of
6-byte JPEG comments or 15-byte PNG text chunks cost it ~5 s of CPU. Both services read the header here
first (the model server: serving/image_header.py; the gateway: gateway/services/image_check.py) and
refuse bytes whose walk would take more steps than any real image's.

`pixels` is what decoding costs: width x height, and for an animation the sum over its frames (each frame
at least the size of the canvas).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# A real JPEG has its scan within a few dozen segments, a PNG its image data within a few dozen chunks, a
# WebP its frames within a few chunks each: a header walk never loops over megabytes of crafted bytes.
_MAX_JPEG_SEGMENTS = 4096
_MAX_PNG_CHUNKS = 4096
_MAX_PNG_CHUNKS_IN_ALL = 2**16  # image data included: 25 MB of libpng's 8 KB IDAT chunks are ~3200
_MAX_WEBP_CHUNKS = 4096
# GIF data comes in sub-blocks of up to 255 bytes: 2**18 of them hold 64 MiB, more than any request. An
# extension (a comment, XMP) takes a few hundred at most; Pillow joins a comment's blocks one by one.
_MAX_GIF_SUB_BLOCKS = 2**18
_MAX_GIF_EXTENSION_BLOCKS = 2**14
# JPEG start-of-frame markers: C0-CF except C4 (DHT), C8 (reserved) and CC (DAC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    frames: int  # counted up to one more than the caller's limit
    pixels: int


class HeaderError(ValueError):
    """The bytes are not an image of a format the model's decoder reads, or its header is cut short."""


def format_of(data: bytes) -> str | None:
    """The format the bytes start like, of those read here (None: another one, or none)."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:2] == b"BM":
        return "BMP"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def walk_is_short(data: bytes) -> bool:
    """JPEG and PNG headers are read in a few bounded steps; a GIF or WebP walk may cross the whole file."""
    return format_of(data) in ("JPEG", "PNG")


def read_header(data: bytes, max_frames: int) -> ImageHeader:
    """The header of a JPEG, PNG, GIF, BMP or WebP file; frames are counted up to `max_frames + 1`."""
    image_format = format_of(data)
    try:
        if image_format == "JPEG":
            return _jpeg(data)
        if image_format == "PNG":
            return _png(data)
        if image_format == "GIF":
            return _gif(data, max_frames)
        if image_format == "BMP":
            width, height = struct.unpack_from("<ii", data, 18)
            return _still("BMP", abs(width), abs(height))
        if image_format == "WebP":
            return _webp(data, max_frames)
    except (struct.error, IndexError) as error:
        raise HeaderError("its header is cut short") from error
    raise HeaderError("unknown format (expected JPEG, PNG, GIF, BMP or WebP)")


def _still(image_format: str, width: int, height: int) -> ImageHeader:
    return ImageHeader(image_format, width, height, 1, width * height)


def _jpeg(data: bytes) -> ImageHeader:
    """The frame header's size; the walk goes on to the scan, which every decoder's walk reaches too."""
    position = 2
    size: tuple[int, int] | None = None
    for _ in range(_MAX_JPEG_SEGMENTS):
        while data[position] == 0xFF and data[position + 1] == 0xFF:  # fill bytes
            position += 1
        if data[position] != 0xFF:  # stray bytes before a marker: decoders skip them (libjpeg warns)
            position = data.find(b"\xff", position)
            if position < 0:
                raise HeaderError("its header is cut short")
            continue
        marker = data[position + 1]
        if marker in _JPEG_SOF and size is None:
            height, width = struct.unpack_from(">HH", data, position + 5)
            size = (width, height)
        if marker == 0xDA:
            if size is None:
                raise HeaderError("a JPEG scan starts before its frame header")
            return _still("JPEG", *size)
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack_from(">H", data, position + 2)
        position += 2 + length
    raise HeaderError(f"no JPEG scan in the first {_MAX_JPEG_SEGMENTS} segments")


def _png(data: bytes) -> ImageHeader:
    """The size, and the frames acTL declares, from before the image data; the chunks after it are walked
    too (a decoder's end walks them all), `_MAX_PNG_CHUNKS_IN_ALL` at most."""
    width, height = struct.unpack_from(">II", data, 16)
    frames = 1
    position = 8
    image_data = False
    for step in range(_MAX_PNG_CHUNKS_IN_ALL):
        if position + 8 > len(data):
            break
        length, kind = struct.unpack_from(">I4s", data, position)
        if not kind.isalpha():
            raise HeaderError(f"a PNG chunk has the invalid type {kind!r}")
        if kind == b"IEND":
            break
        if kind == b"acTL":
            (frames,) = struct.unpack_from(">I", data, position + 8)
        image_data = image_data or kind == b"IDAT"
        if step >= _MAX_PNG_CHUNKS and not image_data:
            raise HeaderError(f"no PNG image data in the first {_MAX_PNG_CHUNKS} chunks")
        position += 12 + length
    else:
        raise HeaderError(f"a PNG of more than {_MAX_PNG_CHUNKS_IN_ALL} chunks")
    return ImageHeader("PNG", width, height, max(frames, 1), width * height)


class _SubBlocks:
    """Skips GIF sub-block chains, at most `budget` blocks in all (1-byte blocks would otherwise make a 16
    MiB file cost millions of steps)."""

    def __init__(self, budget: int, kind: str) -> None:
        self.budget = self.left = budget
        self.kind = kind

    def skip(self, data: bytes, position: int) -> int:
        while True:
            self.left -= 1
            if self.left < 0:
                raise HeaderError(f"a GIF of more than {self.budget} {self.kind} blocks")
            size = data[position]
            position += 1 + size
            if size == 0:
                return position


def _gif(data: bytes, max_frames: int) -> ImageHeader:
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    canvas = width * height
    position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = pixels = 0
    blocks = _SubBlocks(_MAX_GIF_SUB_BLOCKS, "data")
    extensions = _SubBlocks(_MAX_GIF_EXTENSION_BLOCKS, "extension")
    while position < len(data) and frames <= max_frames:
        block = data[position]
        if block == 0x21:  # extension: label, then sub-blocks
            position = extensions.skip(data, position + 2)
        elif block == 0x2C:  # image descriptor: position, size, flags, [colour table], LZW size, data
            frame_width, frame_height, frame_flags = struct.unpack_from("<HHB", data, position + 5)
            position += 10 + (3 << ((frame_flags & 7) + 1) if frame_flags & 0x80 else 0)
            position = blocks.skip(data, position + 1)
            frames += 1
            pixels += max(canvas, frame_width * frame_height)
        else:  # trailer (0x3B) or bytes the decoder will refuse
            break
    return ImageHeader("GIF", width, height, max(frames, 1), max(pixels, canvas))


def _webp(data: bytes, max_frames: int) -> ImageHeader:
    kind = data[12:16]
    if kind == b"VP8 ":
        width, height = struct.unpack_from("<HH", data, 26)
        return _still("WebP", width & 0x3FFF, height & 0x3FFF)
    if kind == b"VP8L":
        (bits,) = struct.unpack_from("<I", data, 21)
        return _still("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if kind != b"VP8X":
        raise HeaderError(f"unknown WebP chunk {kind!r}")
    width = int.from_bytes(data[24:27], "little") + 1
    height = int.from_bytes(data[27:30], "little") + 1
    frames = 0
    position = 30
    for _ in range(_MAX_WEBP_CHUNKS):
        if position + 8 > len(data) or frames > max_frames:
            break
        chunk, length = struct.unpack_from("<4sI", data, position)
        frames += chunk == b"ANMF"
        position += 8 + length + (length & 1)
    else:
        raise HeaderError(f"a WebP of more than {_MAX_WEBP_CHUNKS} chunks")
    frames = max(frames, 1)
    return ImageHeader("WebP", width, height, frames, frames * width * height)
