"""The server's request limits (flags of `python -m serving`), each checked before the work it bounds.

Memory under a 2 GiB replica limit, with these defaults:

- TensorFlow and the model: ~0.75 GiB resident with a small model (measured: 772 MiB with the tests'
  tiny model after warmup), a little more with efficientnet-lite0 or ResNet50.
- request bytes: gRPC reads at most `max_concurrent_rpcs` = 24 messages of at most `max_request_bytes` =
  12 MiB at once (≤ 288 MiB, held about twice while parsed: message and protobuf), REST at most 16 bodies
  of 12 MiB. Only `max_queued_requests` = 24 requests holding at most `max_queued_bytes` = 64 MiB pass
  admission into decoding and batching; the rest are refused at once. A string tensor is never expanded
  beyond the values it carries and holds at most `max_request_batch_size` values (serving/tensors.py).
- decoded pixels: an image over `max_image_pixels` = 16 M pixels (summed over an animation's frames) is
  refused from its header, so one decode holds ≤ 48 MB of RGB (~64 MB with the decoder's buffers).
  Decodes run in the `request_threads` = 4 check threads and in the batch threads (`num_batch_threads` x
  `max_batch_size` images at most): ≤ 12 x 64 MB ≈ 0.75 GiB, in practice about half of it.

Measured (tests/serving/test_abuse.py, the tiny model): 8 images at the pixel limit, 24 gRPC messages
at the byte limit and 16 REST bodies, all at once, raised the peak RSS by 0.9 GiB, to ~1.7 GiB.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 2**20


@dataclass(frozen=True)
class Limits:
    # bytes of one REST body and of one gRPC message (the gateway's uploads are at most 10 MiB)
    max_request_bytes: int = 12 * MIB
    # rows (first dimension) of one request, and values of one string input
    max_request_batch_size: int = 32
    # width x height from the header, summed over an animation's frames
    max_image_pixels: int = 16_000_000
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
    request_threads: int = 4

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 1:
                raise ValueError(f"--{name} must be at least 1, got {value}")
