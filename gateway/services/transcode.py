"""What the model server is sent for an upload it could not take as it is (too many pixels or bytes for its
limits, or a format its signature does not decode: WebP, HEIC): the first frame, decoded at the smallest
scale that still covers the model's input (JPEG: libjpeg's DCT scaling, 1/2 … 1/8, through Pillow's
`draft`; other formats: a box-filter `reduce` by the same rule), turned upright by its EXIF orientation (a
phone's portrait photo is stored sideways), re-encoded as a quality-95 JPEG.

The memory a decode takes is known from the header before anything is decoded (`working_bytes`), so the
image check can hold it in its budget first. The factors were measured (peak RSS of one decode):
Pillow's WebP decoder holds about four copies of the frame, pillow-heif about two.
"""

from __future__ import annotations

import io
import math

from PIL import Image

from contracts.model import INPUT_SIZE

ONE_BYTE_MODES = frozenset({"1", "L", "P"})  # Pillow keeps every other mode at 4 bytes per pixel
# Modes `reduce` cannot average (palette indices, bits, 16-bit grey): converted at full size first.
CONVERT_FIRST = frozenset({"1", "P", "PA", "I", "I;16", "I;16B", "I;16L", "I;16N"})
DECODE_COPIES = {"WEBP": 4, "HEIF": 2}
OVERHEAD = 1024 * 1024
QUALITY = 95
ORIENTATION = 0x0112
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def draft_size(img: Image.Image) -> tuple[int, int]:
    """Ask a JPEG to decode at its smallest DCT scale that keeps both sides >= INPUT_SIZE (no-op otherwise);
    the size it will decode at."""
    img.draft("RGB", (INPUT_SIZE, INPUT_SIZE))
    return img.size


def reduce_factor(width: int, height: int) -> int:
    return max(1, min(width, height) // INPUT_SIZE)


def decode_bytes(fmt: str, mode: str, width: int, height: int) -> int:
    """Memory of decoding one frame of `width` x `height` (already at the draft scale)."""
    per_pixel = 1 if mode in ONE_BYTE_MODES else 4
    return width * height * per_pixel * DECODE_COPIES.get(fmt, 1) + OVERHEAD


def working_bytes(fmt: str, mode: str, width: int, height: int) -> int:
    """Memory of `for_model`: the decode, plus the RGB copy it converts (at full size for modes that must be
    converted before they can be reduced, else at the reduced size)."""
    factor = 1 if mode in CONVERT_FIRST else reduce_factor(width, height)
    return decode_bytes(fmt, mode, width, height) + math.ceil(width / factor) * math.ceil(height / factor) * 4


def fit_pixels(img: Image.Image, max_pixels: int) -> Image.Image:
    """A panorama can stay over the model server's pixel limit after reducing: shrink it to fit."""
    width, height = img.size
    if width * height <= max_pixels:
        return img
    scale = math.sqrt(max_pixels / (width * height))
    return img.resize((max(1, int(width * scale)), max(1, int(height * scale))), Image.Resampling.BOX)


def for_model(img: Image.Image, max_pixels: int) -> bytes:
    """The opened image (first frame, `draft_size` already asked) as a JPEG the model server accepts."""
    img.load()
    turn = UPRIGHT.get(int(img.getexif().get(ORIENTATION, 1) or 1))
    if img.mode == "I" or img.mode.startswith("I;16"):  # 16-bit grey: its top 8 bits
        img = img.point(lambda value: value / 256).convert("L")
    elif img.mode in CONVERT_FIRST:
        img = img.convert("RGB")
    factor = reduce_factor(*img.size)
    if factor > 1:
        img = img.reduce(factor)
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")  # drops alpha, as the model's 3-channel decode does (reduce averaged it)
    if turn is not None:
        img = img.transpose(turn)
    img = fit_pixels(img, max_pixels)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=QUALITY)
    return out.getvalue()
