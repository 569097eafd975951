"""Servers for the serving tests; the models come from tests/model_fixtures.py (export_model's fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.serving_fixtures import ServingProcess, StartServing


def _model_base(request: pytest.FixtureRequest, fixture: str, model: str) -> Path:
    """export_model's session fixture; until it exists, the same export through export_model.export."""
    try:
        return request.getfixturevalue(fixture)
    except pytest.FixtureLookupError:
        import export_model

        out = request.getfixturevalue("tmp_path_factory").mktemp(f"serving-{model}")
        return export_model.export(model, None, out).parent


@pytest.fixture(scope="session")
def tiny_base(request: pytest.FixtureRequest) -> Path:
    return _model_base(request, "tiny_model_base", "tiny")


@pytest.fixture(scope="session")
def tiny_server(start_serving: StartServing, tiny_base: Path) -> ServingProcess:
    """Batching on, with the repository's serving/batching.config."""
    return start_serving(tiny_base, "tiny")


@pytest.fixture(scope="session")
def tiny_channel(tiny_server: ServingProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(tiny_server.grpc_target) as channel:
        yield channel


@pytest.fixture(scope="session")
def efficientnet_base_path(request: pytest.FixtureRequest) -> Path:
    return _model_base(request, "efficientnet_base", "efficientnet-lite0")
