"""An in-process TF-Serving-like gRPC server for unit tests, made from the gateway's generated stubs."""

from __future__ import annotations

import array
import asyncio
from dataclasses import dataclass, field

import grpc
from grpc import aio

from tfs_protos.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    types_pb2,
)

LABELS = [b"tabby", b"tiger_cat", b"Egyptian_cat", b"lynx", b"Persian_cat"]
SCORES = [0.5, 0.25, 0.125, 0.0625, 0.03125]
CLASS_IDS = [281, 282, 285, 287, 283]


@dataclass
class Behaviour:
    mode: str = "ok"  # ok | unavailable | slow | invalid | not_found
    version: int = 3
    delay: float = 2.0
    packed: bool = False  # numbers in tensor_content, as tf.make_tensor_proto writes them
    predict_calls: int = 0
    status_calls: int = 0
    request_ids: list[str] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)  # what each Predict was sent
    labels: dict[str, int] = field(
        default_factory=dict
    )  # version_labels; others are unknown, as in TF Serving
    down_labels: set[str] = field(default_factory=set)  # labels whose Predict fails with `mode`
    asked_labels: list[str] = field(default_factory=list)  # each Predict's model_spec.version_label
    metadata_calls: int = 0


class _Servicer(
    prediction_service_pb2_grpc.PredictionServiceServicer, model_service_pb2_grpc.ModelServiceServicer
):
    def __init__(self, behaviour: Behaviour) -> None:
        self.b = behaviour

    async def _version(self, label: str, context: aio.ServicerContext) -> int:
        if not label:
            return self.b.version
        if label not in self.b.labels:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"Unrecognized servable version label: {label}"
            )
        return self.b.labels[label]

    async def _misbehave(self, context: aio.ServicerContext) -> None:
        if self.b.mode == "unavailable":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "fake replica is draining")
        if self.b.mode == "invalid":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Invalid JPEG data")
        if self.b.mode == "not_found":
            await context.abort(grpc.StatusCode.NOT_FOUND, "Servable not found")
        if self.b.mode == "slow":
            await asyncio.sleep(self.b.delay)

    async def Predict(self, request: predict_pb2.PredictRequest, context: aio.ServicerContext):  # noqa: N802
        self.b.predict_calls += 1
        self.b.request_ids.append(dict(context.invocation_metadata()).get("x-request-id", ""))
        label = request.model_spec.version_label
        self.b.asked_labels.append(label)
        version = await self._version(label, context)
        if not self.b.down_labels or label in self.b.down_labels:
            await self._misbehave(context)
        images = request.inputs["image_bytes"]
        assert images.dtype == types_pb2.DT_STRING
        assert len(images.string_val) == 1
        self.b.images.append(images.string_val[0])
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version
        for key, dtype in (
            ("labels", types_pb2.DT_STRING),
            ("scores", types_pb2.DT_FLOAT),
            ("class_ids", types_pb2.DT_INT64),
        ):
            tensor = response.outputs[key]
            tensor.dtype = dtype
            tensor.tensor_shape.dim.add(size=1)
            tensor.tensor_shape.dim.add(size=5)
        response.outputs["labels"].string_val.extend(LABELS)
        if self.b.packed:
            response.outputs["scores"].tensor_content = array.array("f", SCORES).tobytes()
            response.outputs["class_ids"].tensor_content = array.array("q", CLASS_IDS).tobytes()
        else:
            response.outputs["scores"].float_val.extend(SCORES)
            response.outputs["class_ids"].int64_val.extend(CLASS_IDS)
        return response

    async def GetModelStatus(self, request, context: aio.ServicerContext):  # noqa: N802
        self.b.status_calls += 1
        if self.b.mode in ("unavailable", "not_found"):
            await self._misbehave(context)
        response = get_model_status_pb2.GetModelStatusResponse()
        status = response.model_version_status.add()
        status.version = self.b.version
        status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        return response

    async def GetModelMetadata(self, request, context: aio.ServicerContext):  # noqa: N802
        self.b.metadata_calls += 1
        label = request.model_spec.version_label
        if self.b.mode in ("unavailable", "not_found") and (
            not self.b.down_labels or label in self.b.down_labels
        ):
            await self._misbehave(context)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = await self._version(label, context)
        return response


class FakeServing:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.server = aio.server()
        servicer = _Servicer(self.behaviour)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, self.server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(servicer, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.target = f"127.0.0.1:{self.port}"

    async def start(self) -> FakeServing:
        await self.server.start()
        return self

    async def stop(self) -> None:
        await self.server.stop(grace=None)

    def reset(self, **changes: object) -> Behaviour:
        fresh = Behaviour(**changes)  # type: ignore[arg-type]
        self.behaviour.__dict__.update(fresh.__dict__)
        return self.behaviour
