"""The exported efficientnet-lite0 (real ImageNet weights) through the server recognises sample photos."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from skimage import data

from tests.serving.helpers import b64, http, jpeg, outputs, predict_request, prediction_stub
from tests.serving_fixtures import StartServing

pytestmark = pytest.mark.slow

CATS = {"tabby", "tiger_cat", "Egyptian_cat"}


def test_efficientnet_labels_chelsea_as_a_cat_and_coffee_as_espresso(
    start_serving: StartServing, efficientnet_base: Path
) -> None:
    server = start_serving(efficientnet_base, "efficientnet-lite0")
    images = [jpeg(data.chelsea()), jpeg(data.coffee())]
    with grpc.insecure_channel(server.grpc_target) as channel:
        result = outputs(
            prediction_stub(channel).Predict(predict_request("efficientnet-lite0", images), timeout=120)
        )
    top = [labels[0].decode() for labels in result["labels"]]
    assert top[0] in CATS, result["labels"][0]
    assert top[1] == "espresso", result["labels"][1]
    assert result["scores"][1][0] > 0.3

    status, body = http(
        "POST", f"{server.rest_url}/v1/models/efficientnet-lite0:predict", {"instances": [b64(images[0])]}
    )
    assert status == 200
    assert body["predictions"][0]["labels"][0] in CATS
    server.stop()
