"""Server-side batching with the semantics of TF Serving's SharedBatchScheduler + BatchingSession.

- One queue per (model version, signature); the `num_batch_threads` workers are shared by all queues.
- Tasks go into the open batch of their queue. A task that does not fit fills the open batch and the
  rest goes into new batches (large-batch splitting); the caller gets its rows back in order.
- A batch is processed when it is full (`max_batch_size`), when it is not the newest batch of its
  queue, or when its oldest task has waited `batch_timeout_micros` — and a worker is free.
- Batches waiting for a worker count against `max_enqueued_batches`; a task that would need more is
  refused at once with UNAVAILABLE.
- With `allowed_batch_sizes` a batch is padded (repeating its first row) up to the next allowed size.
- A task too large for the whole queue is refused with INVALID_ARGUMENT before anything else is checked
  (`check_task_size`, called by the predictor before it looks at a single image).
- A task whose caller has gone (cancelled, deadline passed, REST client disconnected) is dropped from
  its batch when the batch is taken to run; a batch left empty does not run at all.
- One caller's bad input never fails another's: inputs are checked before they join a batch, and if a
  batch of several tasks still fails, each of its tasks is run again on its own, so only the task that
  fails alone gets the error.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from serving.config import BatchingOptions
from serving.errors import Gone, invalid_argument, still_here, unavailable
from serving.servable import Servable

Arrays = dict[str, np.ndarray]


class _Task:
    """One caller's request; it may be split over several batches."""

    def __init__(self, inputs: Arrays, size: int, future: asyncio.Future[Arrays], gone: Gone) -> None:
        self.inputs = inputs
        self.size = size
        self.future = future
        self.gone = gone
        self._parts: dict[int, Arrays] = {}
        self._received = 0

    def wanted(self) -> bool:
        """False (and the task failed) once its caller has gone or it has already failed."""
        if self.future.done():
            return False
        error = self.gone()
        if error is not None:
            self.fail(error)
            return False
        return True

    def deliver(self, start: int, outputs: Arrays) -> None:
        if self.future.done():
            return
        self._parts[start] = outputs
        self._received += next(iter(outputs.values())).shape[0] if outputs else 0
        if self._received >= self.size:
            ordered = [self._parts[key] for key in sorted(self._parts)]
            if len(ordered) == 1:
                self.future.set_result(ordered[0])
            else:
                self.future.set_result(
                    {alias: np.concatenate([p[alias] for p in ordered]) for alias in ordered[0]}
                )

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


@dataclass
class _Piece:
    task: _Task
    start: int
    size: int


@dataclass
class _Batch:
    created: float
    pieces: list[_Piece] = field(default_factory=list)
    size: int = 0


@dataclass
class _Queue:
    servable: Servable
    signature_name: str
    batches: deque[_Batch] = field(default_factory=deque)

    @property
    def model(self) -> str:
        return self.servable.name


class BatchMetrics:
    """What the scheduler reports; serving.metrics implements it for Prometheus."""

    def batch_run(self, model: str, size: int, padded_size: int) -> None: ...

    def queued(self, model: str, delta: int) -> None: ...


