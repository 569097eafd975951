"""ResNet50 (random weights): in-graph preprocessing is keras's preprocess_input; metadata says random."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.export_model.conftest import encode, random_image
from tests.export_model.test_signature import check_outputs, serve

pytestmark = pytest.mark.slow


def test_network_input_is_preprocess_input(resnet50_loaded: Any) -> None:
    images = tf.constant(
        [encode(random_image(240, 320, seed=1), "JPEG"), encode(random_image(100, 50), "PNG")]
    )
    pixels = resnet50_loaded.pixels(images).numpy()
    network_input = resnet50_loaded.network_input(images).numpy()
    expected = keras.applications.resnet50.preprocess_input(pixels.copy())
    assert network_input.shape == (2, 224, 224, 3)
    np.testing.assert_allclose(network_input, expected, atol=1e-4)
    np.testing.assert_allclose(
        network_input[..., 0], pixels[..., 2] - 103.939, atol=1e-4
    )  # BGR, mean-centred


def test_serving_outputs(resnet50_loaded: Any) -> None:
    check_outputs(serve(resnet50_loaded, [encode(random_image(64, 64), "JPEG")] * 3), 3)


def test_metadata_says_random(resnet50_random_base: Path) -> None:
    info = json.loads((resnet50_random_base / "1" / "assets.extra" / "model_info.json").read_text())
    expected = {
        "model_name": "resnet50",
        "version": 1,
        "weights": "random",
        "random_weights": True,
        "test_only": True,
        "label_count": 1000,
        "input_size": [224, 224],
    }
    assert {key: info[key] for key in expected} == expected
    assert info["tensorflow_version"] == tf.__version__
