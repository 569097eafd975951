"""Phone photos (issue 22, items 1 and 2) against the in-process fake model server, which records what it was
sent: large JPEGs reach it as a reduced JPEG, WebP and HEIC as a JPEG, small images as uploaded, and the
stored file is always the upload. Refusals say their limit as a person reads it."""

from __future__ import annotations

import hashlib
import struct

import pytest

from gateway.core.wording import file_size, megapixels
from tests.gateway.fake_serving import FakeServing
from tests.gateway.helpers import Gateway, image_bytes, running_gateway
from tests.gateway.photos import photo, size_of

MIB = 1024 * 1024


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A small valid JPEG whose frame header (SOF0) claims another size."""
    data = bytearray(image_bytes("JPEG", size=(16, 16), seed=7))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


async def _stored(api: Gateway, user_id: int, data: bytes, ext: str) -> bytes:
    return (api.settings.upload_dir / str(user_id) / f"{hashlib.md5(data).hexdigest()}{ext}").read_bytes()


@pytest.mark.parametrize(("orientation", "sent_size"), [(None, (375, 250)), (6, (250, 375))])
async def test_a_24_megapixel_jpeg_reaches_the_model_decoded_at_an_eighth(
    api: Gateway, fake: FakeServing, user, orientation: int | None, sent_size: tuple[int, int]
) -> None:
    """6000 x 4000 at libjpeg's 1/8 scale is 750 x 500, then halved (500 // 224), the smallest that still
    covers 224 x 224; EXIF 6 (a portrait photo) is turned upright."""
    public, headers = user
    data = photo("JPEG", 6000, 4000, seed=2201, orientation=orientation)
    response = await api.predict(headers, data, filename="IMG_0001.JPG", content_type="image/jpeg")
    assert response.status_code == 200, response.text
    assert size_of(fake.behaviour.images[-1]) == ("JPEG", sent_size)
    assert response.json()["image_file_name"] == hashlib.md5(data).hexdigest() + ".jpg"
    assert await _stored(api, public["id"], data, ".jpg") == data
    image = await api.client.get(
        f"/model/predictions/{response.json()['prediction_id']}/image", headers=headers
    )
    assert image.content == data


async def test_an_image_the_model_server_takes_is_sent_as_uploaded(
    api: Gateway, fake: FakeServing, user
) -> None:
    _, headers = user
    for data, name in (
        (image_bytes("PNG", size=(640, 480), seed=2202), "a.png"),
        (photo("JPEG", 4000, 3000), "b.jpg"),
    ):
        assert (await api.predict(headers, data, filename=name)).status_code == 200
        assert fake.behaviour.images[-1] == data


@pytest.mark.parametrize(
    ("fmt", "name", "media_type"),
    [("WEBP", "photo.webp", "image/webp"), ("HEIF", "IMG_0002.HEIC", "image/heic")],
)
async def test_webp_and_heic_reach_the_model_as_jpeg(
    api: Gateway, fake: FakeServing, user, fmt: str, name: str, media_type: str
) -> None:
    public, headers = user
    data = photo(fmt, 640, 480, seed=2203)
    response = await api.predict(headers, data, filename=name, content_type=media_type)
    assert response.status_code == 200, response.text
    assert size_of(fake.behaviour.images[-1]) == ("JPEG", (320, 240))  # 480 // 224: reduced by 2
    ext = "." + name.rsplit(".", 1)[1].lower()
    assert await _stored(api, public["id"], data, ext) == data
    image = await api.client.get(
        f"/model/predictions/{response.json()['prediction_id']}/image", headers=headers
    )
    assert image.headers["content-type"] == media_type
    assert image.content == data


async def test_a_file_over_the_model_servers_byte_limit_is_reduced(
    gateway_settings, fake: FakeServing
) -> None:
    async with running_gateway(
        gateway_settings(serving_target=fake.target, serving_max_image_bytes=50_000)
    ) as gw:
        _, headers = await gw.sign_up()
        data = photo("JPEG", 1000, 800, seed=2204)
        assert len(data) > 50_000
        assert (await gw.predict(headers, data, "big.jpg", "image/jpeg")).status_code == 200
    assert size_of(fake.behaviour.images[-1]) == ("JPEG", (500, 400))  # DCT scale 1/2: still over 224


async def test_a_20_mb_photo_passes_the_body_limit_and_reaches_the_model_reduced(
    api: Gateway, fake: FakeServing, user
) -> None:
    public, headers = user
    data = image_bytes("PNG", size=(2600, 2600), seed=2206)  # noise: 20 MB, over the 10 MiB sent as is
    assert 19 * MIB < len(data) < api.settings.max_upload_bytes
    response = await api.predict(headers, data, filename="big.png")
    assert response.status_code == 200, response.text
    assert size_of(fake.behaviour.images[-1]) == ("JPEG", (237, 237))  # reduced by 2600 // 224 = 11
    assert await _stored(api, public["id"], data, ".png") == data


async def test_over_50_megapixels_is_refused_in_words_from_the_header(
    api: Gateway, fake: FakeServing, user
) -> None:
    _, headers = user
    response = await api.predict(headers, _jpeg_claiming(10_000, 6_000), filename="huge.jpg")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "The image is too large: 10000 × 6000 is 60 megapixels, the limit is 50 megapixels."
    )
    assert fake.behaviour.predict_calls == 0


async def test_a_webp_whose_decode_could_never_fit_the_budget_is_refused(
    gateway_settings, fake: FakeServing
) -> None:
    """WebP decodes whole, holding about four copies: 1200 x 900 needs ~17 MB, over a 16 MiB budget, where the
    same JPEG (decoded at 1/4) passes."""
    settings = gateway_settings(serving_target=fake.target, inspect_memory_bytes=16 * MIB)
    async with running_gateway(settings) as gw:
        _, headers = await gw.sign_up()
        refused = await gw.predict(headers, photo("WEBP", 1200, 900, seed=2205), "big.webp", "image/webp")
        assert refused.status_code == 400
        detail = refused.json()["detail"]
        assert detail.startswith(
            "The image is too large: 1200 × 900 is 1.1 megapixels, and a WebP image is read here up to "
        )
        assert (
            await gw.predict(headers, photo("JPEG", 1200, 900, seed=2205), "big.jpg", "image/jpeg")
        ).status_code == 200
    assert fake.behaviour.predict_calls == 1


def test_sizes_read_as_a_person_says_them() -> None:
    assert file_size(25 * MIB) == "25 MB"
    assert file_size(10 * MIB + MIB // 2) == "10.5 MB"
    assert file_size(200_000) == "195 KB"
    assert megapixels(50_000_000) == "50 megapixels"
    assert megapixels(12_500_000) == "12.5 megapixels"
