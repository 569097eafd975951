"""The gRPC client's replica handling against two in-process fake model servers (unit level; the real
server is used in test_integration.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.services.serving_client import ServingClient, ServingError
from stack.procs import free_port
from tests.gateway.fake_serving import FakeServing


@pytest.fixture
async def two_fakes() -> AsyncIterator[tuple[FakeServing, FakeServing]]:
    a, b = await FakeServing().start(), await FakeServing().start()
    yield a, b
    await a.stop()
    await b.stop()


async def test_calls_rotate_over_a_comma_list(two_fakes) -> None:
    a, b = two_fakes
    client = ServingClient(f"{a.target},{b.target}", "resnet50", timeout=5, status_ttl=0)
    try:
        for _ in range(6):
            result = await client.classify(b"image")
            assert result.labels[0] == "tabby"
            assert result.model_version == 3
    finally:
        await client.close()
    assert (a.behaviour.predict_calls, b.behaviour.predict_calls) == (3, 3)


async def test_unavailable_replica_is_retried_on_the_other(two_fakes) -> None:
    a, b = two_fakes
    a.behaviour.mode = "unavailable"
    client = ServingClient(f"{a.target},{b.target}", "resnet50", timeout=5, status_ttl=0)
    try:
        for _ in range(4):
            assert (await client.classify(b"image")).labels[0] == "tabby"
    finally:
        await client.close()
    assert b.behaviour.predict_calls == 4
    assert 1 <= a.behaviour.predict_calls <= 2  # tried on its turns, never twice in one call


async def test_dead_replica_address_is_skipped(two_fakes) -> None:
    a, _ = two_fakes
    client = ServingClient(f"127.0.0.1:{free_port()},{a.target}", "resnet50", timeout=5, status_ttl=0)
    try:
        for _ in range(4):
            assert (await client.classify(b"image")).labels[0] == "tabby"
        assert await client.available_versions() == [3]
    finally:
        await client.close()


async def test_all_replicas_down_is_503_and_deadline_is_504(two_fakes) -> None:
    a, b = two_fakes
    a.behaviour.mode = b.behaviour.mode = "unavailable"
    client = ServingClient(f"{a.target},{b.target}", "resnet50", timeout=0.5, status_ttl=0)
    try:
        with pytest.raises(ServingError) as down:
            await client.classify(b"image")
        assert down.value.status_code == 503
        a.behaviour.mode = b.behaviour.mode = "slow"
        with pytest.raises(ServingError) as late:
            await client.classify(b"image")
        assert late.value.status_code == 504
    finally:
        await client.close()


async def test_latest_version_is_remembered_for_its_ttl(two_fakes) -> None:
    a, _ = two_fakes
    client = ServingClient(a.target, "resnet50", timeout=5, status_ttl=60)
    try:
        assert await client.latest_version() == 3
        a.behaviour.version = 4
        assert await client.latest_version() == 3
        assert a.behaviour.status_calls == 1
        client.status_ttl = 0
        assert await client.latest_version() == 4
        a.behaviour.mode = "unavailable"
        assert await client.latest_version() == 4  # the last known version while serving is down
    finally:
        await client.close()


async def test_dns_target_uses_one_round_robin_channel(two_fakes) -> None:
    a, _ = two_fakes
    client = ServingClient(f"dns:///localhost:{a.port}", "resnet50", timeout=5, status_ttl=0)
    try:
        assert len(client.replicas) == 1
        assert (await client.classify(b"image")).labels[0] == "tabby"
    finally:
        await client.close()


async def test_numbers_in_tensor_content_are_read(two_fakes) -> None:
    a, _ = two_fakes
    a.behaviour.packed = True
    client = ServingClient(a.target, "resnet50", timeout=5, status_ttl=0)
    try:
        result = await client.classify(b"image")
    finally:
        await client.close()
    assert result.scores == [0.5, 0.25, 0.125, 0.0625, 0.03125]
    assert result.class_ids == [281, 282, 285, 287, 283]


async def test_a_label_is_resolved_through_metadata_and_remembered_per_label(two_fakes) -> None:
    a, _ = two_fakes
    a.behaviour.labels = {"stable": 3, "canary": 4}
    client = ServingClient(a.target, "resnet50", timeout=5, status_ttl=60)
    try:
        assert await client.labelled_version("canary") == 4
        assert await client.labelled_version("stable") == 3
        a.behaviour.labels = {"stable": 4, "canary": 5}
        assert await client.version_for("canary") == 4  # remembered for the TTL
        assert a.behaviour.metadata_calls == 2
        answer = await client.classify(b"image", "canary")
        assert (answer.model_version, answer.label) == (5, "canary")
        assert await client.labelled_version("canary") == 5  # the answer says where the label points now
        assert await client.latest_version() == 3  # a labelled answer is not the latest version
        assert a.behaviour.asked_labels == ["canary"]
    finally:
        await client.close()


async def test_an_unknown_label_resolves_to_none_and_a_down_server_to_the_last_known(two_fakes) -> None:
    a, _ = two_fakes
    a.behaviour.labels = {"canary": 4}
    client = ServingClient(a.target, "resnet50", timeout=5, status_ttl=0)
    try:
        assert await client.labelled_version("canary") == 4
        a.behaviour.mode = "unavailable"
        a.behaviour.labels = {}
        assert await client.labelled_version("canary") == 4
        a.behaviour.mode = "ok"
        assert await client.labelled_version("canary") is None
        with pytest.raises(ServingError) as unknown:
            await client.classify(b"image", "canary")
        assert (unknown.value.status_code, unknown.value.reason) == (503, "unknown_label")
    finally:
        await client.close()
