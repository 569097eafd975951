"""The tf.Module that becomes the SavedModel: the ``serving_default`` signature plus two helper functions.

``pixels`` (decoded and resized, [0, 255]) and ``network_input`` (after the model's own preprocessing) are
saved as plain functions, not signatures, so tests can check each stage of the in-graph preprocessing.
"""

from __future__ import annotations

import tensorflow as tf

from contracts import model as contract
from export_model import image_ops
from export_model.models import BuiltModel

_SPEC = tf.TensorSpec([None], tf.string, name=contract.INPUT)


class ServingModule(tf.Module):  # type: ignore[misc]  # TensorFlow ships no types
    def __init__(self, built: BuiltModel, labels: list[str]) -> None:
        super().__init__(name=built.name.replace("-", "_"))
        self._built = built  # a plain dataclass: not tracked, so the Keras object graph is not serialized
        # Only the variables are saved (as keras's ExportArchive does): the signature needs nothing else,
        # and serializing the Keras object graph would make the export several times slower.
        self.model_variables = [variable.value for variable in built.network.variables]
        self.labels = tf.constant(labels, dtype=tf.string)

    @tf.function(input_signature=[_SPEC], autograph=False)  # type: ignore[untyped-decorator]
    def pixels(self, image_bytes: tf.Tensor) -> tf.Tensor:
        return image_ops.decode_batch(image_bytes, self._built.resize, self._built.image_size)

    @tf.function(input_signature=[_SPEC], autograph=False)  # type: ignore[untyped-decorator]
    def network_input(self, image_bytes: tf.Tensor) -> tf.Tensor:
        return self._built.normalize(self.pixels(image_bytes))

    @tf.function(input_signature=[_SPEC], autograph=False)  # type: ignore[untyped-decorator]
    def serve(self, image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        inputs = self.network_input(image_bytes)
        count = tf.shape(inputs)[0]
        # An empty batch answers an empty result. oneDNN's kernels on some CPUs (AVX-512) refuse a matrix of
        # zero rows, so the network runs one blank row instead and its answer is dropped. No control flow:
        # for a non-empty batch the padding is nothing, and the graph stays one straight path.
        padded = tf.pad(inputs, [[0, tf.maximum(1 - count, 0)], [0, 0], [0, 0], [0, 0]])
        probabilities = self._built.network(padded, training=False)[:count]
        scores, class_ids = tf.math.top_k(probabilities, k=contract.TOP_K, sorted=True)
        return {
            contract.LABELS: tf.gather(self.labels, class_ids),
            contract.SCORES: tf.cast(scores, tf.float32),
            contract.CLASS_IDS: tf.cast(class_ids, tf.int64),
        }

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        return {contract.SIGNATURE: self.serve.get_concrete_function()}
