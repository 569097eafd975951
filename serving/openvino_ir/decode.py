"""Encoded image bytes -> the pixel batch that the exported graph feeds its network, without TensorFlow.

The exported `serving_default` does `tf.io.decode_image(channels=3, expand_animations=False)` and a
`tf.image.resize` per image. This module reproduces both, pixel for pixel where that is possible:

* JPEG: simplejpeg is libjpeg-turbo driven like TensorFlow drives it (fancy upsampling, errors on
  truncated data, and the same DCT: `JDCT_IFAST` as `decode_image` uses, or `JDCT_ISLOW` where the graph
  asks for `dct_method="INTEGER_ACCURATE"`), so the decoded pixels are identical. Pillow always uses the
  accurate DCT: against `decode_image`'s fast one it differs by up to ~17 levels (mean ~1). Adobe CMYK
  JPEGs are converted with TensorFlow's own integer formula.
* PNG / GIF / BMP / WebP: Pillow, with TensorFlow's quirks copied: 16-bit PNG keeps the high byte,
  alpha is dropped (never composited), a transparent GIF pixel is black, an 8-bit BMP reads its palette
  indices as grey levels. Other formats are refused like `decode_image` refuses them.
* Resizing: numpy versions of TensorFlow's `ResizeNearestNeighbor` and `ResizeBilinear` kernels (same pixel
  centres, same float32 arithmetic), not Pillow's filters, whose sampling differs.
"""

from __future__ import annotations

import functools
import io
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import simplejpeg
from PIL import Image, UnidentifiedImageError

ResizeMethod = Literal["pil_nearest", "nearest", "bilinear", "bicubic"]
JpegDct = Literal["fast", "accurate"]
CropMode = Literal["none", "center"]

_ADOBE_APP14 = re.compile(rb"\xff\xee..Adobe", re.DOTALL)
_FORMATS = {  # magic bytes, as TensorFlow's DecodeImage sniffs them
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "BMP": (b"BM",),
}


class ImageDecodeError(ValueError):
    """Bytes that the exported graph would refuse too."""


@dataclass(frozen=True)
class FrontSpec:
    """How the export turns one decoded image into one row of the network's input batch.

    ``method``: "pil_nearest" (Pillow's NEAREST as ``keras.utils.load_img`` resizes), or TensorFlow's
    "nearest", "bilinear", "bicubic" (``tf.image.resize``, half-pixel centres, no antialiasing).
    ``crop``: "none", or "center": the central ``size / (size + crop_padding)`` square of the shorter side.
    """

    height: int
    width: int
    method: ResizeMethod
    crop: CropMode = "none"
    crop_padding: int = 0
    dtype: str = "float32"  # of the batch the network part of the graph receives
    jpeg_dct: JpegDct = "fast"  # "fast": decode_image's INTEGER_FAST; "accurate": INTEGER_ACCURATE

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrontSpec:
        return cls(**data)


def _sniff(data: bytes) -> str | None:
    for name, magics in _FORMATS.items():
        if data.startswith(magics):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _decode_jpeg(data: bytes, dct: JpegDct) -> np.ndarray:
    fast = dct == "fast"
    try:
        header = simplejpeg.decode_jpeg_header(data)
        if header[2] == "CMYK":  # (height, width, colorspace, subsampling)
            cmyk = simplejpeg.decode_jpeg(data, colorspace="CMYK", fastdct=fast, fastupsample=False)
            cmyk = cmyk.astype(np.int32)
            k = cmyk[..., 3:4]
            rgb: np.ndarray
            if _ADOBE_APP14.search(data[:65536]):
                rgb = k * cmyk[..., :3] // 255
            else:
                rgb = (255 - k) * (255 - cmyk[..., :3]) // 255
            return rgb.astype(np.uint8)
        decoded: np.ndarray = simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=fast, fastupsample=False)
        return decoded
    except ValueError as exc:
        raise ImageDecodeError(f"invalid JPEG data: {exc}") from exc


