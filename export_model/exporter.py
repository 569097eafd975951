"""Export a model to ``<out>/<model>/<version>/``: SavedModel, labels, warmup records, model_info.json."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

import model_repository
from contracts import model as contract
from export_model import labels, models, versions, warmup
from export_model.serving_module import ServingModule

log = logging.getLogger("export_model")

ASSETS_EXTRA = "assets.extra"
MODEL_INFO = "model_info.json"
LABELS_COPY = "labels.txt"


def export(
    model: str, weights: str | None = None, out: Path = Path("models"), version: int | None = None
) -> Path:
    """Build ``model`` and publish it as a new version folder; return that folder."""
    started = time.monotonic()
    out = Path(out)
    base = out / model
    version = model_repository.next_version(base) if version is None else version
    built = models.build(model, weights)  # fails early (bad weights, offline) before anything is written
    names = labels.load()
    module = ServingModule(built, names)
    with versions.publishing(base, version) as staging:
        tf.saved_model.save(module, str(staging), signatures=module.signatures())
        extra = staging / ASSETS_EXTRA
        extra.mkdir()
        sizes = warmup.batch_sizes()
        warmup.write(extra / warmup.WARMUP_FILE, model, sizes)
        (extra / LABELS_COPY).write_text("\n".join(names) + "\n", encoding="utf-8")
        info = _model_info(built, version, len(names), sizes)
        (extra / MODEL_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    final = base / str(version)
    log.info(
        "exported %s (%s weights) to %s in %.1fs", model, built.weights, final, time.monotonic() - started
    )
    return final


def _model_info(built: models.BuiltModel, version: int, label_count: int, sizes: list[int]) -> dict[str, Any]:
    return {
        "model_name": built.name,
        "version": version,
        "architecture": built.architecture,
        "weights": built.weights,
        "weights_file": built.weights_file,
        "random_weights": built.weights == "random",
        "test_only": built.test_only,
        "input_size": [built.image_size, built.image_size],
        "preprocessing": built.preprocessing,
        "label_count": label_count,
        "top_k": contract.TOP_K,
        "signature": {
            "name": contract.SIGNATURE,
            "inputs": {contract.INPUT: "string [batch] (encoded JPEG/PNG/GIF/BMP)"},
            "outputs": {
                contract.LABELS: f"string [batch, {contract.TOP_K}]",
                contract.SCORES: f"float32 [batch, {contract.TOP_K}]",
                contract.CLASS_IDS: f"int64 [batch, {contract.TOP_K}]",
            },
        },
        "warmup_batch_sizes": sizes,
        "parameters": int(built.network.count_params()),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }
