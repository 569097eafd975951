"""GroupRunner's rules (gateway/core/grouped.py), with a work function that records its groups."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from gateway.core.grouped import GroupRunner


class Recorder:
    """Doubles each item after yielding to the loop; an item "bad" fails alone, "boom" fails its group."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def work(self, items: Sequence[str]) -> list[str | BaseException]:
        self.groups.append(list(items))
        await self.release.wait()
        await asyncio.sleep(0)
        if "boom" in items:
            raise RuntimeError("the database is down")
        return [ValueError(item) if item == "bad" else item * 2 for item in items]


async def test_a_lone_item_runs_at_once_in_a_group_of_its_own() -> None:
    recorder = Recorder()
    runner = GroupRunner(recorder.work)
    assert await runner.submit("a") == "aa"
    assert recorder.groups == [["a"]]


async def test_items_that_arrive_while_a_group_runs_share_the_next_group() -> None:
    recorder = Recorder()
    recorder.release.clear()
    runner = GroupRunner(recorder.work)
    first = asyncio.create_task(runner.submit("a"))
    await asyncio.sleep(0)  # the first group has started and waits on the "database"
    rest = [asyncio.create_task(runner.submit(item)) for item in ("b", "c", "d")]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await first == "aa"
    assert [await task for task in rest] == ["bb", "cc", "dd"]
    assert recorder.groups == [["a"], ["b", "c", "d"]]


async def test_a_group_is_at_most_max_group_items() -> None:
    recorder = Recorder()
    recorder.release.clear()
    runner = GroupRunner(recorder.work, max_group=2)
    tasks = [asyncio.create_task(runner.submit(item)) for item in "abcde"]
    await asyncio.sleep(0)  # all five are queued before the first group starts
    recorder.release.set()
    assert await asyncio.gather(*tasks) == ["aa", "bb", "cc", "dd", "ee"]
    assert recorder.groups == [["a", "b"], ["c", "d"], ["e"]]


async def test_an_item_that_fails_fails_alone() -> None:
    recorder = Recorder()
    recorder.release.clear()
    runner = GroupRunner(recorder.work)
    first = asyncio.create_task(runner.submit("a"))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(runner.submit(item)) for item in ("b", "bad", "c")]
    await asyncio.sleep(0)
    recorder.release.set()
    results = await asyncio.gather(first, *tasks, return_exceptions=True)
    assert results[:2] == ["aa", "bb"]
    assert results[3] == "cc"
    assert isinstance(results[2], ValueError)
    assert recorder.groups[1] == ["b", "bad", "c"]


async def test_work_that_raises_fails_its_whole_group_and_only_it() -> None:
    recorder = Recorder()
    recorder.release.clear()
    runner = GroupRunner(recorder.work)
    first = asyncio.create_task(runner.submit("a"))
    await asyncio.sleep(0)
    doomed = [asyncio.create_task(runner.submit(item)) for item in ("b", "boom")]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await first == "aa"
    for task in doomed:
        with pytest.raises(RuntimeError, match="down"):
            await task
    assert await runner.submit("z") == "zz"  # the runner goes on with the next group


async def test_a_caller_that_gives_up_does_not_stop_its_group() -> None:
    recorder = Recorder()
    recorder.release.clear()
    runner = GroupRunner(recorder.work)
    first = asyncio.create_task(runner.submit("a"))
    await asyncio.sleep(0)
    quitter = asyncio.create_task(runner.submit("q"))
    stayer = asyncio.create_task(runner.submit("s"))
    await asyncio.sleep(0)
    quitter.cancel()
    recorder.release.set()
    assert await first == "aa"
    assert await stayer == "ss"
    assert quitter.cancelled()
    assert recorder.groups == [["a"], ["q", "s"]]


def test_max_group_must_be_positive() -> None:
    async def work(items: Sequence[str]) -> list[str]:
        return list(items)

    with pytest.raises(ValueError, match="max_group"):
        GroupRunner(work, max_group=0)
