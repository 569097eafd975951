"""TF Serving config messages that the `tensorflow-serving-api` wheel does not ship.

`tensorflow_serving.config.model_server_config_pb2` is in the wheel; `BatchingParameters`
(`tensorflow_serving/servables/tensorflow/session_bundle_config.proto`) and `MonitoringConfig`
(`tensorflow_serving/config/monitoring_config.proto`) are not. When an installation provides the
official modules they are used; otherwise the same messages (same full names, field names, numbers
and types, so text and binary forms are identical) are declared here in a private descriptor pool.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2
from google.protobuf.message import Message

_F = descriptor_pb2.FieldDescriptorProto

# (name, number, type, type_name, repeated) of each field.
_BATCHING_FIELDS = [
    ("max_batch_size", 1, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value", False),
    ("batch_timeout_micros", 2, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value", False),
    ("max_enqueued_batches", 3, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value", False),
    ("num_batch_threads", 4, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value", False),
    ("thread_pool_name", 5, _F.TYPE_MESSAGE, ".google.protobuf.StringValue", False),
    ("allowed_batch_sizes", 6, _F.TYPE_INT64, "", True),
    ("pad_variable_length_inputs", 7, _F.TYPE_BOOL, "", False),
]
_PROMETHEUS_FIELDS = [
    ("enable", 1, _F.TYPE_BOOL, "", False),
    ("path", 2, _F.TYPE_STRING, "", False),
]
_MONITORING_FIELDS = [
    ("prometheus_config", 1, _F.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig", False),
]


def _message(name: str, fields: list[tuple[str, int, int, str, bool]]) -> descriptor_pb2.DescriptorProto:
    proto = descriptor_pb2.DescriptorProto(name=name)
    for field_name, number, field_type, type_name, repeated in fields:
        added = proto.field.add(
            name=field_name,
            number=number,
            type=field_type,
            label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
            json_name=field_name,
        )
        if type_name:
            added.type_name = type_name
    return proto


def _declared_messages() -> tuple[type[Message], type[Message]]:
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    batching_file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/servables/tensorflow/session_bundle_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
        message_type=[_message("BatchingParameters", _BATCHING_FIELDS)],
    )
    monitoring_file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/monitoring_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
        message_type=[
            _message("PrometheusConfig", _PROMETHEUS_FIELDS),
            _message("MonitoringConfig", _MONITORING_FIELDS),
        ],
    )
    pool.Add(batching_file)
    pool.Add(monitoring_file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")),
    )


try:  # an installation with the full TF Serving Python protos
    from tensorflow_serving.config.monitoring_config_pb2 import MonitoringConfig  # type: ignore[import-not-found]
    from tensorflow_serving.servables.tensorflow.session_bundle_config_pb2 import (  # type: ignore[import-not-found]
        BatchingParameters,
    )
except ImportError:
    BatchingParameters, MonitoringConfig = _declared_messages()

__all__ = ["BatchingParameters", "MonitoringConfig"]
