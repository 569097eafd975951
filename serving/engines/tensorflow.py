"""The reference engine: the export's signatures run by TensorFlow, exactly as TF Serving runs them."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from serving.engines import TENSORFLOW, Arrays, EngineSpec
from serving.errors import invalid_argument
from serving.signatures import DEFAULT_SIGNATURE, image_inputs, read_signature_defs


def tf_message(error: tf.errors.OpError) -> str:
    """`{{function_node ...}} Unknown image file format. [Op:DecodeImage] name:` -> the middle part."""
    return re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\].*$", "", error.message, flags=re.S).strip()


def check_images(name: str, values: np.ndarray) -> None:
    """Decode every image of an encoded-image input on its own, so that one bad image is reported by
    position and never reaches a batch shared with other callers."""
    for index, data in enumerate(values.ravel()):
        try:
            tf.io.decode_image(tf.constant(data, dtype=tf.string), channels=3, expand_animations=False)
        except tf.errors.OpError as error:
            raise invalid_argument(
                f"{name}[{index}] is not a decodable image: {tf_message(error)}"
            ) from error


class TensorFlowEngine:
    """The graph decodes every image itself, so nothing is decoded before batching: an undecodable image
    fails its batch, the batcher runs each of the batch's requests again on its own (serving/batching.py),
    and only then is the failing request's images decoded one by one, to name the bad one."""

    spec: EngineSpec = TENSORFLOW
    serves = None
    prepared_bytes_per_row = 0  # a request holds only its encoded bytes
    prepare_decodes = False

    def __init__(self, version_dir: Path) -> None:
        started = time.perf_counter()
        self.signature_defs = read_signature_defs(version_dir)
        self._loaded = tf.saved_model.load(str(version_dir), tags=["serve"])
        self._functions = {key: self._loaded.signatures[key] for key in self.signature_defs}
        self.load_seconds = time.perf_counter() - started

    def info(self) -> dict[str, str]:
        return {"runtime": self.spec.runtime, "precision": self.spec.precision}

    def prepare(self, signature_name: str, inputs: Arrays) -> Arrays:
        return inputs

    def run(self, signature_name: str, inputs: Arrays) -> Arrays:
        key = signature_name or DEFAULT_SIGNATURE
        tensors = {alias: tf.constant(array) for alias, array in inputs.items()}
        try:
            outputs = self._functions[key](**tensors)
        except tf.errors.InvalidArgumentError as error:
            for alias in image_inputs(self.signature_defs[key]):
                check_images(alias, inputs[alias])  # names the bad image, when one is
            raise invalid_argument(tf_message(error)) from error
        return {alias: tensor.numpy() for alias, tensor in outputs.items()}
