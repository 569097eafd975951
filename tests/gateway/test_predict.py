"""POST /model/predict against the in-process fake model server (each database). The same paths run
against a real `python -m serving` in test_integration.py."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image

from gateway.models import Prediction
from tests.gateway.fake_serving import FakeServing
from tests.gateway.helpers import Gateway, image_bytes, running_gateway


async def test_predict_answers_and_stores_under_md5(api: Gateway, fake: FakeServing, user) -> None:
    public, headers = user
    data = image_bytes("JPEG", seed=101)
    response = await api.predict(headers, data, filename="Holiday Photo.JPG", content_type="image/jpeg")
    assert response.status_code == 200, response.text
    body = response.json()
    expected_name = hashlib.md5(data).hexdigest() + ".jpg"
    assert body["success"] is True
    assert body["prediction"] == "tabby"
    assert body["score"] == pytest.approx(0.5)
    assert body["image_file_name"] == expected_name
    assert [t["label"] for t in body["top_k"]] == [
        "tabby",
        "tiger_cat",
        "Egyptian_cat",
        "lynx",
        "Persian_cat",
    ]
    assert body["model"] == {"name": "resnet50", "version": 3, "label": None}
    assert body["cached"] is False
    assert (api.settings.upload_dir / str(public["id"]) / expected_name).read_bytes() == data
    assert fake.behaviour.predict_calls == 1


async def test_same_bytes_again_are_answered_from_the_cache(api: Gateway, fake: FakeServing, user) -> None:
    _, headers = user
    data = image_bytes("PNG", seed=102)
    first = await api.predict(headers, data)
    second = await api.predict(headers, data, filename="renamed.png")
    assert first.status_code == second.status_code == 200
    assert first.json()["cached"] is False
    assert second.json()["cached"] is True
    assert fake.behaviour.predict_calls == 1
    for key in ("prediction", "score", "image_file_name", "top_k", "model"):
        assert second.json()[key] == first.json()[key]
    assert second.json()["prediction_id"] != first.json()["prediction_id"]
    # Another user's upload of the same bytes is theirs alone: never a hit (test_abuse.py has the rest).
    other_user_headers = (await api.sign_up())[1]
    third = await api.predict(other_user_headers, data, filename="renamed.png")
    assert third.json()["cached"] is False
    assert fake.behaviour.predict_calls == 2


async def test_new_model_version_is_not_answered_from_the_old_cache(
    api: Gateway, fake: FakeServing, user
) -> None:
    _, headers = user
    data = image_bytes("PNG", seed=103)
    assert (await api.predict(headers, data)).json()["model"]["version"] == 3
    fake.behaviour.version = 4
    again = await api.predict(headers, data)
    assert again.json()["cached"] is False
    assert again.json()["model"]["version"] == 4
    assert fake.behaviour.predict_calls == 2


async def test_every_prediction_is_recorded_for_its_user(api: Gateway, fake: FakeServing, fresh_user) -> None:
    public, headers = fresh_user
    for seed in (104, 104, 105):
        assert (await api.predict(headers, image_bytes(seed=seed))).status_code == 200
    async with api.app.state.sessionmaker() as session:
        from sqlmodel import select

        rows = (await session.exec(select(Prediction).where(Prediction.user_id == public["id"]))).all()
    assert [row.cached for row in rows] == [False, True, False]


@pytest.mark.parametrize(
    "filename",
    ["cat.JPGG", "invoice.pdf", "/usr/src/dog.", "/usr/src/api/", "noextension", ".png", "archive.png.zip"],
)
async def test_unsupported_extension_is_400(api: Gateway, fake: FakeServing, user, filename: str) -> None:
    _, headers = user
    response = await api.predict(headers, image_bytes(seed=1), filename=filename)
    assert response.status_code == 400
    assert response.json() == {"detail": "File type is not supported."}
    assert fake.behaviour.predict_calls == 0


async def test_path_in_filename_is_ignored(api: Gateway, fake: FakeServing, user) -> None:
    public, headers = user
    data = image_bytes(seed=106)
    response = await api.predict(headers, data, filename="../../car.PNG")
    assert response.status_code == 200
    name = hashlib.md5(data).hexdigest() + ".png"
    assert response.json()["image_file_name"] == name
    assert sorted(p.name for p in api.settings.upload_dir.parent.rglob("car*")) == []
    assert (api.settings.upload_dir / str(public["id"]) / name).exists()


def _png_claiming(width: int, height: int) -> bytes:
    """A small valid PNG whose header claims a huge size (what a decompression bomb looks like)."""
    data = bytearray(image_bytes("PNG", size=(4, 4), seed=9))
    ihdr = 8  # after the signature: length(4) "IHDR"(4) width(4) height(4) ...
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 8 + 13]))
    data[ihdr + 8 + 13 : ihdr + 8 + 17] = struct.pack(">I", crc)
    return bytes(data)


def _pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _bmp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="BMP")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("renamed-pdf.jpg", _pdf()),
        ("bmp-named.png", _bmp()),
        ("empty.png", b""),
        ("truncated.png", image_bytes("PNG", size=(64, 64), seed=2)[:200]),
        ("random.gif", bytes(range(256)) * 4),
    ],
)
async def test_bytes_that_are_not_an_allowed_image_are_400(
    api: Gateway, fake: FakeServing, user, name: str, data: bytes
) -> None:
    _, headers = user
    response = await api.predict(headers, data, filename=name)
    assert response.status_code == 400, response.text
    assert fake.behaviour.predict_calls == 0
    assert list(api.settings.upload_dir.glob(hashlib.md5(data).hexdigest() + "*")) == []


async def test_decompression_bomb_is_400(api: Gateway, fake: FakeServing, user) -> None:
    _, headers = user
    response = await api.predict(headers, _png_claiming(100_000, 100_000), filename="bomb.png")
    assert response.status_code == 400
    assert "too large" in response.json()["detail"]
    assert fake.behaviour.predict_calls == 0


async def test_oversized_upload_is_413(gateway_settings, fake: FakeServing) -> None:
    async with running_gateway(
        gateway_settings(serving_target=fake.target, max_upload_bytes=20_000)
    ) as small:
        _, headers = await small.sign_up()
        big = image_bytes("PNG", size=(200, 200), seed=3)  # ~120 KB of noise
        assert len(big) > 20_000 + 64 * 1024
        by_length = await small.predict(headers, big)
        assert by_length.status_code == 413
        assert by_length.json()["detail"] == "The file is too large: the limit is 20 KB."

        async def chunks():  # no Content-Length: the gateway counts while reading
            body = b"".join(
                [
                    b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n',
                    b"Content-Type: image/png\r\n\r\n",
                    big,
                    b"\r\n--XyZ--\r\n",
                ]
            )
            for start in range(0, len(body), 8192):
                yield body[start : start + 8192]

        streamed = await small.client.post(
            "/model/predict",
            content=chunks(),
            headers={**headers, "Content-Type": "multipart/form-data; boundary=XyZ"},
        )
        assert streamed.status_code == 413, streamed.text
        # Just over the file limit but within the multipart allowance: refused by the count of file bytes.
        medium = image_bytes("PNG", size=(90, 90), seed=4)
        assert 20_000 < len(medium) < 20_000 + 64 * 1024
        counted = await small.predict(headers, medium)
        assert counted.status_code == 413
        assert fake.behaviour.predict_calls == 0
        assert not small.settings.upload_dir.exists() or list(small.settings.upload_dir.iterdir()) == []


async def test_predict_needs_a_token(api: Gateway, fake: FakeServing) -> None:
    response = await api.predict({}, image_bytes(seed=5))
    assert response.status_code == 401
    assert fake.behaviour.predict_calls == 0


async def test_missing_file_field_is_422(api: Gateway, user) -> None:
    _, headers = user
    response = await api.client.post("/model/predict", headers=headers, data={"other": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "file"]


async def test_a_file_field_that_is_text_or_a_body_that_is_no_form_is_refused(
    api: Gateway, fake: FakeServing, fresh_user
) -> None:
    """The route finds its parameters itself (PredictRoute): each wrong body still gets FastAPI's answer."""
    public, headers = fresh_user
    text = await api.client.post("/model/predict", headers=headers, files={"file": (None, "not a file")})
    assert text.status_code == 422, text.text
    assert text.json()["detail"][0]["loc"] == ["body", "file"]
    as_json = await api.client.post("/model/predict", headers=headers, json={"file": "x"})
    assert as_json.status_code == 422, as_json.text
    none_chosen = await api.client.post("/model/predict", headers=headers, files={"file": ("", b"")})
    assert none_chosen.status_code == 422, none_chosen.text
    assert none_chosen.json()["detail"][0]["type"] == "missing"
    empty_text = await api.client.post("/model/predict", headers=headers, files={"file": (None, "")})
    assert empty_text.status_code == 422, empty_text.text
    assert empty_text.json()["detail"][0]["type"] == "missing"
    broken = await api.client.post(
        "/model/predict",
        headers={**headers, "Content-Type": "multipart/form-data"},  # no boundary
        content=b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nx\r\n--XyZ--',
    )
    assert broken.status_code == 400, broken.text
    assert fake.behaviour.predict_calls == 0
    assert not (api.settings.upload_dir / str(public["id"])).exists()


