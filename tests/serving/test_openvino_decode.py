"""The OpenVINO runtime's decode/resize (numpy, Pillow, simplejpeg) against TensorFlow's, pixel for pixel.

The references are TensorFlow itself: `tf.io.decode_image` / `tf.image.resize`, and the exported graph's
own decode-and-resize stage (the `pixels` function the export saves beside `serving_default`).
Tolerances: decoding must be identical (0 levels); resizing produces float32 and is allowed 1e-3 of
a level, far below the 1/255 that any int8 or bf16 difference downstream amounts to (in practice it
is 0 as well: the kernels' arithmetic is reproduced step by step).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import tensorflow as tf
from PIL import Image

from serving.openvino_ir.convert import detect_front
from serving.openvino_ir.decode import FrontSpec, ImageDecodeError, decode, prepare, resize

RESIZE_TOLERANCE = 1e-3


def _photo(name: str) -> np.ndarray:
    image = getattr(skimage.data, name)()
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _tf_decode(data: bytes) -> np.ndarray:
    return tf.io.decode_image(data, channels=3, expand_animations=False).numpy()


PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "camera", "hubble_deep_field")


def _encodings() -> dict[str, bytes]:
    cases = {}
    for name in PHOTOS:
        image = Image.fromarray(_photo(name))
        for quality, subsampling in ((95, 0), (75, 2), (50, 1)):
            cases[f"{name}-jpeg-q{quality}-s{subsampling}"] = _encode(
                image, "JPEG", quality=quality, subsampling=subsampling
            )
        cases[f"{name}-png"] = _encode(image, "PNG")
    chelsea = Image.fromarray(_photo("chelsea"))
    palette = chelsea.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    rgba = chelsea.copy()
    rgba.putalpha(Image.fromarray(_photo("camera")[:300, :451, 0]))
    cases |= {
        "jpeg-progressive": _encode(chelsea, "JPEG", progressive=True),
        "jpeg-grey": _encode(chelsea.convert("L"), "JPEG"),
        "jpeg-cmyk-adobe": _encode(chelsea.convert("CMYK"), "JPEG"),
        "png-rgba": _encode(rgba, "PNG"),
        "png-grey-alpha": _encode(rgba.convert("LA"), "PNG"),
        "png-palette-transparent": _encode(palette, "PNG", transparency=3),
        "png-16bit-grey": _encode(
            Image.fromarray(skimage.data.camera().astype(np.uint16) * 257 + 100), "PNG"
        ),
        "gif": _encode(palette, "GIF"),
        "gif-transparent": _encode(palette, "GIF", transparency=5),
        "bmp-24": _encode(chelsea, "BMP"),
        "bmp-32": _encode(rgba, "BMP"),
        "bmp-8-palette": _encode(palette, "BMP"),
        "webp-lossy": _encode(chelsea, "WEBP", quality=80),
        "webp-lossless": _encode(chelsea, "WEBP", lossless=True),
    }
    return cases


ENCODINGS = _encodings()


@pytest.mark.parametrize("case", sorted(ENCODINGS))
def test_decode_matches_tensorflow_exactly(case: str) -> None:
    data = ENCODINGS[case]
    expected = _tf_decode(data)
    got = decode(data)
    assert got.dtype == np.uint8
    assert got.shape == expected.shape
    assert int(np.abs(got.astype(np.int16) - expected).max()) == 0


def test_pillow_alone_would_not_match_tensorflow_jpeg() -> None:
    """Why JPEG goes through simplejpeg: Pillow's accurate DCT is several levels away from TF's fast DCT."""
    data = ENCODINGS["astronaut-jpeg-q95-s0"]
    pillow = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int16)
    assert np.abs(pillow - _tf_decode(data)).max() >= 3
    assert np.abs(decode(data).astype(np.int16) - _tf_decode(data)).max() == 0


def _crops() -> list[np.ndarray]:
    chelsea, coffee, rocket = _photo("chelsea"), _photo("coffee"), _photo("rocket")
    return [
        chelsea,
        coffee[:301, :300],
        rocket[:97, :131],
        coffee[:224, :224],
        rocket[:50, :400],
        chelsea[:1000, :7],
    ]


@pytest.mark.parametrize("method", ["nearest", "bilinear", "bicubic"])
def test_resize_matches_tf_image_resize(method: str) -> None:
    for image in _crops():
        expected = tf.image.resize(image, [224, 224], method=method).numpy()
        got = resize(image, FrontSpec(224, 224, method, dtype=expected.dtype.name))
        assert got.dtype == expected.dtype
        assert np.abs(got.astype(np.float64) - expected).max() <= RESIZE_TOLERANCE, image.shape


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "unknown image file format"),
        (b"definitely not an image", "unknown image file format"),
        (ENCODINGS["chelsea-jpeg-q75-s2"][:2000], "invalid JPEG"),
        (ENCODINGS["chelsea-png"][:500], "invalid PNG"),
        (b"GIF89a" + b"\x00" * 10, "invalid GIF"),
        (_encode(Image.fromarray(_photo("chelsea")), "TIFF"), "unknown image file format"),
    ],
    ids=["empty", "text", "truncated-jpeg", "truncated-png", "broken-gif", "tiff"],
)
def test_undecodable_bytes_are_refused_like_tensorflow(data: bytes, reason: str) -> None:
    with pytest.raises(tf.errors.InvalidArgumentError):
        _tf_decode(data)
    with pytest.raises(ImageDecodeError, match=reason):
        decode(data)


def test_non_bytes_input_is_a_clear_error() -> None:
    with pytest.raises(ImageDecodeError, match="expected encoded image bytes, got str"):
        decode("chelsea.jpg")  # type: ignore[arg-type]


def _variants() -> list[bytes]:
    """Real photos, mirrored, cropped and rescaled, as JPEG and PNG: 24 images of many sizes and aspects."""
    out = []
    for name in ("chelsea", "coffee", "astronaut", "rocket"):
        image = _photo(name)
        height, width = image.shape[:2]
        half = np.asarray(Image.fromarray(image).resize((width // 2, height // 3), Image.Resampling.BILINEAR))
        for index, variant in enumerate(
            (
                image,
                image[:, ::-1],
                image[height // 5 :, : width // 2],
                half,
                image[:, : width // 3],
                image.transpose(1, 0, 2),
            )
        ):
            fmt = "JPEG" if index % 2 else "PNG"
            out.append(_encode(Image.fromarray(np.ascontiguousarray(variant)), fmt, quality=85))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fixture", "method"),
    [("tiny_model_base", "pil_nearest"), ("efficientnet_base", "bicubic")],  # resnet50 has tiny's front
)
def test_front_matches_the_exported_graph(fixture: str, method: str, request: pytest.FixtureRequest) -> None:
    """The front the converter detects reproduces the graph's own decode+resize on real photos."""
    base: Path = request.getfixturevalue(fixture)
    front = detect_front(base / "1")
    assert front.method == method
    loaded = tf.saved_model.load(str(base / "1"))
    images = _variants()
    expected = loaded.pixels(tf.constant(images)).numpy()
    got = np.stack([prepare(data, front) for data in images])
    error = float(np.abs(got.astype(np.float64) - expected).max())
    print(f"{fixture}: {front}, max pixel difference over {len(images)} photos {error}")
    assert error <= RESIZE_TOLERANCE
