"""A very small random CNN with the full serving signature: for fast integration tests only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

from contracts.labels import NUM_CLASSES

if TYPE_CHECKING:
    import tensorflow as tf

IMAGE_SIZE = 224


def normalize(pixels: tf.Tensor) -> tf.Tensor:
    return pixels / 127.5 - 1.0


def build_network(seed: int = 0) -> keras.Model:
    """Deterministic for a given seed, without touching the global random state."""
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="normalized_image")
    x = keras.layers.AveragePooling2D(8, name="downsample")(inputs)
    x = keras.layers.Conv2D(
        8,
        3,
        strides=2,
        activation="relu",
        kernel_initializer=keras.initializers.GlorotUniform(seed),
        name="conv",
    )(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(
        NUM_CLASSES,
        activation="softmax",
        kernel_initializer=keras.initializers.GlorotUniform(seed + 1),
        bias_initializer=keras.initializers.RandomUniform(-0.5, 0.5, seed=seed + 2),
        name="predictions",
    )(x)
    return keras.Model(inputs, outputs, name="tiny")
