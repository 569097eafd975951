"""The server's request limits (flags of `python -m serving`), each checked before the work it bounds.

Memory under a 2 GiB replica limit, with these defaults (the figures are the worst case, not typical):

- model: efficientnet-lite0 ~0.5 GiB resident with TensorFlow loaded, ResNet50 ~0.8 GiB.
- request bytes: at most `max_concurrent_rpcs` + `max_concurrent_rest_requests` = 48 requests are read at
  once, each at most `max_request_bytes` = 16 MiB and held about twice (the message and the numpy copy
  that is run): ≤ 48 x 32 MiB = 1.5 GiB only if every caller sends the largest body at the same instant;
  `max_queued_requests` admits at most 24 requests into the decode/batch stage, so what is kept for
  longer than reading is ≤ 24 x 32 MiB = 0.75 GiB.
- decoded pixels: every image is refused from its header above `max_image_pixels` = 25 M pixels (the sum
  over an animation's frames), i.e. ≤ 75 MB of RGB per decoded image, ~150 MB with the decoder's own
  buffers. Decodes run in the 4 request threads (the check before batching) and in the batch threads
  (`num_batch_threads` x `max_batch_size` = 2 x 4 images with serving/batching.config): ≤ 12 x 150 MB.
  In practice a batch decodes its images one after the other, so ≤ (4 + 2) x 150 MB = 0.9 GiB.

A request never holds more than `max_request_batch_size` images, and a string tensor is never expanded
beyond the values it carries (serving/tensors.py), so the request bytes bound the number of decodes.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 2**20


@dataclass(frozen=True)
class Limits:
    # bytes of one REST body and of one gRPC message (the gateway's uploads are at most 10 MiB)
    max_request_bytes: int = 16 * MIB
    # rows (first dimension) of one request, and values of one string input
    max_request_batch_size: int = 32
    # width x height from the header, summed over an animation's frames
    max_image_pixels: int = 25_000_000
    # frames of an animated GIF, PNG or WebP
    max_image_frames: int = 100
    # nesting of a REST JSON body (a tensor of rank r needs r + 3)
    max_json_depth: int = 32
    # gRPC calls served at once; beyond it gRPC answers RESOURCE_EXHAUSTED
    max_concurrent_rpcs: int = 32
    # REST requests served at once; beyond it 503
    max_concurrent_rest_requests: int = 16
    # predict requests past the checks (decoding, waiting for or in a batch); beyond it RESOURCE_EXHAUSTED
    max_queued_requests: int = 24
    # threads that decode-check images before batching
    request_threads: int = 4

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 1:
                raise ValueError(f"--{name} must be at least 1, got {value}")