def _decode_with_pillow(data: bytes, fmt: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            image.load()
            if fmt == "BMP" and image.mode in ("P", "L"):
                # TensorFlow's BMP decoder ignores the palette and reads the indices as grey levels.
                grey = np.asarray(image.convert("P") if image.mode == "P" else image)
                return np.repeat(grey[..., None], 3, axis=2)
            if image.mode.startswith("I;16") or image.mode == "I":
                grey = (np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8)
                return np.repeat(grey[..., None], 3, axis=2)
            if fmt == "GIF" and image.mode == "P" and "transparency" in image.info:
                indices = np.asarray(image)
                rgb = np.array(image.convert("RGB"))
                rgb[indices == image.info["transparency"]] = 0
                return rgb
            return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"invalid {fmt} data: {exc}") from exc


def decode(data: bytes, jpeg_dct: JpegDct = "fast") -> np.ndarray:
    """Like `tf.io.decode_image(data, channels=3, expand_animations=False)`: uint8 [height, width, 3]."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ImageDecodeError(f"expected encoded image bytes, got {type(data).__name__}")
    data = bytes(data)
    fmt = _sniff(data)
    if fmt is None:
        raise ImageDecodeError("unknown image file format; one of JPEG, PNG, GIF, BMP, WebP required")
    pixels = _decode_jpeg(data, jpeg_dct) if fmt == "JPEG" else _decode_with_pillow(data, fmt)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ImageDecodeError(f"decoded to an unusable shape {pixels.shape}")
    return pixels


def _scale(in_size: int, out_size: int) -> np.float32:
    return np.float32(in_size) / np.float32(out_size)


def _half_pixel(out_size: int, scale: np.float32) -> np.ndarray:
    return (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale


def _pil_nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Pillow's running double ``pos = scale / 2; pos += scale`` (sequential sums, like the export's scan)."""
    scale = float(in_size) / float(out_size)
    steps = np.full(out_size, scale, dtype=np.float64)
    steps[0] = scale * 0.5
    return np.minimum(np.floor(np.add.accumulate(steps)).astype(np.int64), in_size - 1)


def _tf_nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """resize_nearest_neighbor_op.cc with half_pixel_centers."""
    index = np.floor(_half_pixel(out_size, _scale(in_size, out_size))).astype(np.int64)
    clipped: np.ndarray = np.clip(index, 0, in_size - 1)
    return clipped


def _bilinear_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """compute_interpolation_weights in resize_bilinear_op.cc: lower, upper and lerp per output index."""
    source = _half_pixel(out_size, _scale(in_size, out_size)) - np.float32(0.5)
    floor = np.floor(source)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(source).astype(np.int64), in_size - 1)
    return lower, upper, (source - floor).astype(np.float32)


def _keys_cubic_table(a: float = -0.5, size: int = 1024) -> np.ndarray:
    """InitCoeffsTable in resize_bicubic_op.cc (double arithmetic, stored as float)."""
    x = (np.arange(size + 1) * 1.0 / size).astype(np.float32).astype(np.float64)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    x = (x.astype(np.float32) + np.float32(1.0)).astype(np.float64)
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.stack([near, far], axis=1).astype(np.float32)


_CUBIC_TABLE = _keys_cubic_table()


@functools.lru_cache(maxsize=256)
def _bicubic_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """GetWeightsAndIndices<HalfPixelScaler, use_keys_cubic=true>: 4 indices and weights per output index.
    Cached per size pair (photos come in a few sizes); the arrays are read-only."""
    in_loc_f = _half_pixel(out_size, _scale(in_size, out_size)) - np.float32(0.5)
    in_loc = np.floor(in_loc_f).astype(np.int64)
    delta = (in_loc_f - in_loc.astype(np.float32)).astype(np.float32)
    offset = np.rint(delta * np.float32(1024)).astype(np.int64)
    table = _CUBIC_TABLE
    raw = np.stack(
        [table[offset, 1], table[offset, 0], table[1024 - offset, 0], table[1024 - offset, 1]], axis=1
    )
    wanted = in_loc[:, None] + np.arange(-1, 3)[None, :]
    indices = np.clip(wanted, 0, in_size - 1)
    weights = np.where(indices == wanted, raw, np.float32(0)).astype(np.float32)
    total = ((weights[:, 0] + weights[:, 1]) + weights[:, 2]) + weights[:, 3]
    usable = np.abs(total) >= np.float32(1000) * np.finfo(np.float32).tiny
    inverse = np.where(usable, np.float32(1) / np.where(usable, total, 1), np.float32(1)).astype(np.float32)
    weights = (weights * inverse[:, None]).astype(np.float32)
    indices.setflags(write=False)
    weights.setflags(write=False)
    return indices, weights


