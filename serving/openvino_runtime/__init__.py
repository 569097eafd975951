"""OpenVINO runtime for exported models (`--runtime openvino --precision f32|bf16|int8`).

    from serving.openvino_runtime import OpenVINORuntime
    runtime = OpenVINORuntime(Path("models/resnet50/1"), "int8")
    labels, scores, class_ids = runtime.predict([jpeg_bytes, png_bytes])

Modules: `decode` (bytes -> the graph's pixels, without TensorFlow), `convert` (SavedModel -> OpenVINO
network, TensorFlow needed only here), `quantize` (int8 post-training quantization), `artefacts` (the IR
cache beside the export: read and write only), `build` (fills the cache from `convert` and `quantize`;
CLI), `precision` (the precisions and whether this CPU runs them), `runtime` (the class the server holds),
`bench` (throughput, start-up and memory vs TensorFlow).
"""

from serving.openvino_runtime.precision import UnsupportedPrecisionError
from serving.openvino_runtime.runtime import OpenVINORuntime

__all__ = ["OpenVINORuntime", "UnsupportedPrecisionError"]