class BatchScheduler:
    def __init__(self, options: BatchingOptions, metrics: BatchMetrics | None = None) -> None:
        self.options = options
        self._metrics = metrics or BatchMetrics()
        self._executor = ThreadPoolExecutor(options.num_batch_threads, thread_name_prefix="batch")
        self._free = options.num_batch_threads
        self._queues: dict[tuple[int, str], _Queue] = {}
        self._order: deque[tuple[int, str]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._timeout = options.batch_timeout_micros / 1e6

    # --- submitting -----------------------------------------------------------------------------
    def check_task_size(self, size: int) -> None:
        limit = self.options.max_batch_size
        if size > limit * self.options.max_enqueued_batches:
            raise invalid_argument(
                f"Task size {size} is larger than the batch queue holds "
                f"(max_batch_size {limit} x max_enqueued_batches {self.options.max_enqueued_batches})"
            )

    async def submit(
        self, servable: Servable, signature_name: str, inputs: Arrays, size: int, gone: Gone = still_here
    ) -> Arrays:
        loop = asyncio.get_running_loop()
        queue = self._queue(servable, signature_name)
        limit = self.options.max_batch_size
        self.check_task_size(size)
        open_batch = queue.batches[-1] if queue.batches and queue.batches[-1].size < limit else None
        room = limit - open_batch.size if open_batch else 0
        new_batches = math.ceil(max(0, size - room) / limit)
        if len(queue.batches) + new_batches > self.options.max_enqueued_batches:
            raise unavailable("The batch scheduling queue to which this task was submitted is full")
        task = _Task(inputs, size, loop.create_future(), gone)
        start = 0
        now = loop.time()
        while start < size:
            batch = queue.batches[-1] if queue.batches and queue.batches[-1].size < limit else None
            if batch is None:
                batch = _Batch(created=now)
                queue.batches.append(batch)
            take = min(limit - batch.size, size - start)
            batch.pieces.append(_Piece(task, start, take))
            batch.size += take
            start += take
        self._metrics.queued(queue.model, size)
        self._schedule()
        return await task.future

    def _queue(self, servable: Servable, signature_name: str) -> _Queue:
        key = (id(servable), signature_name)
        queue = self._queues.get(key)
        if queue is None or queue.servable is not servable:
            queue = self._queues[key] = _Queue(servable, signature_name)
            self._order.append(key)
        return queue

    def forget(self, servable: Servable) -> None:
        """Drop the (empty) queues of an unloaded version."""
        for key in [key for key, queue in self._queues.items() if queue.servable is servable]:
            if not self._queues[key].batches:
                del self._queues[key]
                self._order.remove(key)

    # --- scheduling -----------------------------------------------------------------------------
    def _ready(self, queue: _Queue, now: float) -> bool:
        head = queue.batches[0]
        return (
            head.size >= self.options.max_batch_size
            or len(queue.batches) > 1
            or now - head.created >= self._timeout
        )

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = loop.time()
        while self._free > 0:
            picked = None
            for _ in range(len(self._order)):  # round robin over queues, like the shared scheduler
                key = self._order[0]
                self._order.rotate(-1)
                queue = self._queues[key]
                if queue.batches and self._ready(queue, now):
                    picked = queue
                    break
            if picked is None:
                break
            batch = picked.batches.popleft()
            self._metrics.queued(picked.model, -batch.size)
            batch.pieces = [piece for piece in batch.pieces if piece.task.wanted()]
            batch.size = sum(piece.size for piece in batch.pieces)
            if not batch.pieces:
                continue
            self._free -= 1
            task = loop.create_task(self._process(picked, batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        if self._free > 0:
            deadlines = [
                queue.batches[0].created + self._timeout for queue in self._queues.values() if queue.batches
            ]
            if deadlines:
                self._timer = loop.call_at(min(deadlines), self._schedule)

    async def _process(self, queue: _Queue, batch: _Batch) -> None:
        try:
            try:
                await self._run(queue, batch)
            except Exception as error:
                if len(batch.pieces) == 1:
                    batch.pieces[0].task.fail(error)
                    return
                for piece in batch.pieces:  # on its own, so that only the bad task fails
                    if piece.task.wanted():
                        try:
                            await self._run(queue, _Batch(batch.created, [piece], piece.size))
                        except Exception as alone:
                            piece.task.fail(alone)
        finally:
            self._free += 1
            self._schedule()

    async def _run(self, queue: _Queue, batch: _Batch) -> None:
        loop = asyncio.get_running_loop()
        padded = self._padded_size(batch.size)
        try:
            outputs = await loop.run_in_executor(
                self._executor, _run_batch, queue.servable, queue.signature_name, batch, padded
            )
        finally:
            self._metrics.batch_run(queue.model, batch.size, padded)
        offset = 0
        for piece in batch.pieces:
            piece.task.deliver(
                piece.start, {alias: value[offset : offset + piece.size] for alias, value in outputs.items()}
            )
            offset += piece.size

    def _padded_size(self, size: int) -> int:
        sizes = self.options.allowed_batch_sizes
        if not sizes:
            return size
        return sizes[bisect.bisect_left(sizes, size)]

    def warmup_batch_sizes(self) -> tuple[int, ...]:
        return self.options.allowed_batch_sizes

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


def _run_batch(servable: Servable, signature_name: str, batch: _Batch, padded: int) -> Arrays:
    """In a batch thread: gather the pieces, pad, run, unpad."""
    aliases = batch.pieces[0].task.inputs.keys()
    size = batch.size
    inputs: Arrays = {}
    for alias in aliases:
        parts = [piece.task.inputs[alias][piece.start : piece.start + piece.size] for piece in batch.pieces]
        if len(parts) == 1 and padded == size:
            inputs[alias] = parts[0]
        elif parts[0].dtype == object:
            inputs[alias] = np.concatenate([*parts, np.repeat(parts[0][:1], padded - size, axis=0)])
        else:
            inputs[alias] = _gather(alias, parts, size, padded)
    outputs = servable.run(signature_name, inputs)
    return {alias: _own(value[:size], inputs) for alias, value in outputs.items()}


def _own(output: np.ndarray, inputs: Arrays) -> np.ndarray:
    """An output that may be a view of an input (the next batch reuses the input buffer) is copied."""
    if any(np.may_share_memory(output, value) for value in inputs.values()):
        return output.copy()
    return output


_buffers = threading.local()


def _gather(alias: str, parts: list[np.ndarray], size: int, padded: int) -> np.ndarray:
    """The rows of `parts` and the padding, copied into this batch thread's own buffer for `alias`, kept
    from batch to batch: a batch of decoded images is MBs, which glibc (with serving/__main__.py's mmap
    threshold) would map, fault in page by page and unmap again for every batch. The engine reads the
    buffer only while this thread runs it (its outputs never alias it), so the next batch may reuse it.
    At most `max_batch_size` rows per input and batch thread."""
    first = parts[0]
    shape = (padded, *first.shape[1:])
    held: dict[str, np.ndarray] = vars(_buffers)
    buffer = held.get(alias)
    if buffer is None or buffer.dtype != first.dtype or buffer.shape[1:] != shape[1:] or len(buffer) < padded:
        buffer = held[alias] = np.empty(shape, dtype=first.dtype)
    out = buffer[:padded]
    np.concatenate(parts, out=out[:size])
    out[size:] = first[:1]
    return out
