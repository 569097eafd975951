"""Image headers read without decoding: the sizes and frame counts Pillow wrote, for every format."""

from __future__ import annotations

import io

import grpc
import pytest
from PIL import Image

from serving.errors import ServingError
from serving.image_header import HeaderError, check_image, read_header


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


def test_limits_are_refused_naming_the_flag() -> None:
    images = frames(10, (100, 100))
    data = encode(images[0], "GIF", save_all=True, append_images=images[1:], optimize=False)
    with pytest.raises(ServingError) as too_many:
        check_image("image_bytes", 3, data, max_pixels=10**9, max_frames=4)
    assert too_many.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "image_bytes[3]" in too_many.value.message
    assert "--max_image_frames" in too_many.value.message
    with pytest.raises(ServingError) as too_big:
        check_image("image_bytes", 0, data, max_pixels=50_000, max_frames=100)
    assert "100000 pixels" in too_big.value.message
    assert "--max_image_pixels" in too_big.value.message
    check_image("image_bytes", 0, data, max_pixels=100_000, max_frames=10)


@pytest.mark.parametrize(
    "data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n\0\0", b"GIF89a\x01", b"\xff\xd8\xff"]
)
def test_unknown_or_cut_short_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(HeaderError):
        read_header(data, max_frames=10)
    with pytest.raises(ServingError) as refused:
        check_image("image_bytes", 0, data, max_pixels=10**6, max_frames=10)
    assert "is not a decodable image" in refused.value.message
