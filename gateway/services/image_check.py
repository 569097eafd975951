"""Image checks before anything is stored or sent to the model server, and what the model server is sent.

First the header only (Pillow's lazy open reads no pixel data): format, size and frame count against
MAX_IMAGE_PIXELS (all frames together) and MAX_IMAGE_FRAMES, and the memory its decode will take (a JPEG
at its reduced DCT scale) against this worker's INSPECT_MEMORY_BYTES. Only then a real decode, in a worker
thread, never on the event loop, and only once that memory fits in what the budget has free, so concurrent
uploads wait rather than add up. An image the model server takes as it is (PNG, JPEG or GIF within its
SERVING_MAX_IMAGE_PIXELS and SERVING_MAX_IMAGE_BYTES) is sent unchanged, and decoded here only when its
bytes do not end as a whole file of its format does (a cut-off upload): the model server decodes it anyway
and answers bytes it cannot read with INVALID_ARGUMENT, the caller's 400, while a second decode here cost
more CPU than the rest of the request. Any other image is decoded here and sent as the reduced JPEG of
transcode.py.
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

import pillow_heif
from PIL import Image

from contracts import image_header
from gateway.core.wording import megapixels
from gateway.services import transcode
from gateway.services.storage import UNSUPPORTED, UploadRejectedError

log = logging.getLogger("gateway.image_check")
pillow_heif.register_heif_opener()  # format "HEIF": .heic / .heif
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "HEIF")
MODEL_FORMATS = frozenset({"PNG", "JPEG", "GIF"})  # what the model's signature decodes itself
FORMAT_NAMES = {"WEBP": "WebP", "HEIF": "HEIC"}
NOT_AN_IMAGE = f"{UNSUPPORTED} The bytes are not a readable PNG, JPEG, GIF, WebP or HEIC image."
BUSY = "The server is busy checking other images. Try again in a moment."


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int
    max_frames: int
    memory_bytes: int
    serving_max_pixels: int
    serving_max_bytes: int


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    frames: int
    transcode: bool  # the model server is sent a reduced JPEG, not the upload
    decode_bytes: int  # memory the decode (and transcode) here takes, held in the budget; 0: no decode here


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limits apply
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)


def _count_frames(img: Image.Image, limit: int) -> int:
    """The frame count, walking at most `limit + 1` frames (a GIF declares none; it has to be walked, and
    Pillow's `n_frames` would walk all of them). APNG and WebP declare their count in the header."""
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


def _too_large(width: int, height: int, frames: int, limit: int) -> UploadRejectedError:
    shape = f"{width} × {height}" + (f" × {frames} frames" if frames > 1 else "")
    total = megapixels(width * height * frames)
    return UploadRejectedError(
        400, f"The image is too large: {shape} is {total}, the limit is {megapixels(limit)}."
    )


def read_header(data: bytes, limits: ImageLimits) -> ImageHeader:
    """The limits checked from the header alone. A format the model's walk reads is walked there first
    (contracts/image_header.py): bounded, where Pillow's own walk of a crafted header costs seconds. Pure
    Python either way, holding the GIL: the loop runs it itself where that walk is short (JPEG, PNG), and
    hands it to a thread otherwise (a GIF's or WebP's walk may cross the whole file)."""
    if not data:
        raise UploadRejectedError(400, "The file is empty.")
    if image_header.format_of(data) is not None:
        try:
            image_header.read_header(data, limits.max_frames)
        except image_header.HeaderError as exc:
            raise UploadRejectedError(400, f"{NOT_AN_IMAGE} ({exc})") from exc
    try:
        with _open(data) as img:
            fmt = img.format or "?"
            width, height = img.size
            draft_w, draft_h = transcode.draft_size(img)  # before the count, which moves a GIF off frame 1
            mode = img.mode
            frames = _count_frames(img, limits.max_frames)
    except UploadRejectedError:
        raise
    except Image.DecompressionBombError as exc:  # past Pillow's own cap (its sizes, not ours)
        detail = f"The image is too large: over {megapixels(limits.max_pixels)}."
        raise UploadRejectedError(400, detail) from exc
    except Exception as exc:  # Pillow raises many kinds for bad data
        raise UploadRejectedError(400, NOT_AN_IMAGE) from exc
    if frames > limits.max_frames:
        detail = f"The animation has too many frames: more than {limits.max_frames}, the limit."
        raise UploadRejectedError(400, detail)
    pixels = width * height * frames
    if pixels > limits.max_pixels:
        raise _too_large(width, height, frames, limits.max_pixels)
    as_is = (
        fmt in MODEL_FORMATS and pixels <= limits.serving_max_pixels and len(data) <= limits.serving_max_bytes
    )
    if as_is and ends_whole(fmt, data):  # decoded by the model server only
        return ImageHeader(fmt, width, height, frames, False, 0)
    if as_is:
        memory = transcode.decode_bytes(fmt, mode, draft_w, draft_h)
    else:
        memory = transcode.working_bytes(fmt, mode, draft_w, draft_h)
    if memory > limits.memory_bytes:  # a decode that could never fit the budget: WebP and HEIC decode whole
        per_pixel = memory / (width * height)
        readable = int(limits.memory_bytes / per_pixel) // 100_000 * 100_000
        name = FORMAT_NAMES.get(fmt, fmt)
        detail = (
            f"The image is too large: {width} × {height} is {megapixels(width * height)}, and a {name} image "
            f"is read here up to {megapixels(readable)} (a JPEG up to {megapixels(limits.max_pixels)})."
        )
        raise UploadRejectedError(400, detail)
    return ImageHeader(fmt, width, height, frames, not as_is, memory)


JPEG_END_WITHIN = 64 * 1024  # cameras may append data (previews, maker notes) after a JPEG's end marker


def ends_whole(fmt: str, data: bytes) -> bool:
    """Whether the bytes end as a complete file of `fmt` does: PNG's IEND chunk, JPEG's end-of-image marker
    (near the end), GIF's trailer. Not a proof of readability, which only a decode gives."""
    if fmt == "PNG":
        return data.endswith(b"IEND\xaeB`\x82")
    if fmt == "JPEG":
        return data.rfind(b"\xff\xd9", max(len(data) - JPEG_END_WITHIN, 0)) >= 0
    return fmt == "GIF" and data.endswith(b";")


def decode_first_frame(data: bytes) -> None:
    """Decode the first frame, proving the bytes are a readable image (blocking: run in a thread)."""
    try:
        with _open(data) as img:
            transcode.draft_size(img)
            img.load()
    except Exception as exc:
        raise UploadRejectedError(400, NOT_AN_IMAGE) from exc


def model_input(data: bytes, header: ImageHeader, serving_max_pixels: int) -> bytes:
    """What the model server is sent for an upload that needs a decode here (blocking: run in a thread): the
    upload itself once proven readable, or its reduced JPEG."""
    if not header.transcode:
        decode_first_frame(data)
        return data
    return reduced_for_model(data, serving_max_pixels)


def reduced_for_model(data: bytes, serving_max_pixels: int) -> bytes:
    """The reduced JPEG the model server is sent for an image it does not take as it is (blocking: run in
    a thread)."""
    try:
        with _open(data) as img:
            transcode.draft_size(img)
            return transcode.for_model(img, serving_max_pixels)
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

    def __init__(self, limits: ImageLimits, wait_seconds: float, threads: int) -> None:
        self.limits = limits
        self.budget = MemoryBudget(limits.memory_bytes)
        self.wait_seconds = wait_seconds
        self._decoders = ThreadPoolExecutor(threads, thread_name_prefix="image-check")

    def close(self) -> None:
        self._decoders.shutdown(wait=False, cancel_futures=True)

    async def check(self, data: bytes) -> bytes:
        """The bytes to send the model server for this upload (400 when it is no image, or too large)."""
        if image_header.walk_is_short(data):  # a few bounded steps, which hold the GIL in a thread too
            header = read_header(data, self.limits)
        else:
            header = await asyncio.to_thread(read_header, data, self.limits)
        if header.decode_bytes == 0:  # nothing to decode here
            return data
        try:
            reserved = await self.budget.acquire(header.decode_bytes, self.wait_seconds)
        except TimeoutError as exc:
            raise UploadRejectedError(503, BUSY, headers={"Retry-After": "1"}) from exc
        # The budget is given back when the decode really ends: a caller that goes away (cancelled) cannot
        # stop a running thread, and its memory stays in use until then.
        loop = asyncio.get_running_loop()

        def release(_done: Future[bytes]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown)
                loop.call_soon_threadsafe(self.budget.release, reserved)

        try:
            decode = self._decoders.submit(model_input, data, header, self.limits.serving_max_pixels)
        except RuntimeError:  # shutting down
            self.budget.release(reserved)
            raise
        decode.add_done_callback(release)
        return await asyncio.wrap_future(decode)
