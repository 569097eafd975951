"""The container suite's client: the product's flows through the proxy's published port, and a steady load."""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from stack.procs import REPO_ROOT

DOG = REPO_ROOT / "tests" / "data" / "dog.jpeg"
REQUEST_TIMEOUT_SECONDS = 30.0
_counter = itertools.count()
_counter_lock = threading.Lock()


def distinct_photo(base: Path = DOG) -> bytes:
    """The dog photo with one pixel changed per call: every upload is new to the gateway's result cache."""
    with _counter_lock:
        n = next(_counter)
    image = Image.open(base).convert("RGB")
    image.putpixel((0, 0), (n % 256, (n // 256) % 256, (n // 65536) % 256))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


def sign_up_and_in(base_url: str, email: str, password: str = "a-long-password-4-test") -> str:
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        registered = client.post("/user/", json={"name": "Tester", "email": email, "password": password})
        assert registered.status_code in (200, 201), registered.text
        login = client.post("/login", data={"username": email, "password": password})
        assert login.status_code == 200, login.text
        token: str = login.json()["access_token"]
        return token


def predict(client: httpx.Client, token: str, photo: bytes | None = None) -> httpx.Response:
    return client.post(
        "/model/predict",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("dog.jpg", photo if photo is not None else distinct_photo(), "image/jpeg")},
    )


@dataclass
class Outcome:
    status: int  # 0: no answer (connection error, timeout)
    sent: float
    at: float
    prediction_id: int | None = None
    model_version: int | None = None
    detail: str = ""


@dataclass
class Load:
    """`workers` threads sending predictions back to back until stopped; every outcome is kept."""

    base_url: str
    token: str
    workers: int = 3
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        for _ in range(self.workers):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 10)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
            while not self._stop.is_set():
                photo = distinct_photo()
                sent = time.monotonic()
                try:
                    response = predict(client, self.token, photo)
                except httpx.HTTPError as error:
                    outcome = Outcome(0, sent, time.monotonic(), detail=repr(error))
                else:
                    outcome = Outcome(
                        response.status_code, sent, time.monotonic(), detail=response.text[:300]
                    )
                    if response.status_code == 200:
                        body = response.json()
                        outcome.prediction_id = body.get("prediction_id")
                        outcome.model_version = (body.get("model") or {}).get("version")
                with self._lock:
                    self.outcomes.append(outcome)

    def wait_for(self, count: int, timeout: float = 120.0) -> None:
        """Until `count` more outcomes than now were recorded."""
        target = len(self.outcomes) + count
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < target:
            assert time.monotonic() < deadline, f"the load made {len(self.outcomes)} of {target} requests"
            time.sleep(0.1)

    def statuses(self) -> Counter[int]:
        with self._lock:
            return Counter(outcome.status for outcome in self.outcomes)

    def failures(self) -> list[Outcome]:
        with self._lock:
            return [outcome for outcome in self.outcomes if outcome.status != 200]
