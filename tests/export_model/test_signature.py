"""The serving signature, on the tiny model (same decoding, resizing and outputs as the real ones)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from export_model import labels
from tests.export_model.conftest import encode, random_image

pytestmark = pytest.mark.slow

NAMES = labels.load()


def serve(loaded: Any, images: list[bytes]) -> dict[str, np.ndarray]:
    outputs = loaded.signatures["serving_default"](image_bytes=tf.constant(images, dtype=tf.string))
    return {key: value.numpy() for key, value in outputs.items()}


def check_outputs(outputs: dict[str, np.ndarray], batch: int) -> None:
    assert outputs["labels"].shape == outputs["scores"].shape == outputs["class_ids"].shape == (batch, 5)
    assert outputs["labels"].dtype == object
    assert outputs["scores"].dtype == np.float32
    assert outputs["class_ids"].dtype == np.int64
    for labels_row, scores_row, ids_row in zip(
        outputs["labels"], outputs["scores"], outputs["class_ids"], strict=True
    ):
        assert np.all(np.diff(scores_row) <= 0), "scores must be sorted, best first"
        assert np.all((scores_row >= 0) & (scores_row <= 1))
        assert len(set(ids_row)) == 5
        assert [label.decode() for label in labels_row] == [NAMES[i] for i in ids_row]


def test_signature_shape(tiny_model_base: Path) -> None:
    signature = tf.saved_model.load(str(tiny_model_base / "1")).signatures["serving_default"]
    (spec,) = signature.structured_input_signature[1].values()
    assert (spec.name, spec.dtype, spec.shape.as_list()) == ("image_bytes", tf.string, [None])
    assert set(signature.structured_outputs) == {"labels", "scores", "class_ids"}


def test_one_image(tiny_loaded: Any) -> None:
    check_outputs(serve(tiny_loaded, [encode(random_image(60, 90), "JPEG")]), 1)


def test_several_formats(tiny_loaded: Any) -> None:
    image = random_image(120, 80, seed=1)
    images = [
        encode(image, "JPEG"),
        encode(image, "PNG"),
        encode(image, "GIF"),
        encode(image, "BMP"),
        encode(image, "PNG", mode="RGBA"),
        encode(image, "PNG", mode="L"),
        encode(random_image(1, 1), "PNG"),
    ]
    outputs = serve(tiny_loaded, images)
    check_outputs(outputs, len(images))
    np.testing.assert_array_equal(
        outputs["class_ids"][1], outputs["class_ids"][3]
    )  # PNG and BMP are lossless


def test_batch_elements_are_independent(tiny_loaded: Any) -> None:
    a, b = encode(random_image(50, 70, seed=2), "PNG"), encode(random_image(90, 40, seed=3), "PNG")
    together = serve(tiny_loaded, [a, b])
    np.testing.assert_allclose(together["scores"][1], serve(tiny_loaded, [b])["scores"][0], rtol=1e-5)


def test_animated_gif_uses_first_frame(tiny_loaded: Any) -> None:
    from PIL import Image

    frames = [Image.fromarray(random_image(40, 40, seed=s)) for s in (4, 5)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    check_outputs(serve(tiny_loaded, [buffer.getvalue()]), 1)


@pytest.mark.parametrize("model", ["tiny_loaded", "efficientnet_loaded", "resnet50_loaded"])
def test_empty_batch_answers_an_empty_result(model: str, request: pytest.FixtureRequest) -> None:
    """On every CPU: oneDNN's AVX-512 kernels refuse a zero-row matrix, so the signature must not send one."""
    loaded = request.getfixturevalue(model)
    outputs = serve(loaded, [])
    check_outputs(outputs, 0)
    assert (outputs["labels"].dtype, outputs["scores"].dtype, outputs["class_ids"].dtype) == (
        object,
        np.float32,
        np.int64,
    )
    # and the padding that makes this work changes nothing for a real batch
    image = encode(random_image(40, 30), "PNG")
    alone, pair = serve(loaded, [image]), serve(loaded, [image, image])
    np.testing.assert_array_equal(alone["class_ids"][0], pair["class_ids"][1])
    np.testing.assert_allclose(alone["scores"][0], pair["scores"][1], atol=1e-5)


@pytest.mark.parametrize(
    ("bad", "index"),
    [(b"not an image at all", 0), (b"", 2), ("truncated-jpeg", 1), ("png-header-only", 3)],
)
def test_undecodable_element_is_named(tiny_loaded: Any, bad: bytes | str, index: int) -> None:
    good = encode(random_image(30, 30), "JPEG")
    corrupt = {
        "truncated-jpeg": good[: len(good) // 3],
        "png-header-only": encode(random_image(30, 30), "PNG")[:40],
    }
    images = [good] * 4
    images[index] = corrupt.get(bad, bad) if isinstance(bad, str) else bad
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"image_bytes\[{index}\] is not a decodable"):
        serve(tiny_loaded, images)


def test_all_bad_elements_are_listed(tiny_loaded: Any) -> None:
    good = encode(random_image(30, 30), "PNG")
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"image_bytes\[1\].*undecodable elements: \[1 3\]"
    ):
        serve(tiny_loaded, [good, b"x", good, b"y"])


@pytest.mark.parametrize(("height", "width"), [(320, 576), (224, 224), (9, 64), (1000, 451), (3, 2)])
def test_resize_matches_keras_load_img(tiny_loaded: Any, height: int, width: int) -> None:
    """Pillow NEAREST exactly, also for sizes where a naive nearest resize differs (320, 576, 64)."""
    png = encode(random_image(height, width, seed=height), "PNG")
    expected = keras.utils.img_to_array(keras.utils.load_img(io.BytesIO(png), target_size=(224, 224)))
    np.testing.assert_array_equal(tiny_loaded.pixels(tf.constant([png])).numpy()[0], expected)


def test_jpeg_decoding_matches_pillow(tiny_loaded: Any) -> None:
    jpeg = encode(random_image(300, 200, seed=9), "JPEG")
    expected = keras.utils.img_to_array(keras.utils.load_img(io.BytesIO(jpeg), target_size=(224, 224)))
    np.testing.assert_array_equal(tiny_loaded.pixels(tf.constant([jpeg])).numpy()[0], expected)


def test_reference_photo_pixels_match_original_project(tiny_loaded: Any, reference_dog_jpeg: bytes) -> None:
    expected = keras.utils.img_to_array(
        keras.utils.load_img(io.BytesIO(reference_dog_jpeg), target_size=(224, 224))
    )
    np.testing.assert_array_equal(tiny_loaded.pixels(tf.constant([reference_dog_jpeg])).numpy()[0], expected)


def test_decompression_bomb_is_refused_before_decoding(tiny_loaded: Any) -> None:
    """A ~100 KB PNG that declares 9500 x 9500 pixels (Pillow's bomb threshold is 89.5 M) is not decoded."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (9500, 9500)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 1_000_000
    good = encode(random_image(30, 30), "PNG")
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"image_bytes\[1\] is not a decodable .* at most"
    ):
        serve(tiny_loaded, [good, buffer.getvalue()])


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP"])
def test_declared_pixels_read_from_headers(fmt: str) -> None:
    from export_model.image_ops import declared_pixels

    assert declared_pixels(tf.constant(encode(random_image(37, 53), fmt))).numpy() == 37 * 53
