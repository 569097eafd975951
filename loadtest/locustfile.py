"""Locust scenarios of the product.

`APIUser` signs in once, then predicts new pictures (the model's path: every request a different file, so
no cache can answer), predicts a few pictures again and again (the gateway's cache path) and sends
feedback. `ServingRESTUser` posts new pictures straight to a serving replica's REST `:predict`, to compare
the gateway's cost with the model server's alone. Select tasks with `--tags uncached cached feedback serving`.

Run it through `make loadtest` (which starts a local stack and writes reports), or by hand:
    LOADTEST_GATEWAY_URL=http://127.0.0.1:8000 locust -f loadtest/locustfile.py APIUser
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from locust import FastHttpUser, between, tag, task
from locust.exception import StopUser

from loadtest import payloads
from loadtest.images import distinct_jpeg, run_nonce
from loadtest.settings import LoadtestSettings

SETTINGS = LoadtestSettings()
NONCE = SETTINGS.nonce if SETTINGS.nonce is not None else run_nonce()
# Distinct pictures are numbered per Locust process; the nonce keeps runs and processes apart.
_picture_numbers = itertools.count()
# The cached path's pictures: the same few files for every user of this run.
CACHED_PICTURES = [
    payloads.multipart_file(distinct_jpeg(index, NONCE + 1), f"repeated-{index}.jpg")
    for index in range(SETTINGS.cached_pool)
]


def _new_picture() -> bytes:
    return distinct_jpeg(next(_picture_numbers), NONCE)


class APIUser(FastHttpUser):
    host = SETTINGS.gateway_url
    wait_time = between(SETTINGS.wait_min, SETTINGS.wait_max)

    def on_start(self) -> None:
        self.token_header: dict[str, str] = {}
        self.last_prediction: dict[str, Any] | None = None
        self.answered: set[int] = set()  # cached-path pictures this user already had an answer for
        with self.client.post(
            "/login",
            data=payloads.login_form(SETTINGS.email, SETTINGS.password),  # type: ignore[arg-type]  # locust takes bytes; its hint omits them
            headers={"Content-Type": payloads.FORM_TYPE},
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"sign-in failed: {response.status_code} {response.text[:200]}")
                raise StopUser()
            self.token_header = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def _predict(self, body: bytes, name: str, expect_cached: bool = False) -> dict[str, Any] | None:
        headers = {**self.token_header, "Content-Type": payloads.MULTIPART_TYPE}
        with self.client.post(
            "/model/predict",
            data=body,  # type: ignore[arg-type]  # locust takes bytes; its hint omits them
            headers=headers,
            name=name,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {response.text[:200]}")
                return None
            answer: dict[str, Any] = response.json()
            if not answer.get("success") or not answer.get("prediction"):
                response.failure(f"no prediction in {response.text[:200]}")
                return None
            if expect_cached and answer.get("cached") is not True:
                response.failure(f"a repeated picture was not answered from the cache: {response.text[:200]}")
            self.last_prediction = answer
            return answer

    @tag("gateway", "predict", "uncached")
    @task(3)
    def predict_new_picture(self) -> None:
        body = payloads.multipart_file(_new_picture(), "new.jpg")
        self._predict(body, "/model/predict [uncached]")

    @tag("gateway", "predict", "cached")
    @task(3)
    def predict_repeated_picture(self) -> None:
        index = random.randrange(len(CACHED_PICTURES))
        # Once this user has had an answer for these bytes, the cache must serve them.
        if self._predict(CACHED_PICTURES[index], "/model/predict [cached]", index in self.answered):
            self.answered.add(index)

    @tag("gateway", "feedback")
    @task(1)
    def send_feedback(self) -> None:
        if self.last_prediction is None:
            self.predict_new_picture()
        if self.last_prediction is None:
            return
        feedback = {
            "score": self.last_prediction["score"],
            "predicted_class": self.last_prediction["prediction"],
            "image_file_name": self.last_prediction["image_file_name"],
            "feedback": "load test: looks wrong",
        }
        with self.client.post(
            "/feedback/", json=feedback, headers=self.token_header, catch_response=True
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code} {response.text[:200]}")


class ServingRESTUser(FastHttpUser):
    """The model server alone, over REST, for comparison with the gateway's `[uncached]` figures."""

    host = SETTINGS.serving_url
    wait_time = between(SETTINGS.wait_min, SETTINGS.wait_max)

    @tag("serving")
    @task
    def predict_direct(self) -> None:
        # An absolute URL: `--host` (meant for the gateway) does not redirect this class.
        url = f"{SETTINGS.serving_url}/v1/models/{SETTINGS.model_name}:predict"
        with self.client.post(
            url,
            data=payloads.rest_predict(_new_picture()),  # type: ignore[arg-type]  # locust takes bytes; its hint omits them
            name="serving :predict",
            headers={"Content-Type": "application/json"},
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {response.text[:200]}")
            elif "predictions" not in response.json():
                response.failure(f"no predictions in {response.text[:200]}")
