"""The image checks' memory budget: first come first served, bounded waits, and memory counted until a
decode really ends, even when its caller went away; and which uploads are decoded here at all."""

from __future__ import annotations

import asyncio
import threading

import pytest

from gateway.services import image_check
from gateway.services.image_check import ImageChecker, ImageLimits, MemoryBudget
from gateway.services.storage import UploadRejectedError
from tests.gateway.helpers import image_bytes

MIB = 1024 * 1024


def _limits(memory_bytes: int) -> ImageLimits:
    return ImageLimits(
        max_pixels=10_000_000,
        max_frames=10,
        memory_bytes=memory_bytes,
        serving_max_pixels=1_000_000,
        serving_max_bytes=MIB,
    )


async def test_requests_wait_until_they_fit_in_order() -> None:
    budget = MemoryBudget(100)
    assert await budget.acquire(60, 1) == 60
    second = asyncio.create_task(budget.acquire(60, 5))
    third = asyncio.create_task(budget.acquire(30, 5))  # would fit now, but waits its turn
    await asyncio.sleep(0.05)
    assert not second.done()
    assert not third.done()
    budget.release(60)
    assert await second == 60
    assert await third == 30
    assert budget.used == 90


async def test_a_wait_has_a_limit_and_leaves_the_budget_as_it_was() -> None:
    budget = MemoryBudget(100)
    await budget.acquire(100, 1)
    with pytest.raises(TimeoutError):
        await budget.acquire(1, 0.05)
    assert budget.used == 100
    budget.release(100)
    assert await budget.acquire(500, 0.05) == 100  # larger than the budget: runs alone
    assert budget.used == 100


async def test_a_cancelled_check_holds_its_memory_until_the_decode_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started, finish = threading.Event(), threading.Event()

    def slow_decode(_data: bytes, _max_pixels: int) -> bytes:
        started.set()
        finish.wait(10)
        return b""

    monkeypatch.setattr(image_check, "reduced_for_model", slow_decode)  # what a WebP gets
    checker = ImageChecker(_limits(64 * MIB), wait_seconds=1, threads=1)
    try:  # a WebP is decoded here (and sent as a JPEG): the model server does not decode WebP
        task = asyncio.create_task(checker.check(image_bytes("WEBP", size=(64, 64))))
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert checker.budget.used > 0  # the thread still decodes
        finish.set()
        for _ in range(100):
            if checker.budget.used == 0:
                break
            await asyncio.sleep(0.01)
        assert checker.budget.used == 0
    finally:
        finish.set()
        checker.close()


async def test_a_full_budget_is_a_503_with_retry_after() -> None:
    checker = ImageChecker(_limits(4 * MIB), wait_seconds=0.05, threads=1)
    try:
        await checker.budget.acquire(4 * MIB, 1)
        with pytest.raises(UploadRejectedError) as refused:
            await checker.check(image_bytes("WEBP", size=(64, 64)))
        assert refused.value.status_code == 503
        assert refused.value.headers == {"Retry-After": "1"}
    finally:
        checker.close()


async def test_an_image_the_model_server_takes_as_it_is_is_sent_without_a_decode_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[bytes] = []

    def counted(data: bytes) -> None:
        decoded.append(data)

    monkeypatch.setattr(image_check, "decode_first_frame", counted)
    checker = ImageChecker(_limits(64 * MIB), wait_seconds=1, threads=1)
    try:
        for kind in ("PNG", "JPEG", "GIF"):
            data = image_bytes(kind, size=(64, 64))
            assert await checker.check(data) is data
        assert decoded == []
        cut_off = image_bytes("JPEG", size=(64, 64))[:-300]  # no end marker: proven readable here first
        assert await checker.check(cut_off) is cut_off
        assert decoded == [cut_off]
    finally:
        checker.close()
