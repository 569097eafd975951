"""What the gRPC and REST APIs both answer, independent of transport (as TF Serving shares
get_model_status_impl and get_model_metadata_impl): which version a request names, model metadata,
version status, and the headers that say what runs a version."""

from __future__ import annotations

from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from serving.errors import invalid_argument
from serving.manager import LATEST, ModelManager, VersionRequest

SIGNATURE_DEF_FIELD = "signature_def"
MAX_VERSION = 2**63 - 1  # versions are int64 in TF Serving's protos


def from_model_spec(spec: model_pb2.ModelSpec) -> VersionRequest:
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return VersionRequest(number=spec.version.value)
    if choice == "version_label":
        return VersionRequest(label=spec.version_label)
    return LATEST


def from_rest_path(version: str | None, label: str | None) -> VersionRequest:
    """`/versions/<n>` or `/labels/<label>` of a REST path (already split by the router)."""
    if label:
        return VersionRequest(label=label)
    if not version:
        return LATEST
    if len(version) > len(str(MAX_VERSION)) or int(version) > MAX_VERSION:
        raise invalid_argument(f"version {version:.24}... is not a valid version (at most {MAX_VERSION})")
    return VersionRequest(number=int(version))


def runtime_headers(runtime_info: dict[str, str]) -> list[tuple[str, str]]:
    """`x-model-runtime: openvino`, `x-model-precision: int8`, ... as gRPC metadata or HTTP headers."""
    return [(f"x-model-{key.replace('_', '-')}", value) for key, value in runtime_info.items()]


def model_metadata(
    manager: ModelManager, name: str, version: VersionRequest, fields: list[str]
) -> tuple[get_model_metadata_pb2.GetModelMetadataResponse, dict[str, str]]:
    """TF Serving's response, and the runtime/precision of the version it describes."""
    if not fields:
        raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field in fields:
        if field != SIGNATURE_DEF_FIELD:
            raise invalid_argument(f"Metadata field {field} is not supported")
    with manager.acquire(name, version) as servable:
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = name
        response.model_spec.version.value = servable.version
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in servable.signature_defs.items():
            signatures.signature_def[key].CopyFrom(signature)
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signatures)
        return response, servable.runtime_info


def model_status(
    manager: ModelManager, name: str, version: VersionRequest
) -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    for entry in manager.status(name, version):
        status = response.model_version_status.add()
        status.version = entry.version
        status.state = entry.state
        status.status.error_code = error_codes_pb2.UNKNOWN if entry.error else error_codes_pb2.OK
        status.status.error_message = entry.error
    return response
