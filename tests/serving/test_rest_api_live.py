"""TF Serving's REST API on a running `python -m serving`, with plain HTTP."""

from __future__ import annotations

import pytest

from tests.serving.helpers import b64, http, png
from tests.serving_fixtures import ServingProcess

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("suffix", ["", "/versions/1"])
def test_status(tiny_server: ServingProcess, suffix: str) -> None:
    status, body = http("GET", f"{tiny_server.rest_url}/v1/models/tiny{suffix}")
    assert status == 200
    assert body == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


@pytest.mark.parametrize("suffix", ["", "/versions/1"])
def test_metadata(tiny_server: ServingProcess, suffix: str) -> None:
    status, body = http("GET", f"{tiny_server.rest_url}/v1/models/tiny{suffix}/metadata")
    assert status == 200
    assert body["model_spec"]["name"] == "tiny"
    assert body["model_spec"]["version"] == "1"
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["image_bytes"]["dtype"] == "DT_STRING"
    assert {alias: info["dtype"] for alias, info in signature["outputs"].items()} == {
        "labels": "DT_STRING",
        "scores": "DT_FLOAT",
        "class_ids": "DT_INT64",
    }


def test_row_and_columnar_formats_agree(tiny_server: ServingProcess) -> None:
    images = [png(40), png(41)]
    url = f"{tiny_server.rest_url}/v1/models/tiny:predict"
    status, rows = http("POST", url, {"instances": [b64(image) for image in images]})
    assert status == 200
    assert len(rows["predictions"]) == 2
    assert set(rows["predictions"][0]) == {"labels", "scores", "class_ids"}
    assert all(isinstance(label, str) for label in rows["predictions"][0]["labels"])

    status, named_rows = http("POST", url, {"instances": [{"image_bytes": b64(image)} for image in images]})
    assert status == 200
    assert named_rows == rows

    status, columns = http(
        "POST",
        f"{tiny_server.rest_url}/v1/models/tiny/versions/1:predict",
        {"signature_name": "serving_default", "inputs": {"image_bytes": [b64(i) for i in images]}},
    )
    assert status == 200
    assert set(columns["outputs"]) == {"labels", "scores", "class_ids"}
    for row, prediction in enumerate(rows["predictions"]):
        assert columns["outputs"]["labels"][row] == prediction["labels"]
        assert columns["outputs"]["class_ids"][row] == prediction["class_ids"]
        assert columns["outputs"]["scores"][row] == pytest.approx(prediction["scores"], rel=1e-5)

    status, bare_columns = http("POST", url, {"inputs": [b64(image) for image in images]})
    assert status == 200
    assert bare_columns["outputs"]["labels"] == columns["outputs"]["labels"]


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v1/models/nope:predict", {"instances": [b64(b"x")]}, 404, "nope"),
        ("/v1/models/tiny/versions/9:predict", {"instances": [b64(png(1))]}, 404, "9"),
        ("/v1/models/tiny:predict", {"instances": [{"image": b64(png(1))}]}, 400, "image"),
        ("/v1/models/tiny:predict", {"instances": [1.5]}, 400, "image_bytes"),
        ("/v1/models/tiny:predict", {"instances": [b64(b"not an image")]}, 400, "image_bytes[0]"),
        ("/v1/models/tiny:predict", {"inputs": [b64(png(1)), {"b64": "%%%"}]}, 400, "base64"),
        ("/v1/models/tiny:predict", {"rows": []}, 400, "instances"),
        ("/v1/models/tiny:predict", b"{not json", 400, "JSON"),
        ("/v1/models/tiny:predict", {"signature_name": "other", "instances": [b64(png(1))]}, 400, "other"),
    ],
)
def test_predict_errors(
    tiny_server: ServingProcess, path: str, body: object, status: int, fragment: str
) -> None:
    got_status, got = http("POST", f"{tiny_server.rest_url}{path}", body)
    assert got_status == status
    assert set(got) == {"error"}
    assert fragment in got["error"]


def test_status_errors(tiny_server: ServingProcess) -> None:
    status, body = http("GET", f"{tiny_server.rest_url}/v1/models/nope")
    assert status == 404
    assert "nope" in body["error"]
    status, body = http("GET", f"{tiny_server.rest_url}/v1/models/tiny/versions/3/metadata")
    assert status == 404
    assert set(body) == {"error"}