def _interpolate_rows(image: np.ndarray, indices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Interpolate1D along axis 0: v0 * w0 + v1 * w1 + v2 * w2 + v3 * w3, left to right in float32.
    Row gathers and in-place products: the same float32 operations as TensorFlow, without temporaries."""
    total = np.empty((len(indices), *image.shape[1:]), np.float32)
    term = np.empty_like(total)
    for k in range(4):
        np.multiply(
            image[indices[:, k]], weights[:, k, None, None], out=term if k else total, dtype=np.float32
        )
        if k:
            total += term
    return total


def _bicubic(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """resize_bicubic_op.cc's interpolate_with_caching: along y for each needed column, then along x.
    The x pass runs on the transposed array, where columns are rows: numpy gathers rows far faster."""
    rows, row_weights = _bicubic_weights(image.shape[0], height)
    cols, col_weights = _bicubic_weights(image.shape[1], width)
    along_y = np.ascontiguousarray(_interpolate_rows(image, rows, row_weights).transpose(1, 0, 2))
    return _interpolate_rows(along_y, cols, col_weights).transpose(1, 0, 2)


def _center_crop(pixels: np.ndarray, spec: FrontSpec) -> np.ndarray:
    """The export's central crop: int32(float32(size / (size + padding)) * float32(shorter side))."""
    height, width = pixels.shape[:2]
    fraction = np.float32(spec.height / (spec.height + spec.crop_padding))
    crop = max(int(fraction * np.float32(min(height, width))), 1)
    top = (height - crop + 1) // 2
    left = (width - crop + 1) // 2
    return pixels[top : top + crop, left : left + crop]


def resize(pixels: np.ndarray, spec: FrontSpec) -> np.ndarray:
    """One decoded uint8 [h, w, 3] image -> [spec.height, spec.width, 3] in spec.dtype, as the graph does."""
    if spec.crop == "center":
        pixels = _center_crop(pixels, spec)
    in_h, in_w = pixels.shape[:2]
    out: np.ndarray
    if spec.method in ("pil_nearest", "nearest"):
        pick = _pil_nearest_indices if spec.method == "pil_nearest" else _tf_nearest_indices
        out = pixels[pick(in_h, spec.height)[:, None], pick(in_w, spec.width)[None, :]]
    elif spec.method == "bilinear":
        top, bottom, y_lerp = _bilinear_weights(in_h, spec.height)
        left, right, x_lerp = _bilinear_weights(in_w, spec.width)
        image = pixels.astype(np.float32)
        x_lerp = x_lerp[None, :, None]
        upper_rows, lower_rows = image[top], image[bottom]
        top_row = upper_rows[:, left] + (upper_rows[:, right] - upper_rows[:, left]) * x_lerp
        bottom_row = lower_rows[:, left] + (lower_rows[:, right] - lower_rows[:, left]) * x_lerp
        out = top_row + (bottom_row - top_row) * y_lerp[:, None, None]
    elif spec.method == "bicubic":
        out = _bicubic(pixels, spec.height, spec.width)
    else:
        raise ValueError(f"unsupported resize method {spec.method!r}")
    return out.astype(spec.dtype, copy=False)


def prepare(data: bytes, spec: FrontSpec) -> np.ndarray:
    """Encoded bytes -> one row of the network's input batch."""
    return resize(decode(data, spec.jpeg_dct), spec)
