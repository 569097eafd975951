"""Default ports, and where the N-th local serving replica listens: each one PORT_STEP above the last."""

from __future__ import annotations

SERVING_GRPC = 8500
SERVING_REST = 8501
GATEWAY = 8000
FRONTEND = 7860
PORT_STEP = 10


def replica(index: int, grpc: int = SERVING_GRPC, rest: int = SERVING_REST) -> tuple[int, int]:
    """(gRPC, REST) of replica `index` (0-based): 8500/8501, 8510/8511, …"""
    return grpc + PORT_STEP * index, rest + PORT_STEP * index


def replica_ports(count: int, grpc: int = SERVING_GRPC, rest: int = SERVING_REST) -> list[tuple[int, int]]:
    return [replica(index, grpc, rest) for index in range(count)]
