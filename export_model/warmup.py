"""TF Serving warmup records: one PredictRequest per batch size the server will run.

TF Serving replays ``assets.extra/tf_serving_warmup_requests`` (a TFRecord file of ``PredictionLog``) before
it reports a version AVAILABLE, so the first real requests do not pay for graph tracing and allocation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from contracts import model as contract

WARMUP_FILE = "tf_serving_warmup_requests"
DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16)
BATCHING_CONFIG = Path(__file__).resolve().parent.parent / "serving" / "batching.config"
_ALLOWED = re.compile(r"allowed_batch_sizes\s*:\s*(\d+)")


def batch_sizes(config: Path = BATCHING_CONFIG) -> list[int]:
    """``allowed_batch_sizes`` from the server's batching.config (TF Serving text format), else defaults."""
    if config.is_file():
        found = sorted({int(size) for size in _ALLOWED.findall(config.read_text()) if int(size) > 0})
        if found:
            return found
    return list(DEFAULT_BATCH_SIZES)


def sample_jpeg(size: int = 64) -> bytes:
    """A small, deterministic JPEG (a colour gradient)."""
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    image = np.stack([*np.meshgrid(ramp, ramp[::-1]), np.full((size, size), 128.0, np.float32)], axis=-1)
    encoded: bytes = tf.io.encode_jpeg(tf.constant(image.astype(np.uint8))).numpy()
    return encoded


def request(model_name: str, images: Sequence[bytes]) -> predict_pb2.PredictRequest:
    req = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=contract.SIGNATURE)
    )
    req.inputs[contract.INPUT].CopyFrom(
        tf.make_tensor_proto(list(images), dtype=tf.string, shape=[len(images)])
    )
    return req


def write(path: Path, model_name: str, sizes: Sequence[int]) -> None:
    image = sample_jpeg()
    with tf.io.TFRecordWriter(str(path)) as writer:
        for size in sizes:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request(model_name, [image] * size))
            )
            writer.write(log.SerializeToString())
