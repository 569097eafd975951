"""Exported SavedModel -> OpenVINO network, cut out of the export's own `serving_default` graph.

The export decodes and resizes inside its graph (string input), which OpenVINO cannot run. So the
signature is frozen (variables -> constants), and the part between the decoded pixel batch and the
probabilities that feed `TopKV2` is cut out and converted:

* pixel batch: the earliest tensor of shape [batch, H, W, 3] that separates the probabilities from the
  `image_bytes` placeholder (every path from the input to the probabilities goes through it);
* probabilities: the first input of the only `TopKV2` (top-k, label lookup and casts are done in numpy).

The model's preprocessing arithmetic (BGR flip, mean subtraction, scaling) sits between those two
tensors, so it is converted with the network: one source of truth, nothing restated in numpy. Decoding
and resizing are done by `decode.py`, whose method is chosen by probing the graph's own pixel tensor
with a few synthetic images, and the whole conversion is checked against TensorFlow before it is used.
TensorFlow is imported here only; serving from a cached IR never imports it.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
from PIL import Image

from contracts.model import SIGNATURE
from serving.openvino_ir.decode import CropMode, FrontSpec, ResizeMethod, prepare

log = logging.getLogger(__name__)

INPUT_NAME = "pixels"
OUTPUT_NAME = "probabilities"
# Every decode/resize this module knows how to reproduce; the probe picks the one the graph uses.
CANDIDATE_FRONTS: tuple[tuple[ResizeMethod, CropMode, int], ...] = (
    ("pil_nearest", "none", 0),
    ("nearest", "none", 0),
    ("bilinear", "none", 0),
    ("bicubic", "none", 0),
    ("bicubic", "center", 32),
    ("bilinear", "center", 32),
)
PIXEL_TOLERANCE = 1e-3  # float32 resize arithmetic; the reproductions are bit-exact in practice
SCORE_TOLERANCE = 1e-3


class ConversionError(RuntimeError):
    """The export does not have the shape this converter understands, or the result disagrees with TF."""


@dataclass
class Converted:
    model: ov.Model
    front: FrontSpec
    labels: list[str]
    top_k: int


def _probe_images() -> list[bytes]:
    """Deterministic images of sizes that tell the resizers apart; PNG, plus JPEG to tell the DCTs apart."""
    rng = np.random.default_rng(20240607)
    images = []
    for height, width in ((240, 320), (375, 500), (97, 131), (224, 224), (451, 300), (64, 48)):
        y, x = np.mgrid[0:height, 0:width]
        smooth = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
        texture = rng.integers(0, 64, size=(height, width, 3))
        pixels = np.clip(smooth + texture, 0, 255).astype(np.uint8)
        for fmt in ("PNG", "JPEG"):
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, fmt, quality=90)
            images.append(buffer.getvalue())
    return images


class _GraphCut:
    """The frozen `serving_default` graph and the two tensors the network lies between."""

    def __init__(self, version_dir: Path) -> None:
        import tensorflow as tf
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        self.tf = tf
        loaded = tf.saved_model.load(str(version_dir))
        if SIGNATURE not in loaded.signatures:
            raise ConversionError(f"{version_dir} has no {SIGNATURE!r} signature")
        self.serve = loaded.signatures[SIGNATURE]
        self._loaded = loaded  # keeps the signature's captured variables alive
        frozen = convert_variables_to_constants_v2(self.serve)
        self.graph_def = frozen.graph.as_graph_def()
        self.data_graph_def = frozen.graph.as_graph_def()
        for node in self.data_graph_def.node:  # frozen: no variable reads left to order, only the assert
            kept = [name for name in node.input if not name.startswith("^")]
            del node.input[:]
            node.input.extend(kept)
        graph = frozen.graph
        self.placeholders = [op for op in graph.get_operations() if op.type == "Placeholder"]
        top_ks = [op for op in graph.get_operations() if op.type == "TopKV2"]
        if len(top_ks) != 1:
            raise ConversionError(f"expected exactly one TopKV2 in {SIGNATURE}, found {len(top_ks)}")
        self.top_k_op = top_ks[0]
        self.probabilities = self.top_k_op.inputs[0]
        self.top_k = int(tf.get_static_value(self.top_k_op.inputs[1]))
        self.pixels = self._find_pixels(graph)
        self.labels = self._find_labels(graph)

    @staticmethod
    def _upstream(tensor: Any, cut: Any = None) -> set[str]:
        """Names of the ops `tensor` depends on through data edges, not looking past `cut`."""
        seen, stack = set(), [tensor.op]
        while stack:
            op = stack.pop()
            if op.name not in seen:
                seen.add(op.name)
                stack.extend(t.op for t in op.inputs if t is not cut)
        return seen

    def _separates(self, cut: Any) -> bool:
        """Once `cut` is fed, do the probabilities no longer depend on any placeholder? (Data edges only:
        the control edges guard the decode assertion, which the numpy front replaces.)"""
        placeholders = {op.name for op in self.placeholders}
        return not placeholders & self._upstream(self.probabilities, cut)

    def _find_pixels(self, graph: Any) -> Any:
        candidates = []
        for op in graph.get_operations():
            for tensor in op.outputs:
                shape = tensor.shape
                if (
                    shape.rank == 4
                    and shape[0] is None
                    and shape[3] == 3
                    and shape[1] is not None
                    and shape[2] is not None
                    and tensor.dtype in (self.tf.float32, self.tf.uint8)
                ):
                    candidates.append(tensor)
        separating = [tensor for tensor in candidates if self._separates(tensor)]
        for tensor in separating:  # the earliest: no other separating tensor upstream of it
            upstream = self._upstream(tensor) - {tensor.op.name}
            if not any(other.op.name in upstream for other in separating if other is not tensor):
                return tensor
        raise ConversionError(
            "no [batch, H, W, 3] tensor separates the probabilities from the encoded-image input "
            f"(candidates: {[t.name for t in candidates]})"
        )

    def _find_labels(self, graph: Any) -> list[str]:
        ids = self.top_k_op.outputs[1]
        for op in graph.get_operations():
            if op.type == "GatherV2" and op.inputs[1] is ids:
                value = self.tf.get_static_value(op.inputs[0])
                if value is None:  # an Identity of a constant: follow it
                    source = op.inputs[0]
                    while source.op.type == "Identity" and value is None:
                        source = source.op.inputs[0]
                        value = self.tf.get_static_value(source)
                if value is not None:
                    return [label.decode("utf-8") for label in value.tolist()]
        raise ConversionError("could not find the label table gathered by the top-k class ids")

    def _imported(self, inputs: dict[str, Any], outputs: list[Any], *, data_only: bool = False) -> Any:
        tf = self.tf
        return tf.graph_util.import_graph_def(
            self.data_graph_def if data_only else self.graph_def,
            input_map=inputs,
            return_elements=[t.name for t in outputs],
            name="export",
        )

    def network_graph(self) -> Any:
        """A GraphDef pixels -> probabilities, pruned to the network (plus its preprocessing)."""
        tf = self.tf
        shape = [None, *self.pixels.shape[1:]]

        def body(pixels: Any) -> Any:
            return self._imported({self.pixels.name: pixels}, [self.probabilities], data_only=True)[0]

        wrapped = tf.compat.v1.wrap_function(body, [tf.TensorSpec(shape, self.pixels.dtype, name=INPUT_NAME)])
        fetch = wrapped.graph.get_tensor_by_name(f"export/{self.probabilities.name}")
        pruned = wrapped.prune(feeds=wrapped.inputs, fetches=[fetch])
        graph_def = pruned.graph.as_graph_def()
        placeholders = [node.name for node in graph_def.node if node.op == "Placeholder"]
        if placeholders != [INPUT_NAME]:
            raise ConversionError(f"the cut network still has inputs {placeholders}")
        return graph_def

    def pixel_function(self) -> Any:
        """encoded bytes -> the graph's own pixel batch (the reference the numpy front must match).

        The export's saved `pixels` function when it has one (it is that stage exactly); otherwise the
        frozen graph up to the cut.
        """
        tf = self.tf
        saved = getattr(self._loaded, "pixels", None)
        if saved is not None and callable(saved):
            return saved
        (bytes_input,) = [op for op in self.placeholders if op.outputs[0].dtype == tf.string]

        def body(image_bytes: Any) -> Any:
            return self._imported({bytes_input.outputs[0].name: image_bytes}, [self.pixels])[0]

        return tf.compat.v1.wrap_function(body, [tf.TensorSpec([None], tf.string)])


def _choose_front(cut: _GraphCut, probes: list[bytes]) -> FrontSpec:
    reference = cut.pixel_function()(cut.tf.constant(probes)).numpy()
    height, width = int(cut.pixels.shape[1]), int(cut.pixels.shape[2])
    dtype = cut.pixels.dtype.name
    errors = {}
    for method, crop, padding in CANDIDATE_FRONTS:
        for dct in ("fast", "accurate"):
            spec = FrontSpec(height, width, method, crop, padding, dtype, dct)
            mine = np.stack([prepare(data, spec) for data in probes])
            errors[(method, crop, dct)] = float(np.abs(mine.astype(np.float64) - reference).max())
            if errors[(method, crop, dct)] <= PIXEL_TOLERANCE:
                return spec
    raise ConversionError(f"the export's decode/resize matches none of the known ones (max errors: {errors})")


def detect_front(version_dir: Path) -> FrontSpec:
    """The decode/resize of an export, found by probing its graph (needs TensorFlow)."""
    return _choose_front(_GraphCut(Path(version_dir)), _probe_images())


def check_against_tensorflow(
    compiled: ov.CompiledModel, cut: _GraphCut, front: FrontSpec, probes: list[bytes]
) -> float:
    """Max |OpenVINO probability - TF score| over TF's top-k of each probe; raises past SCORE_TOLERANCE."""
    expected = cut.serve(image_bytes=cut.tf.constant(probes))
    batch = np.stack([prepare(data, front) for data in probes])
    probabilities = compiled(batch)[0]
    ids = expected["class_ids"].numpy()
    scores = expected["scores"].numpy()
    error = float(np.abs(np.take_along_axis(probabilities, ids, axis=1) - scores).max())
    if error > SCORE_TOLERANCE:
        raise ConversionError(f"converted network disagrees with TensorFlow: max score error {error:.2e}")
    return error


def convert(version_dir: Path) -> Converted:
    """Convert one exported version (needs TensorFlow); checked against TF before it is returned."""
    version_dir = Path(version_dir)
    cut = _GraphCut(version_dir)
    log.info(
        "converting %s: network from %s %s to %s",
        version_dir,
        cut.pixels.name,
        cut.pixels.shape,
        cut.probabilities.name,
    )
    model = ov.convert_model(cut.network_graph())
    model.inputs[0].get_tensor().set_names({INPUT_NAME})
    model.outputs[0].get_tensor().set_names({OUTPUT_NAME})
    probes = _probe_images()
    front = _choose_front(cut, probes)
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    error = check_against_tensorflow(compiled, cut, front, probes)
    log.info("converted %s: front %s, max score error vs TensorFlow %.1e", version_dir, front, error)
    return Converted(model=model, front=front, labels=cut.labels, top_k=cut.top_k)
