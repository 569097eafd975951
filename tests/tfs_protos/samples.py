"""The same TF Serving messages, built from either the gateway's generated modules or the official
`tensorflow_serving` ones (whichever modules are passed in), for the wire-compatibility test."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

MESSAGE_TYPES = [
    "tensorflow.serving.PredictRequest",
    "tensorflow.serving.PredictResponse",
    "tensorflow.serving.GetModelStatusRequest",
    "tensorflow.serving.GetModelStatusResponse",
    "tensorflow.serving.GetModelMetadataRequest",
    "tensorflow.serving.GetModelMetadataResponse",
    "tensorflow.serving.SignatureDefMap",
    "tensorflow.serving.ModelSpec",
    "tensorflow.TensorProto",
]


def build(m: SimpleNamespace) -> dict[str, Any]:
    """`m` holds predict_pb2, get_model_status_pb2, get_model_metadata_pb2, meta_graph_pb2, types_pb2."""
    samples: dict[str, Any] = {}

    request = m.predict_pb2.PredictRequest()
    request.model_spec.name = "resnet50"
    request.model_spec.version.value = 7
    request.model_spec.signature_name = "serving_default"
    images = request.inputs["image_bytes"]
    images.dtype = m.types_pb2.DT_STRING
    images.tensor_shape.dim.add(size=2)
    images.string_val.extend([b"\xff\xd8\xff\xe0 jpeg", b"\x89PNG\r\n\x1a\n png"])
    request.output_filter.extend(["labels", "scores"])
    samples["PredictRequest"] = request

    response = m.predict_pb2.PredictResponse()
    response.model_spec.name = "resnet50"
    response.model_spec.version.value = 7
    response.model_spec.signature_name = "serving_default"
    for key, dtype in (
        ("labels", m.types_pb2.DT_STRING),
        ("scores", m.types_pb2.DT_FLOAT),
        ("class_ids", m.types_pb2.DT_INT64),
    ):
        tensor = response.outputs[key]
        tensor.dtype = dtype
        tensor.tensor_shape.dim.add(size=1)
        tensor.tensor_shape.dim.add(size=3)
    response.outputs["labels"].string_val.extend([b"Eskimo_dog", b"malamute", b"Siberian_husky"])
    response.outputs["scores"].float_val.extend([0.75, 0.125, 0.0625])
    response.outputs["class_ids"].int64_val.extend([248, 249, 250])
    samples["PredictResponse"] = response

    status_request = m.get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "resnet50"
    status_request.model_spec.version_label = "stable"
    samples["GetModelStatusRequest"] = status_request

    status = m.get_model_status_pb2.GetModelStatusResponse()
    available = status.model_version_status.add(version=2)
    available.state = m.get_model_status_pb2.ModelVersionStatus.AVAILABLE
    ended = status.model_version_status.add(version=1)
    ended.state = m.get_model_status_pb2.ModelVersionStatus.END
    ended.status.error_code = 5  # NOT_FOUND
    ended.status.error_message = "version 1 was removed"
    samples["GetModelStatusResponse"] = status

    metadata_request = m.get_model_metadata_pb2.GetModelMetadataRequest()
    metadata_request.model_spec.name = "resnet50"
    metadata_request.metadata_field.append("signature_def")
    samples["GetModelMetadataRequest"] = metadata_request

    signatures = m.get_model_metadata_pb2.SignatureDefMap()
    signature = signatures.signature_def["serving_default"]
    signature.method_name = "tensorflow/serving/predict"
    image_info = signature.inputs["image_bytes"]
    image_info.name = "serving_default_image_bytes:0"
    image_info.dtype = m.types_pb2.DT_STRING
    image_info.tensor_shape.dim.add(size=-1)
    scores_info = signature.outputs["scores"]
    scores_info.name = "StatefulPartitionedCall:1"
    scores_info.dtype = m.types_pb2.DT_FLOAT
    scores_info.tensor_shape.dim.add(size=-1)
    scores_info.tensor_shape.dim.add(size=5)
    samples["SignatureDefMap"] = signatures

    metadata = m.get_model_metadata_pb2.GetModelMetadataResponse()
    metadata.model_spec.name = "resnet50"
    metadata.model_spec.version.value = 2
    packed = metadata.metadata["signature_def"]
    packed.type_url = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    packed.value = signatures.SerializeToString(deterministic=True)
    samples["GetModelMetadataResponse"] = metadata
    return samples


def describe(descriptor: Any) -> dict[str, Any]:
    """Field names, numbers, types and labels of a message type and the types nested in it."""
    fields = {
        f.name: [
            f.number,
            f.type,
            f.is_repeated,
            f.message_type.full_name if f.message_type else None,
            f.enum_type.full_name if f.enum_type else None,
        ]
        for f in descriptor.fields
    }
    nested = {n.full_name: describe(n) for n in descriptor.nested_types}
    enums = {e.full_name: {v.name: v.number for v in e.values} for e in descriptor.enum_types}
    return {"fields": fields, "nested": nested, "enums": enums}
