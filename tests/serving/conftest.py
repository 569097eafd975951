"""Servers for the serving tests; the models come from tests/model_fixtures.py (export_model's fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.serving_fixtures import ServingProcess, StartServing


@pytest.fixture(scope="session")
def tiny_server(start_shared_serving: StartServing, tiny_model_base: Path) -> ServingProcess:
    """Batching on, with the repository's serving/batching.config."""
    return start_shared_serving(tiny_model_base, "tiny")


@pytest.fixture(scope="session")
def tiny_channel(tiny_server: ServingProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(tiny_server.grpc_target) as channel:
        yield channel
