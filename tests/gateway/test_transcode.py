"""What a transcoded upload becomes, mode by mode (pure Pillow, no server)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from gateway.services import transcode


def _encoded(img: Image.Image, fmt: str) -> Image.Image:
    out = io.BytesIO()
    img.save(out, format=fmt)
    return Image.open(io.BytesIO(out.getvalue()))


def _sent(img: Image.Image, max_pixels: int = 12_500_000) -> Image.Image:
    transcode.draft_size(img)
    return Image.open(io.BytesIO(transcode.for_model(img, max_pixels)))


@pytest.mark.parametrize(
    ("source", "fmt", "mode", "pixel"),
    [
        (Image.new("I;16", (1000, 800), 40000), "PNG", "L", 156),  # 16-bit grey: its top 8 bits, not white
        (Image.new("P", (1000, 800), 0), "GIF", "RGB", (0, 0, 0)),  # a palette converted before reducing
        # Alpha dropped, as the model's 3-channel decode does (fully transparent pixels average to black).
        (Image.new("RGBA", (1000, 800), (10, 20, 30, 128)), "PNG", "RGB", (10, 20, 30)),
    ],
)
def test_every_mode_becomes_a_reduced_jpeg(source: Image.Image, fmt: str, mode: str, pixel: object) -> None:
    sent = _sent(_encoded(source, fmt))
    assert (sent.format, sent.mode, sent.size) == ("JPEG", mode, (334, 267))  # reduced by 800 // 224 = 3
    got = sent.getpixel((100, 100))
    expected = pixel if isinstance(pixel, tuple) else (pixel,)
    assert all(
        abs(a - b) <= 2 for a, b in zip(got if isinstance(got, tuple) else (got,), expected, strict=True)
    )


def test_a_panorama_is_shrunk_within_the_model_servers_pixel_limit() -> None:
    sent = _sent(_encoded(Image.new("RGB", (30000, 300)), "PNG"), max_pixels=1_000_000)
    assert sent.size == (10000, 100)


def test_the_memory_of_a_transcode_is_known_from_the_header() -> None:
    assert transcode.decode_bytes("JPEG", "RGB", 750, 500) == 750 * 500 * 4 + transcode.OVERHEAD
    assert transcode.decode_bytes("WEBP", "RGB", 1000, 1000) == 16_000_000 + transcode.OVERHEAD
    # A palette is converted at full size (4 bytes a pixel) before it is reduced; RGB is reduced first.
    assert transcode.working_bytes("PNG", "P", 1000, 1000) == 1_000_000 * 5 + transcode.OVERHEAD
    assert transcode.working_bytes("PNG", "RGB", 1000, 1000) == 4_000_000 + 250 * 250 * 4 + transcode.OVERHEAD