async def test_predicts_openapi_entry_is_the_routes_signature(api: Gateway) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    operation = spec["paths"]["/model/predict"]["post"]
    body = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert spec["components"]["schemas"][body]["required"] == ["file"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert answer.endswith("/PredictionPublic")
    assert {"400", "401", "413", "422", "502", "503", "504", "507"} <= set(operation["responses"])
    assert operation["security"] == [{"OAuth2PasswordBearer": []}]


@pytest.mark.parametrize(
    ("mode", "status", "words"),
    [
        ("unavailable", 503, "No model server replica is available"),
        ("not_found", 503, "not loaded"),
        ("invalid", 400, "could not read this image"),
    ],
)
async def test_serving_errors_map_to_http(
    api: Gateway, fake: FakeServing, user, mode: str, status: int, words: str
) -> None:
    _, headers = user
    fake.behaviour.mode = mode
    response = await api.predict(headers, image_bytes(seed=200 + status + len(mode)))
    assert response.status_code == status
    assert words in response.json()["detail"]
    assert "(" not in response.json()["detail"]  # no gRPC code or detail from the model server


async def test_deadline_is_504(gateway_settings, fake: FakeServing) -> None:
    fake.behaviour.mode, fake.behaviour.delay = "slow", 3.0
    async with running_gateway(
        gateway_settings(serving_target=fake.target, serving_timeout_seconds=0.5)
    ) as gw:
        _, headers = await gw.sign_up()
        response = await gw.predict(headers, image_bytes(seed=300))
    assert response.status_code == 504
    assert "did not answer within 0.5s" in response.json()["detail"]


async def test_request_id_goes_in_and_out_and_to_serving(api: Gateway, fake: FakeServing, user) -> None:
    _, headers = user
    response = await api.client.post(
        "/model/predict",
        headers={**headers, "X-Request-ID": "trace-abc.123"},
        files={"file": ("a.png", image_bytes(seed=301), "image/png")},
    )
    assert response.headers["x-request-id"] == "trace-abc.123"
    assert fake.behaviour.request_ids == ["trace-abc.123"]
    fresh = await api.client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert fresh.headers["x-request-id"] != "bad id with spaces"
    assert len(fresh.headers["x-request-id"]) == 32
