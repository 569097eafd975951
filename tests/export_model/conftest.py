"""Helpers for the export_model tests: images made in code, SavedModels loaded once per session."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image


def encode(array: np.ndarray, fmt: str, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def load(base: Path) -> Any:
    import tensorflow as tf

    return tf.saved_model.load(str(base / "1"))


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_base: Path) -> Any:
    return load(tiny_model_base)


@pytest.fixture(scope="session")
def resnet50_loaded(resnet50_random_base: Path) -> Any:
    return load(resnet50_random_base)


@pytest.fixture(scope="session")
def efficientnet_loaded(efficientnet_base: Path) -> Any:
    return load(efficientnet_base)
