"""Image headers read without decoding (contracts/image_header.py): the sizes and frame counts Pillow wrote,
for every format, and a bounded walk whatever the bytes."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from contracts.image_header import HeaderError, format_of, read_header


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def frames(count: int, size: tuple[int, int]) -> list[Image.Image]:
    return [Image.new("RGB", size, (index * 7 % 256, 255 - index, 0)) for index in range(count)]


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "GIF", "BMP", "WEBP"])
def test_a_still_image_reports_its_size(image_format: str) -> None:
    header = read_header(encode(Image.new("RGB", (321, 123), "red"), image_format), max_frames=10)
    assert (header.width, header.height, header.frames, header.pixels) == (321, 123, 1, 321 * 123)


def test_a_progressive_jpeg_with_metadata_reports_its_size() -> None:
    image = Image.new("RGB", (640, 480), "blue")
    data = encode(image, "JPEG", progressive=True, exif=b"Exif\0\0" + b"\0" * 2000, icc_profile=b"\0" * 5000)
    assert (read_header(data, 1).width, read_header(data, 1).height) == (640, 480)


@pytest.mark.parametrize("image_format", ["GIF", "PNG", "WEBP"])
def test_animation_frames_are_counted_up_to_one_past_the_limit(image_format: str) -> None:
    images = frames(12, (40, 30))
    data = encode(images[0], image_format, save_all=True, append_images=images[1:], duration=50)
    assert read_header(data, max_frames=100).frames == 12
    assert read_header(data, max_frames=5).frames >= 6


def test_an_animated_gif_costs_the_pixels_of_all_its_frames() -> None:
    images = frames(10, (100, 100))
    data = encode(images[0], "GIF", save_all=True, append_images=images[1:], optimize=False)
    assert read_header(data, max_frames=100).pixels == 10 * 100 * 100


@pytest.mark.parametrize(
    "data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n\0\0", b"GIF89a\x01", b"\xff\xd8\xff"]
)
def test_unknown_or_cut_short_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(HeaderError):
        read_header(data, max_frames=10)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


JPEG_FRAME = b"\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
JPEG_COMMENT = b"\xff\xfe\x00\x04ab"
PNG_IHDR = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
PNG_START = b"\x89PNG\r\n\x1a\n" + PNG_IHDR
GIF_START = b"GIF89a\x10\x00\x10\x00\x00\x00\x00"  # 16 x 16, no colour table


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xd8" + JPEG_COMMENT * 5000 + JPEG_FRAME + b"\xff\xda\x00\x02", "no JPEG scan"),
        (b"\xff\xd8" + JPEG_FRAME + JPEG_COMMENT * 5000 + b"\xff\xda\x00\x02", "no JPEG scan"),
        (b"\x89PNG\r\n\x1a\n" + PNG_IHDR + _png_chunk(b"tEXt", b"a\0b") * 5000, "no PNG image data"),
        (b"RIFF\0\0\0\0WEBPVP8X" + b"\0" * 14 + b"EXIF\0\0\0\0" * 5000, "more than 4096 chunks"),
        (
            b"\x89PNG\r\n\x1a\n"
            + PNG_IHDR
            + _png_chunk(b"IDAT", b"")
            + _png_chunk(b"tEXt", b"a\0b") * 70_000,
            "more than 65536 chunks",
        ),
        (
            b"GIF89a\x10\x00\x10\x00\x00\x00\x00" + b"\x21\xfe" + b"\x01c" * 20_000 + b"\x00;",
            "extension blocks",
        ),
    ],
    ids=[
        "jpeg segments before the frame",
        "jpeg segments before the scan",
        "png chunks",
        "webp chunks",
        "png chunks after the image data",
        "gif comment blocks",
    ],
)
def test_a_header_of_more_steps_than_any_real_images_is_refused(data: bytes, reason: str) -> None:
    """Pillow's walk of such headers costs per segment: 24 MB of them, seconds of CPU."""
    with pytest.raises(HeaderError, match=reason):
        read_header(data, max_frames=10)


def test_stray_bytes_between_jpeg_segments_are_skipped_as_decoders_skip_them() -> None:
    data = encode(Image.new("RGB", (64, 48), "green"), "JPEG")
    tables = data.index(b"\xff\xc4")  # the first Huffman table, after the frame header
    with_junk = data[:tables] + b"\0\0\0" + data[tables:]
    Image.open(io.BytesIO(with_junk)).load()  # Pillow (libjpeg) reads it
    assert (read_header(with_junk, 1).width, read_header(with_junk, 1).height) == (64, 48)
    with pytest.raises(HeaderError, match="cut short"):
        read_header(data[:tables] + b"\0" * 64, 1)


def test_the_format_is_told_by_its_first_bytes() -> None:
    image = Image.new("RGB", (8, 8))
    named = {"JPEG": "JPEG", "PNG": "PNG", "GIF": "GIF", "BMP": "BMP", "WEBP": "WebP"}
    assert {name: format_of(encode(image, name)) for name in named} == named
    assert format_of(b"\0\0\0\x18ftypheic") is None
