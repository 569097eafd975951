"""TF Serving's gRPC API: PredictionService, ModelService and their messages, without TensorFlow."""

from tfs_protos import require_generated

require_generated()

# After the check, so a fresh checkout gets its message instead of a bare ModuleNotFoundError.
from tfs_protos.generated.tensorflow.core.framework import (  # noqa: E402
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
)
from tfs_protos.generated.tensorflow.core.protobuf import meta_graph_pb2  # noqa: E402
from tfs_protos.generated.tensorflow_serving.apis import (  # noqa: E402
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

__all__ = [
    "get_model_metadata_pb2",
    "get_model_status_pb2",
    "meta_graph_pb2",
    "model_pb2",
    "model_service_pb2_grpc",
    "predict_pb2",
    "prediction_service_pb2_grpc",
    "tensor_pb2",
    "tensor_shape_pb2",
    "types_pb2",
]
