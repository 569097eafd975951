from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from export_model import warmup


def test_batch_sizes_from_batching_config(tmp_path: Path) -> None:
    config = tmp_path / "batching.config"
    config.write_text("max_batch_size { value: 8 }\nallowed_batch_sizes: 2\nallowed_batch_sizes : 8\n")
    assert warmup.batch_sizes(config) == [2, 8]
    assert warmup.batch_sizes(tmp_path / "absent.config") == [1, 2, 4, 8, 16]


@pytest.mark.slow
def test_warmup_records_run_on_the_model(tiny_model_base: Path, tiny_loaded: Any) -> None:
    path = tiny_model_base / "1" / "assets.extra" / "tf_serving_warmup_requests"
    logs = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    request_sizes = []
    for log in logs:
        request = log.predict_log.request
        assert (request.model_spec.name, request.model_spec.signature_name) == ("tiny", "serving_default")
        images = tf.make_ndarray(request.inputs["image_bytes"])
        request_sizes.append(len(images))
        outputs = tiny_loaded.signatures["serving_default"](image_bytes=tf.constant(images))
        assert outputs["scores"].shape == (len(images), 5)
        assert np.all(np.isfinite(outputs["scores"].numpy()))
    assert request_sizes == warmup.batch_sizes()
