"""The model server's image check: the header (contracts/image_header.py, bounded whatever the bytes)
against --max_image_pixels and --max_image_frames, before anything is decoded."""

from __future__ import annotations

from contracts.image_header import HeaderError, read_header
from serving.errors import invalid_argument


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
