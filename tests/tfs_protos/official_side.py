"""The official side of the wire-compatibility test, run in its own process (it imports TensorFlow).

Reads {name: hex of the gateway's serialized message} on stdin; writes, for each name, the official
parse of those bytes, the official message built from the same values (serialized and as a dict), and
the official descriptors of the message types the gateway defines.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

from google.protobuf import descriptor_pool
from google.protobuf.json_format import MessageToDict
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2

from tests.tfs_protos.samples import MESSAGE_TYPES, build, describe


def main() -> None:
    ours = {name: bytes.fromhex(data) for name, data in json.load(sys.stdin).items()}
    samples = build(
        SimpleNamespace(
            predict_pb2=predict_pb2,
            get_model_status_pb2=get_model_status_pb2,
            get_model_metadata_pb2=get_model_metadata_pb2,
            meta_graph_pb2=meta_graph_pb2,
            types_pb2=types_pb2,
        )
    )
    out: dict = {"messages": {}, "descriptors": {}}
    for name, official in samples.items():
        parsed = type(official).FromString(ours[name])
        out["messages"][name] = {
            "parsed_ours": MessageToDict(parsed, preserving_proto_field_name=True),
            "official": MessageToDict(official, preserving_proto_field_name=True),
            "official_bytes": official.SerializeToString(deterministic=True).hex(),
        }
    pool = descriptor_pool.Default()
    for full_name in MESSAGE_TYPES:
        out["descriptors"][full_name] = describe(pool.FindMessageTypeByName(full_name))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
