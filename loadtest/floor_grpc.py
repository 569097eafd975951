"""The model server's floor: a bare grpc.aio server that takes the same PredictRequest and answers a fixed
PredictResponse of the same shape (top-K labels, scores, class ids of one row), parsing each request.

    python -m loadtest.floor_grpc --port PORT

What the model server costs beyond this and beyond the model itself is its own work.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import grpc

from contracts import model as contract
from contracts.net import is_loopback
from tfs_protos.apis import predict_pb2, types_pb2

PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
MAX_MESSAGE = 64 << 20


def fixed_answer() -> predict_pb2.PredictResponse:
    response = predict_pb2.PredictResponse()
    response.model_spec.name = "floor"
    response.model_spec.version.value = 1
    response.model_spec.signature_name = contract.SIGNATURE
    outputs = (
        (contract.LABELS, types_pb2.DT_STRING, "string_val", [b"floor"] * contract.TOP_K),
        (contract.SCORES, types_pb2.DT_FLOAT, "float_val", [0.2] * contract.TOP_K),
        (contract.CLASS_IDS, types_pb2.DT_INT64, "int64_val", list(range(contract.TOP_K))),
    )
    for name, dtype, field, values in outputs:
        tensor = response.outputs[name]
        tensor.dtype = dtype
        tensor.tensor_shape.dim.add(size=1)
        tensor.tensor_shape.dim.add(size=contract.TOP_K)
        getattr(tensor, field).extend(values)
    return response


async def serve(host: str, port: int) -> None:
    answer = fixed_answer()

    async def predict(request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext) -> object:
        if not request.inputs:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no inputs")
        return answer

    handler = grpc.method_handlers_generic_handler(
        "tensorflow.serving.PredictionService",
        {
            "Predict": grpc.unary_unary_rpc_method_handler(
                predict,
                request_deserializer=predict_pb2.PredictRequest.FromString,
                response_serializer=predict_pb2.PredictResponse.SerializeToString,
            )
        },
    )
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
        ]
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    print(f"grpc floor on {host}:{port}", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await server.stop(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.floor_grpc", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error("the floor is for benchmarks on this machine: give a loopback address")
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
