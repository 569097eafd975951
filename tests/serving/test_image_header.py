"""The model server's image check (serving/image_header.py): the header's limits refused as INVALID_ARGUMENT
naming the flag; the header walk itself is contracts/image_header.py's (tests/contracts)."""

from __future__ import annotations

import grpc
import pytest

from serving.errors import ServingError
from serving.image_header import check_image
from tests.contracts.test_image_header import encode, frames


def test_limits_are_refused_naming_the_flag() -> None:
    images = frames(10, (100, 100))
    data = encode(images[0], "GIF", save_all=True, append_images=images[1:], optimize=False)
    with pytest.raises(ServingError) as too_many:
        check_image("image_bytes", 3, data, max_pixels=10**9, max_frames=4)
    assert too_many.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "image_bytes[3]" in too_many.value.message
    assert "--max_image_frames" in too_many.value.message
    with pytest.raises(ServingError) as too_big:
        check_image("image_bytes", 0, data, max_pixels=50_000, max_frames=100)
    assert "100000 pixels" in too_big.value.message
    assert "--max_image_pixels" in too_big.value.message
    check_image("image_bytes", 0, data, max_pixels=100_000, max_frames=10)


@pytest.mark.parametrize(
    "data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n\0\0", b"GIF89a\x01", b"\xff\xd8\xff"]
)
def test_unknown_or_cut_short_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(ServingError) as refused:
        check_image("image_bytes", 0, data, max_pixels=10**6, max_frames=10)
    assert "is not a decodable image" in refused.value.message
