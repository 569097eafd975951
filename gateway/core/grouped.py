"""Group execution: many concurrent requests' database work in one round trip (group commit).

Rules, in order:
1. `submit(item)` waits for its own result and nothing else: the value its group's `work` returned for it,
   or the exception it raised.
2. A group starts at once when none is running: a lone request waits for nobody. While a group runs, items
   submitted meanwhile queue up and form the next group (at most `max_group` items; the rest wait for
   the one after), so the busier the gateway, the more requests share a round trip, and no timer adds
   latency.
3. `work(items)` answers each item, in order, with its result or with the exception that item alone
   failed with; an exception `work` raises fails every item of that group, and only that group.
4. A caller that stops waiting (cancelled, its client gone) does not stop its group: a row may still be
   written, as it could be by a single statement that was already sent.
5. Groups run one at a time per runner, on the event loop's side of the driver: `work` awaits the database
   once per group, not once per item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

Work = Callable[[Sequence[In]], Awaitable[Sequence[Out | BaseException]]]


class GroupRunner(Generic[In, Out]):
    def __init__(self, work: Work[In, Out], max_group: int = 64) -> None:
        if max_group < 1:
            raise ValueError("max_group must be >= 1")
        self._work = work
        self._max_group = max_group
        self._pending: list[tuple[In, asyncio.Future[Out]]] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, item: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._running is None:
            self._running = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                group = self._pending[: self._max_group]
                del self._pending[: self._max_group]
                await self._run(group)
        finally:
            self._running = None

    async def _run(self, group: list[tuple[In, asyncio.Future[Out]]]) -> None:
        try:
            results = await self._work([item for item, _ in group])
            if len(results) != len(group):
                raise RuntimeError(f"group work answered {len(results)} of {len(group)} items")
        except BaseException as exc:  # rule 3: the whole group, and only it
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(group, results, strict=True):
            if future.done():  # its caller was cancelled (rule 4)
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
