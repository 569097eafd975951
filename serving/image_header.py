"""What an encoded image declares in its header (format, size, frames), read without decoding a pixel.

TensorFlow's decoders allocate what the header declares: `decode_image(expand_animations=False)` still
reads every frame of a GIF into memory (giflib's DGifSlurp) before it keeps the first one, and a few KB of
PNG can declare billions of pixels. So the server reads the headers itself, bounded by the bytes present,
and refuses an image over the frame or pixel limit before anything is decoded.

`pixels` is what decoding costs: width x height, and for an animation the sum over its frames (each frame
at least the size of the canvas).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from serving.errors import invalid_argument

# A real JPEG has its frame header within a few dozen segments, a PNG its image data within a few dozen
# chunks: a header walk never loops over megabytes of crafted bytes.
_MAX_JPEG_SEGMENTS = 4096
_MAX_PNG_CHUNKS = 4096
# GIF data comes in sub-blocks of up to 255 bytes: 2**18 of them hold 64 MiB, more than any request.
_MAX_GIF_SUB_BLOCKS = 2**18
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


def walk_is_short(data: bytes) -> bool:
    """JPEG and PNG headers are read in a few bounded steps; a GIF or WebP walk may cross the whole file."""
    return data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n"


def read_header(data: bytes, max_frames: int) -> ImageHeader:
    """The header of a JPEG, PNG, GIF, BMP or WebP file; frames are counted up to `max_frames + 1`."""
    try:
        if data[:3] == b"\xff\xd8\xff":
            return _jpeg(data)
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _png(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _gif(data, max_frames)
        if data[:2] == b"BM":
            width, height = struct.unpack_from("<ii", data, 18)
            return _still("BMP", abs(width), abs(height))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data, max_frames)
    except (struct.error, IndexError) as error:
        raise HeaderError("its header is cut short") from error
    raise HeaderError("unknown format (expected JPEG, PNG, GIF, BMP or WebP)")


def check_image(alias: str, index: int, data: bytes, max_pixels: int, max_frames: int) -> None:
    """Refuse (INVALID_ARGUMENT, naming the limit) an image over the pixel or frame limit, from its header."""
    try:
        header = read_header(data, max_frames)
    except HeaderError as error:
        raise invalid_argument(f"{alias}[{index}] is not a decodable image: {error}") from error
    if header.pixels == 0:
        raise invalid_argument(
            f"{alias}[{index}] is not a decodable image: its header declares an empty "
            f"{header.width}x{header.height} {header.format}"
        )
    if header.frames > max_frames:
        raise invalid_argument(
            f"{alias}[{index}] is an animated {header.format} of more than {max_frames} frames; the limit is "
            f"{max_frames} (--max_image_frames)"
        )
    if header.pixels > max_pixels:
        frames = f" over its {header.frames} frames" if header.frames > 1 else ""
        raise invalid_argument(
            f"{alias}[{index}] declares {header.pixels} pixels ({header.format} "
            f"{header.width}x{header.height}{frames}); the limit is {max_pixels} (--max_image_pixels)"
        )


def _still(image_format: str, width: int, height: int) -> ImageHeader:
    return ImageHeader(image_format, width, height, 1, width * height)


def _jpeg(data: bytes) -> ImageHeader:
    position = 2
    for _ in range(_MAX_JPEG_SEGMENTS):
        while data[position] == 0xFF and data[position + 1] == 0xFF:  # fill bytes
            position += 1
        if data[position] != 0xFF:
            raise HeaderError("a JPEG segment does not start with a marker")
        marker = data[position + 1]
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, position + 5)
            return _still("JPEG", width, height)
        if marker == 0xDA:
            raise HeaderError("a JPEG scan starts before its frame header")
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack_from(">H", data, position + 2)
        position += 2 + length
    raise HeaderError(f"no JPEG frame header in the first {_MAX_JPEG_SEGMENTS} segments")


def _png(data: bytes) -> ImageHeader:
    width, height = struct.unpack_from(">II", data, 16)
    frames = 1
    position = 8
    for _ in range(_MAX_PNG_CHUNKS):  # chunks before the image data; acTL says how many frames
        if position + 8 > len(data):
            break
        length, kind = struct.unpack_from(">I4s", data, position)
        if not kind.isalpha():
            raise HeaderError(f"a PNG chunk has the invalid type {kind!r}")
        if kind == b"acTL":
            (frames,) = struct.unpack_from(">I", data, position + 8)
        if kind in (b"IDAT", b"IEND"):
            break
        position += 12 + length
    return ImageHeader("PNG", width, height, max(frames, 1), width * height)


class _SubBlocks:
    """Skips GIF sub-block chains, at most `_MAX_GIF_SUB_BLOCKS` in all (1-byte blocks would otherwise make
    a 16 MiB file cost millions of steps)."""

    def __init__(self) -> None:
        self.left = _MAX_GIF_SUB_BLOCKS

    def skip(self, data: bytes, position: int) -> int:
        while True:
            self.left -= 1
            if self.left < 0:
                raise HeaderError(f"a GIF of more than {_MAX_GIF_SUB_BLOCKS} data blocks")
            size = data[position]
            position += 1 + size
            if size == 0:
                return position


def _gif(data: bytes, max_frames: int) -> ImageHeader:
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    canvas = width * height
    position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = pixels = 0
    blocks = _SubBlocks()
    while position < len(data) and frames <= max_frames:
        block = data[position]
        if block == 0x21:  # extension: label, then sub-blocks
            position = blocks.skip(data, position + 2)
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
    while position + 8 <= len(data) and frames <= max_frames:
        chunk, length = struct.unpack_from("<4sI", data, position)
        frames += chunk == b"ANMF"
        position += 8 + length + (length & 1)
    frames = max(frames, 1)
    return ImageHeader("WebP", width, height, frames, frames * width * height)
