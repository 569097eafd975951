"""Image checks before anything is stored or sent to the model server.

First the header only (Pillow's lazy open reads no pixel data): format, size and frame count against
MAX_IMAGE_PIXELS (all frames together) and MAX_IMAGE_FRAMES. Only then a real decode, to be sure the bytes
are a readable image: in a worker thread, never on the event loop, and only once its memory (estimated from
the header) fits in this worker's INSPECT_MEMORY_BYTES budget, so concurrent uploads wait rather than add up.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from gateway.services.storage import UNSUPPORTED, UploadRejectedError

log = logging.getLogger("gateway.image_check")
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF")
ONE_BYTE_MODES = frozenset({"1", "L", "P"})  # Pillow keeps every other mode at 4 bytes per pixel
NOT_AN_IMAGE = f"{UNSUPPORTED} The bytes are not a readable PNG, JPEG or GIF image."
BUSY = "The server is busy checking other images. Try again in a moment."
DECODE_OVERHEAD = 1024 * 1024


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    frames: int
    decode_bytes: int  # memory a decode of the first frame takes (JPEG: at the reduced draft scale)


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limits apply
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)


def _count_frames(img: Image.Image, limit: int) -> int:
    """The frame count, walking at most `limit + 1` frames (a GIF declares none; it has to be walked, and
    Pillow's `n_frames` would walk all of them). APNG declares its count in the header."""
    if img.format != "GIF":
        return int(getattr(img, "n_frames", 1))
    seek = getattr(img, "_seek", None)
    if seek is None:  # pragma: no cover - another Pillow: its n_frames is bounded by the upload size
        return int(getattr(img, "n_frames", 1))
    frames = 1
    try:
        while frames <= limit:
            seek(frames, False)  # reads the frame's header and skips its data, decodes nothing
            frames += 1
    except EOFError:
        pass
    return frames


def read_header(data: bytes, max_pixels: int, max_frames: int) -> ImageHeader:
    """The limits checked from the header alone (blocking but cheap: run in a thread)."""
    if not data:
        raise UploadRejectedError(400, "The file is empty.")
    try:
        with _open(data) as img:
            fmt = img.format or "?"
            width, height = img.size
            frames = _count_frames(img, max_frames)
        with _open(data) as img:
            img.draft("RGB", (224, 224))  # JPEG: decode at reduced scale (1/2 … 1/8)
            draft_w, draft_h = img.size
            mode = img.mode
    except UploadRejectedError:
        raise
    except Image.DecompressionBombError as exc:  # past Pillow's own cap (its sizes, not ours)
        detail = f"Image too large: more than {max_pixels} pixels (the limit is MAX_IMAGE_PIXELS)."
        raise UploadRejectedError(400, detail) from exc
    except Exception as exc:  # Pillow raises many kinds for bad data
        raise UploadRejectedError(400, NOT_AN_IMAGE) from exc
    if frames > max_frames:
        raise UploadRejectedError(
            400, f"Too many frames: more than {max_frames} (the limit is {max_frames}, MAX_IMAGE_FRAMES)."
        )
    if width * height * frames > max_pixels:
        shape = f"{width}x{height}" + (f" x {frames} frames" if frames > 1 else "")
        raise UploadRejectedError(
            400, f"Image too large: {shape} pixels (the limit is {max_pixels} pixels, MAX_IMAGE_PIXELS)."
        )
    bytes_per_pixel = 1 if mode in ONE_BYTE_MODES else 4
    return ImageHeader(fmt, width, height, frames, draft_w * draft_h * bytes_per_pixel + DECODE_OVERHEAD)


def decode_first_frame(data: bytes) -> None:
    """Decode the first frame, proving the bytes are a readable image (blocking: run in a thread)."""
    try:
        with _open(data) as img:
            img.draft("RGB", (224, 224))
            img.load()
    except Exception as exc:
        raise UploadRejectedError(400, NOT_AN_IMAGE) from exc


class MemoryBudget:
    """A weighted semaphore over bytes, first come first served: `acquire(n)` waits until `n` more bytes
    fit. A request larger than the whole budget waits until it runs alone."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def acquire(self, amount: int, wait_seconds: float) -> int:
        """The amount reserved (give it back to `release`); TimeoutError after `wait_seconds`."""
        amount = min(amount, self.total)
        if not self._waiters and self.used + amount <= self.total:
            self.used += amount
            return amount
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (amount, granted)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(wait_seconds):
                await granted
        except BaseException:
            if granted.done() and not granted.cancelled():  # granted just as this caller gave up
                self.release(amount)
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)
                self._wake()
            raise
        return amount

    def release(self, amount: int) -> None:
        self.used -= amount
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            amount, granted = self._waiters[0]
            if granted.done():  # its caller gave up
                self._waiters.popleft()
                continue
            if self.used + amount > self.total:
                return
            self.used += amount
            self._waiters.popleft()
            granted.set_result(None)


class ImageChecker:
    """Decodes run on a few threads of their own: the allocator keeps memory per thread, so a decode on
    each of the default executor's many threads could hold several images' worth after they finished."""

    def __init__(
        self, max_pixels: int, max_frames: int, memory_bytes: int, wait_seconds: float, threads: int
    ) -> None:
        self.max_pixels = max_pixels
        self.max_frames = max_frames
        self.budget = MemoryBudget(memory_bytes)
        self.wait_seconds = wait_seconds
        self._decoders = ThreadPoolExecutor(threads, thread_name_prefix="image-check")

    def close(self) -> None:
        self._decoders.shutdown(wait=False, cancel_futures=True)

    async def check(self, data: bytes) -> ImageHeader:
        header = await asyncio.to_thread(read_header, data, self.max_pixels, self.max_frames)
        try:
            reserved = await self.budget.acquire(header.decode_bytes, self.wait_seconds)
        except TimeoutError as exc:
            raise UploadRejectedError(503, BUSY, headers={"Retry-After": "1"}) from exc
        # The budget is given back when the decode really ends: a caller that goes away (cancelled) cannot
        # stop a running thread, and its memory stays in use until then.
        loop = asyncio.get_running_loop()

        def release(_done: Future[None]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown)
                loop.call_soon_threadsafe(self.budget.release, reserved)

        try:
            decode = self._decoders.submit(decode_first_frame, data)
        except RuntimeError:  # shutting down
            self.budget.release(reserved)
            raise
        decode.add_done_callback(release)
        await asyncio.wrap_future(decode)
        return header
