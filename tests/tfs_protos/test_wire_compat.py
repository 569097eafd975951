"""The generated TF Serving messages are wire-compatible with the official ones, both ways, and share a
process with them."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import pytest
from google.protobuf import descriptor_pool
from google.protobuf.json_format import MessageToDict

from stack.procs import PYTHON, REPO_ROOT
from tests.tfs_protos.samples import MESSAGE_TYPES, build, describe
from tfs_protos.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    meta_graph_pb2,
    predict_pb2,
    types_pb2,
)
from tfs_protos.config import BatchingParameters, MonitoringConfig
from tfs_protos.pool import POOL

OURS = SimpleNamespace(
    predict_pb2=predict_pb2,
    get_model_status_pb2=get_model_status_pb2,
    get_model_metadata_pb2=get_model_metadata_pb2,
    meta_graph_pb2=meta_graph_pb2,
    types_pb2=types_pb2,
)


@pytest.fixture(scope="module")
def official() -> dict:
    samples = build(OURS)
    stdin = json.dumps({name: m.SerializeToString(deterministic=True).hex() for name, m in samples.items()})
    done = subprocess.run(
        [PYTHON, "-m", "tests.tfs_protos.official_side"],
        input=stdin,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _dict(message) -> dict:
    return MessageToDict(message, preserving_proto_field_name=True, descriptor_pool=POOL)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(build(OURS)))
def test_messages_cross_the_wire_both_ways(official: dict, name: str) -> None:
    ours = build(OURS)[name]
    theirs = official["messages"][name]
    # gateway -> official: the official parser reads every field the gateway wrote.
    assert theirs["parsed_ours"] == _dict(ours)
    # official -> gateway: the gateway reads every field the official messages wrote...
    from_official = type(ours).FromString(bytes.fromhex(theirs["official_bytes"]))
    assert _dict(from_official) == theirs["official"]
    # ...and both write the very same bytes.
    assert ours.SerializeToString(deterministic=True).hex() == theirs["official_bytes"]


@pytest.mark.slow
@pytest.mark.parametrize("full_name", MESSAGE_TYPES)
def test_every_gateway_field_matches_the_official_definition(official: dict, full_name: str) -> None:
    """Same numbers, types, labels and enum values; the gateway may leave fields out, never change them."""

    def check(ours: dict, theirs: dict, where: str) -> None:
        for field, spec in ours["fields"].items():
            assert theirs["fields"].get(field) == spec, f"{where}.{field}"
        for nested, nested_spec in ours["nested"].items():
            check(nested_spec, theirs["nested"][nested], nested)
        for enum, values in ours["enums"].items():
            assert values == theirs["enums"][enum], enum

    check(describe(POOL.FindMessageTypeByName(full_name)), official["descriptors"][full_name], full_name)


def test_signature_def_map_unpacks_from_metadata() -> None:
    response = build(OURS)["GetModelMetadataResponse"]
    signatures = get_model_metadata_pb2.SignatureDefMap.FromString(response.metadata["signature_def"].value)
    assert signatures.signature_def["serving_default"].inputs["image_bytes"].dtype == types_pb2.DT_STRING


@pytest.mark.parametrize(
    "message", [predict_pb2.PredictRequest, get_model_status_pb2.ModelVersionStatus, BatchingParameters]
)
def test_messages_live_in_the_private_pool_under_this_package(message: type) -> None:
    assert message.DESCRIPTOR.file.pool is POOL
    assert POOL is not descriptor_pool.Default()
    assert message.__module__.startswith("tfs_protos.generated.")


@pytest.mark.slow
def test_generated_and_official_modules_share_a_process() -> None:
    """A test or load-generator process imports both: same full names, no clash, either order."""
    code = """
import tfs_protos.apis as ours, tfs_protos.config as our_config
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.config import model_server_config_pb2
import tfs_protos.apis
theirs = predict_pb2.PredictRequest(output_filter=["scores"])
again = ours.predict_pb2.PredictRequest.FromString(theirs.SerializeToString())
assert list(again.output_filter) == ["scores"]
assert type(again).DESCRIPTOR.full_name == type(theirs).DESCRIPTOR.full_name
assert type(again) is not type(theirs)
our_config.MonitoringConfig(prometheus_config={"enable": True})
"""
    done = subprocess.run(
        [PYTHON, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_config_messages_keep_tf_servings_field_numbers() -> None:
    """The official Python modules lack these; the numbers are TF Serving's (session_bundle_config.proto,
    monitoring_config.proto)."""
    batching = {f.name: f.number for f in BatchingParameters.DESCRIPTOR.fields}
    assert batching == {
        "max_batch_size": 1,
        "batch_timeout_micros": 2,
        "max_enqueued_batches": 3,
        "num_batch_threads": 4,
        "thread_pool_name": 5,
        "allowed_batch_sizes": 6,
        "pad_variable_length_inputs": 7,
    }
    assert BatchingParameters.DESCRIPTOR.full_name == "tensorflow.serving.BatchingParameters"
    prometheus = MonitoringConfig.DESCRIPTOR.fields_by_name["prometheus_config"]
    assert prometheus.number == 1
    assert prometheus.message_type.full_name == "tensorflow.serving.PrometheusConfig"
    assert {f.name: f.number for f in prometheus.message_type.fields} == {"enable": 1, "path": 2}
