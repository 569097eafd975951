"""The batch scheduler's rules with a stand-in model (the real path: test_batching_live.py)."""

from __future__ import annotations

import asyncio
import threading

import grpc
import numpy as np
import pytest

from serving.batching import BatchScheduler
from serving.config import BatchingOptions
from serving.errors import ServingError


class RecordingModel:
    """Doubles its input; remembers the batch sizes it was run with; can be held to keep batches queued."""

    name = "fake"

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []
        self.release = threading.Event()
        self.release.set()

    def run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.release.wait(10)
        self.batch_sizes.append(len(inputs["x"]))
        if np.any(inputs["x"] < 0):
            raise ValueError("negative input")
        return {"y": inputs["x"] * 2}


def options(**changes: int | tuple[int, ...]) -> BatchingOptions:
    values = {
        "max_batch_size": 4,
        "batch_timeout_micros": 20_000,
        "num_batch_threads": 1,
        "max_enqueued_batches": 8,
    }
    return BatchingOptions(**{**values, **changes})


def submit(scheduler: BatchScheduler, model: RecordingModel, values: list[float]) -> asyncio.Task:
    array = np.array(values, dtype=np.float32)
    return asyncio.ensure_future(scheduler.submit(model, "", {"x": array}, len(array)))  # type: ignore[arg-type]


async def test_requests_are_split_over_batches_and_merged_back_in_order() -> None:
    model, scheduler = RecordingModel(), BatchScheduler(options())
    big = submit(scheduler, model, [1, 2, 3, 4, 5, 6])
    small = submit(scheduler, model, [7, 8])
    assert (await big)["y"].tolist() == [2, 4, 6, 8, 10, 12]
    assert (await small)["y"].tolist() == [14, 16]
    assert model.batch_sizes == [4, 4]
    scheduler.shutdown()


async def test_a_partial_batch_runs_after_the_timeout_padded_to_an_allowed_size() -> None:
    model, scheduler = RecordingModel(), BatchScheduler(options(allowed_batch_sizes=(1, 2, 4)))
    first, second, third = (submit(scheduler, model, [value]) for value in (1, 2, 3))
    results = await asyncio.gather(first, second, third)
    assert [result["y"].tolist() for result in results] == [[2], [4], [6]]
    assert model.batch_sizes == [4]  # 3 rows, padded up to 4, one batch
    scheduler.shutdown()


async def test_a_full_queue_refuses_at_once_and_the_queued_work_still_completes() -> None:
    model, scheduler = (
        RecordingModel(),
        BatchScheduler(options(max_enqueued_batches=1, batch_timeout_micros=0)),
    )
    model.release.clear()
    running = submit(scheduler, model, [1, 2, 3, 4])  # taken by the only batch thread, held there
    await asyncio.sleep(0.05)
    queued = submit(scheduler, model, [5, 6, 7, 8])  # fills the one allowed queued batch
    await asyncio.sleep(0)
    with pytest.raises(ServingError) as refused:
        await scheduler.submit(model, "", {"x": np.array([9], np.float32)}, 1)  # type: ignore[arg-type]
    assert refused.value.code == grpc.StatusCode.UNAVAILABLE
    model.release.set()
    assert (await running)["y"].tolist() == [2, 4, 6, 8]
    assert (await queued)["y"].tolist() == [10, 12, 14, 16]
    scheduler.shutdown()


async def test_a_task_larger_than_the_whole_queue_is_invalid() -> None:
    model, scheduler = RecordingModel(), BatchScheduler(options(max_enqueued_batches=2))
    with pytest.raises(ServingError) as refused:
        await scheduler.submit(model, "", {"x": np.zeros(9, np.float32)}, 9)  # type: ignore[arg-type]
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    scheduler.shutdown()


async def test_a_failing_batch_is_retried_one_task_at_a_time_so_only_the_bad_one_fails() -> None:
    model, scheduler = RecordingModel(), BatchScheduler(options(max_batch_size=2, allowed_batch_sizes=(1, 2)))
    bad, partner = submit(scheduler, model, [-1]), submit(scheduler, model, [1])
    await asyncio.sleep(0)
    other = submit(scheduler, model, [3, 4])
    results = await asyncio.gather(bad, partner, other, return_exceptions=True)
    assert isinstance(results[0], ValueError)
    assert results[1]["y"].tolist() == [2]  # shared the failed batch, then ran on its own
    assert results[2]["y"].tolist() == [6, 8]
    assert model.batch_sizes == [2, 1, 1, 2]  # the failed batch, its two tasks alone, the other batch
    scheduler.shutdown()


async def test_a_task_whose_caller_has_gone_is_dropped_before_its_batch_runs() -> None:
    model, scheduler = RecordingModel(), BatchScheduler(options(max_batch_size=4))
    model.release.clear()
    running = submit(scheduler, model, [1, 2, 3, 4])  # holds the only batch thread
    await asyncio.sleep(0.05)
    caller_left = False
    gone_error = ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed")
    left = asyncio.ensure_future(
        scheduler.submit(
            model,  # type: ignore[arg-type]
            "",
            {"x": np.array([5, 6], np.float32)},
            2,
            lambda: gone_error if caller_left else None,
        )
    )
    stays = submit(scheduler, model, [7])
    await asyncio.sleep(0)
    caller_left = True
    model.release.set()
    assert (await running)["y"].tolist() == [2, 4, 6, 8]
    with pytest.raises(ServingError) as dropped:
        await left
    assert dropped.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert (await stays)["y"].tolist() == [14]
    assert model.batch_sizes == [4, 1]  # the gone caller's two rows never ran
    scheduler.shutdown()


class EchoModel(RecordingModel):
    """Answers with its input itself (a view of the batch's buffer)."""

    def run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.batch_sizes.append(len(inputs["x"]))
        return {"y": inputs["x"]}


async def test_an_answer_that_is_a_view_of_its_batch_survives_the_next_batch() -> None:
    model, scheduler = EchoModel(), BatchScheduler(options(allowed_batch_sizes=(4,), batch_timeout_micros=0))
    first = await asyncio.gather(*(submit(scheduler, model, [value]) for value in (1, 2)))
    second = await asyncio.gather(*(submit(scheduler, model, [value]) for value in (7, 8, 9)))
    assert [answer["y"].tolist() for answer in first] == [[1], [2]]
    assert [answer["y"].tolist() for answer in second] == [[7], [8], [9]]
    assert all(size == 4 for size in model.batch_sizes)  # padded, through the reused buffer
    scheduler.shutdown()
