"""The OpenVINO IR of an exported version, which the OpenVINO engine (serving/engines/openvino.py) runs.

Modules: `decode` (bytes -> the graph's pixels, without TensorFlow), `convert` (SavedModel -> OpenVINO
network, TensorFlow needed only here), `quantize` (int8 post-training quantization), `artefacts` (the IR
cache beside the export: read and write only), `build` (fills the cache from `convert` and `quantize`;
CLI: `python -m serving.openvino_ir.build`).
"""
