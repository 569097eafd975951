"""The server's request limits (flags of `python -m serving`), each checked before the work it bounds.

Memory under a 2 GiB replica limit, with these defaults:

- TensorFlow and the model, resident after warmup: 0.75 GiB with the tests' tiny model, 0.87 GiB with
  efficientnet-lite0 (measured); ResNet50 takes more (see below).
- request bytes: gRPC reads at most `max_concurrent_rpcs` = 24 messages of at most `max_request_bytes` =
  11 MiB at once (≤ 264 MiB, held about twice while parsed: message and protobuf), REST at most 16
  bodies. Only `max_queued_requests` = 24 requests holding at most `max_queued_bytes` = 64 MiB pass
  admission into decoding and batching; the rest are refused at once. The OpenVINO runtime decodes each
  image before batching and holds its network-size pixels until the batch runs (600 KiB at 224x224,
  float32): those bytes count in the same `max_queued_bytes`. A string tensor is never expanded
  beyond the values it carries and holds at most `max_request_batch_size` values (serving/tensors.py).
- decoded pixels: an image over `max_image_pixels` = 12.5 M pixels (a 12 MP photo passes; summed over an
  animation's frames) is refused from its header, so one decode holds ≤ 38 MB of RGB; the export's
  preprocessing adds a float32 copy of the crop (≤ 150 MB). Decodes run in the `request_threads` = 2
  check threads (≤ 2 x 38 MB) and in the `num_batch_threads` = 2 batch threads (≤ 2 x ~190 MB).

Measured (the most hostile burst, all at once: 8 images at the pixel limit, 24 gRPC messages at the byte
limit, 16 REST bodies): peak RSS +0.9 GiB with the tiny model (tests/serving/test_abuse.py), and
0.87 -> 1.77-1.93 GiB with efficientnet-lite0 over four runs. A model with a larger footprint (ResNet50)
needs lower limits (e.g. --max_concurrent_rpcs, --max_image_pixels) or more memory.
serving/__main__.py also fixes glibc's mmap threshold, so large request buffers are returned on free.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 2**20


@dataclass(frozen=True)
class Limits:
    # bytes of one REST body and of one gRPC message (the gateway's uploads are at most 10 MiB)
    max_request_bytes: int = 11 * MIB
    # rows (first dimension) of one request, and values of one string input
    max_request_batch_size: int = 32
    # width x height from the header, summed over an animation's frames
    max_image_pixels: int = 12_500_000
    # frames of an animated GIF, PNG or WebP
    max_image_frames: int = 100
    # nesting of a REST JSON body (a tensor of rank r needs r + 3)
    max_json_depth: int = 32
    # gRPC calls served at once; beyond it gRPC answers RESOURCE_EXHAUSTED
    max_concurrent_rpcs: int = 24
    # REST requests served at once; beyond it 503
    max_concurrent_rest_requests: int = 16
    # predict requests admitted (being checked, decoded, waiting for or in a batch), and their bytes;
    # beyond either, RESOURCE_EXHAUSTED at once
    max_queued_requests: int = 24
    max_queued_bytes: int = 64 * MIB
    # threads that decode-check images before batching
    request_threads: int = 2

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 1:
                raise ValueError(f"--{name} must be at least 1, got {value}")
