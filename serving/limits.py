"""The server's request limits: each a flag of `python -m serving` (its help text is here), each checked
before the work it bounds.

How they keep a replica's memory bounded, with the defaults:

- request bytes: gRPC reads at most `max_concurrent_rpcs` messages of at most `max_request_bytes` at once
  (held about twice while parsed: message and protobuf), REST at most `max_concurrent_rest_requests`
  bodies. Only `max_queued_requests` requests holding at most `max_queued_bytes` pass admission into
  decoding and batching; the rest are refused at once. The OpenVINO engine decodes each image before
  batching and holds its network-size pixels until the batch runs (600 KiB at 224x224, float32): those
  bytes count in the same `max_queued_bytes`. A string tensor is never expanded beyond the values it
  carries and holds at most `max_request_batch_size` values (serving/tensors.py).
- decoded pixels: an image over `max_image_pixels` (summed over an animation's frames) is refused from its
  header, so one decode holds at most 3 bytes a pixel of RGB; the export's preprocessing adds a float32 copy
  of the crop. Decodes run in the `request_threads` check threads and in the batch threads.

What that comes to for a real model, measured under the most hostile burst, is in the README ("Model server
limits"). serving/__main__.py also fixes glibc's mmap threshold, so large request buffers are returned on
free.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

MIB = 2**20


def _limit(default: int, help_text: str) -> int:
    value: int = field(default=default, metadata={"help": help_text})
    return value


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int = _limit(
        11 * MIB, "largest REST body and gRPC message, in bytes (413 / RESOURCE_EXHAUSTED beyond)"
    )
    max_request_batch_size: int = _limit(
        32, "most rows (images) in one request, and values of a string input"
    )
    max_image_pixels: int = _limit(
        12_500_000, "most pixels an image may declare in its header (summed over an animation's frames)"
    )
    max_image_frames: int = _limit(100, "most frames of an animated GIF, PNG or WebP")
    max_json_depth: int = _limit(32, "deepest nesting of a REST JSON body (a tensor of rank r needs r + 3)")
    max_concurrent_rpcs: int = _limit(24, "gRPC calls served at once (RESOURCE_EXHAUSTED beyond)")
    max_concurrent_rest_requests: int = _limit(16, "REST requests served at once (503 beyond)")
    max_queued_requests: int = _limit(
        24, "predict requests decoding, queued or running at once (RESOURCE_EXHAUSTED beyond)"
    )
    max_queued_bytes: int = _limit(
        64 * MIB, "bytes of the predict requests admitted at once (RESOURCE_EXHAUSTED beyond)"
    )
    request_threads: int = _limit(
        2, "threads that decode images before batching (OpenVINO), read long headers, run unbatched models"
    )

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 1:
                raise ValueError(f"--{name} must be at least 1, got {value}")


def help_text(name: str) -> str:
    return str(next(f for f in fields(Limits) if f.name == name).metadata["help"])
