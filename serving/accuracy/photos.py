"""The photos the accuracy gate and its report use: all shipped inside installed packages, none downloaded.

- `evaluation_images()`: the gate's set. 13 real photos (scikit-image's and scikit-learn's) in 9 variants
  each (as is, rotated 90 and 15 degrees, flipped upside down, cropped three ways, halved, enlarged 1.3x),
  alternately JPEG and PNG: 117 encoded images, decoded by each runtime from the bytes as a client sends
  them. The int8 calibration set (openvino_ir/quantize.py) only mirrors and crops, and leaves out the
  scikit-learn two and the right motorcycle frame, so the gate never scores int8 on what it was fitted to.
- `LABELLED`: a few of those photos (and Gradio's bundled ones) with the ImageNet labels a person would
  accept for them, for a top-1 accuracy figure next to the agreement figures.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

EVALUATION_PHOTOS = (
    "skimage:astronaut",
    "skimage:cat",
    "skimage:coffee",
    "skimage:rocket",
    "skimage:hubble_deep_field",
    "skimage:immunohistochemistry",
    "skimage:retina",
    "skimage:camera",
    "skimage:coins",
    "skimage:clock",
    "skimage:stereo_motorcycle_right",
    "sklearn:china.jpg",
    "sklearn:flower.jpg",
)


@dataclass(frozen=True)
class LabelledPhoto:
    source: str
    labels: frozenset[str]  # every ImageNet class (Keras names) a person would call right


def _labelled(source: str, *labels: str) -> LabelledPhoto:
    return LabelledPhoto(source, frozenset(labels))


# Labels chosen by looking at each photo, never from a model's answer. Photos whose subject has no
# ImageNet class (the Eiffel tower, a dahlia, an astronaut portrait) are left out.
LABELLED = (
    _labelled("skimage:cat", "tabby", "tiger_cat", "Egyptian_cat"),
    _labelled("skimage:coffee", "espresso", "cup", "coffee_mug"),
    _labelled("skimage:rocket", "space_shuttle", "missile", "projectile"),
    _labelled("skimage:camera", "tripod", "reflex_camera"),
    _labelled("skimage:stereo_motorcycle_left", "moped", "motor_scooter"),
    _labelled("sklearn:china.jpg", "palace", "monastery", "stupa", "bell_cote"),
    _labelled("gradio:lion.jpg", "lion"),
    _labelled("gradio:cheetah.jpg", "cheetah"),
    _labelled("gradio:cheetah1.jpg", "cheetah"),
)


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def _skimage(name: str) -> np.ndarray:
    import skimage.data

    photo: np.ndarray
    if name.startswith("stereo_motorcycle_"):
        left, right, _ = skimage.data.stereo_motorcycle()
        photo = left if name.endswith("left") else right
    else:
        photo = getattr(skimage.data, name)()
    return photo


def _sklearn(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    image: np.ndarray = load_sample_image(name)
    return image


def _gradio(name: str) -> np.ndarray:
    import gradio

    path = Path(gradio.__file__).parent / "media_assets" / "images" / name
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


_LOADERS: dict[str, Callable[[str], np.ndarray]] = {
    "skimage": _skimage,
    "sklearn": _sklearn,
    "gradio": _gradio,
}


@cache
def photo(source: str) -> np.ndarray:
    """`"skimage:coffee"` -> uint8 RGB [h, w, 3], read from the package that ships it."""
    package, _, name = source.partition(":")
    return _rgb(_LOADERS[package](name))


def variants(image: np.ndarray) -> list[np.ndarray]:
    height, width = image.shape[:2]
    pil = Image.fromarray(image)
    return [
        image,
        np.rot90(image),
        image[::-1],
        image[height // 10 : height - height // 10, width // 10 : width - width // 10],
        np.asarray(pil.resize((width // 2, height // 2), Image.Resampling.BILINEAR)),
        image[: height // 2],
        image[:, : 2 * width // 3],
        np.asarray(pil.resize((int(width * 1.3), int(height * 1.3)), Image.Resampling.BICUBIC)),
        np.asarray(pil.rotate(15)),
    ]


def encode(image: np.ndarray, fmt: str, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, fmt, quality=quality)
    return buffer.getvalue()


@cache
def evaluation_images() -> tuple[bytes, ...]:
    out = []
    for i, source in enumerate(EVALUATION_PHOTOS):
        for j, variant in enumerate(variants(photo(source))):
            out.append(encode(variant, "JPEG" if (i + j) % 2 else "PNG"))
    return tuple(out)


def labelled_images() -> list[tuple[bytes, frozenset[str]]]:
    """Each labelled photo as a quality-90 JPEG, with its acceptable labels."""
    return [(encode(photo(item.source), "JPEG", quality=90), item.labels) for item in LABELLED]
