"""The signatures of an exported version, read from its saved_model.pb without loading it."""

from __future__ import annotations

from pathlib import Path

from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from contracts import model as contract

DEFAULT_SIGNATURE = contract.SIGNATURE  # TF Serving's default when a request names none


def read_signature_defs(path: Path) -> dict[str, meta_graph_pb2.SignatureDef]:
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((path / "saved_model.pb").read_bytes())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return {key: value for key, value in meta_graph.signature_def.items() if not key.startswith("__")}
    raise ValueError(f"{path} has no MetaGraph tagged 'serve'")


def image_inputs(signature: meta_graph_pb2.SignatureDef) -> list[str]:
    """The inputs that carry encoded images: string inputs whose alias ends in `bytes`."""
    return sorted(
        alias
        for alias, info in signature.inputs.items()
        if info.dtype == types_pb2.DT_STRING and alias.endswith("bytes")
    )
