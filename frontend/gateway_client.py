"""Async HTTP client for the gateway contract; each failure becomes a `GatewayError` a person can read."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)

# Said when the gateway gives no usable `detail` of its own.
_DEFAULT_MESSAGES = {
    400: "The request was not accepted.",
    401: "Wrong email or password.",
    403: "You are not allowed to do that.",
    404: "Not found.",
    413: "The file is too large.",
    415: "File type is not supported.",
    422: "Some fields are not valid.",
    429: "Too many requests; please wait a moment and try again.",
    503: "The model is not available right now; please try again in a moment.",
    504: "The model took too long to answer; please try again.",
}


class GatewayError(Exception):
    """A failure a person can read; `status` is the HTTP status (None when the gateway was not reached)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class SessionExpiredError(GatewayError):
    """The token was refused on an authenticated call: the person has to sign in again."""


@dataclass(frozen=True)
class User:
    id: int | str
    name: str
    email: str
    is_admin: bool = False


@dataclass(frozen=True)
class Prediction:
    prediction: str
    score: float
    image_file_name: str
    top_k: list[tuple[str, float]]
    model_name: str
    model_version: str
    cached: bool
    model_label: str | None = None  # the version label that answered (stable, canary), when one did
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prediction:
        model = data.get("model") or {}
        top_k = [(str(item["label"]), float(item["score"])) for item in data.get("top_k") or []]
        if not top_k and data.get("prediction") is not None:
            top_k = [(str(data["prediction"]), float(data.get("score") or 0.0))]
        return cls(
            prediction=str(data["prediction"]),
            score=float(data["score"]),
            image_file_name=str(data["image_file_name"]),
            top_k=top_k,
            model_name=str(model.get("name", "")),
            model_version=str(model.get("version", "")),
            cached=bool(data.get("cached", False)),
            model_label=model.get("label") or None,
            raw=data,
        )


@dataclass(frozen=True)
class PastPrediction:
    """One entry of `GET /model/predictions` (the caller's history)."""

    prediction_id: int
    image_file_name: str
    original_file_name: str | None
    prediction: str
    score: float
    top_k: list[tuple[str, float]]
    model_name: str
    model_version: str
    created_at: str
    model_label: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PastPrediction:
        model = data.get("model") or {}
        return cls(
            prediction_id=int(data["prediction_id"]),
            image_file_name=str(data["image_file_name"]),
            original_file_name=data.get("original_file_name") or None,
            prediction=str(data["prediction"]),
            score=float(data["score"]),
            top_k=[(str(item["label"]), float(item["score"])) for item in data.get("top_k") or []],
            model_name=str(model.get("name", "")),
            model_version=str(model.get("version", "")),
            created_at=str(data.get("created_at") or ""),
            model_label=model.get("label") or None,
        )

    def as_prediction(self) -> Prediction:
        top_k = self.top_k or [(self.prediction, self.score)]
        return Prediction(
            self.prediction,
            self.score,
            self.image_file_name,
            top_k,
            self.model_name,
            self.model_version,
            cached=True,
            model_label=self.model_label,
        )


@dataclass(frozen=True)
class PredictionPage:
    items: list[PastPrediction]
    total: int
    limit: int
    offset: int


def _field_errors(detail: list[Any]) -> str:
    """FastAPI's 422 list -> 'Password must be at least 4 characters long. Email: value is not …'."""
    sentences = []
    for item in detail:
        if not isinstance(item, dict):
            sentences.append(str(item))
            continue
        loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query", "path", "form")]
        field_name = (loc[-1] if loc else "value").replace("_", " ").capitalize()
        kind, ctx = str(item.get("type", "")), item.get("ctx") or {}
        msg = str(item.get("msg", "is not valid")).removeprefix("Value error, ")
        if kind in ("string_too_short", "too_short") and "min_length" in ctx:
            sentences.append(f"{field_name} must be at least {ctx['min_length']} characters long.")
        elif kind in ("string_too_long", "too_long") and "max_length" in ctx:
            sentences.append(f"{field_name} must be at most {ctx['max_length']} characters long.")
        elif kind == "missing":
            sentences.append(f"{field_name} is required.")
        else:
            sentences.append(f"{field_name}: {msg.rstrip('.')}.")
    return " ".join(sentences)


def error_message(response: httpx.Response) -> str:
    """The gateway's own `detail` when it is usable, otherwise a plain sentence for the status code."""
    detail: Any = None
    try:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        pass
    if isinstance(detail, str) and detail.strip():
        message = detail.strip()
        if (
            response.status_code >= 500
        ):  # keep the sentence, not the replica addresses and gRPC codes after it
            message = message.split(" (", 1)[0].rstrip(".") + ". Please try again in a moment."
        return message
    if isinstance(detail, list) and detail:
        return _field_errors(detail)
    if response.status_code >= 500:
        return _DEFAULT_MESSAGES.get(
            response.status_code, f"The service had a problem (HTTP {response.status_code})."
        )
    return _DEFAULT_MESSAGES.get(response.status_code, f"The request failed (HTTP {response.status_code}).")


class GatewayClient:
    """One pooled `httpx.AsyncClient` for all sessions; tokens are passed per call, never stored here."""

    def __init__(
        self,
        base_url: str,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy_secret: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.proxy_secret = proxy_secret
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _client_headers(self, client_ip: str | None) -> dict[str, str]:
        """The person's address for the gateway's per-address limits; believed only with the secret."""
        if not (client_ip and self.proxy_secret):
            return {}
        return {"X-Forwarded-For": client_ip, "X-Proxy-Secret": self.proxy_secret}

    async def _request(self, method: str, url: str, token: str | None = None, **kwargs: Any) -> Any:
        response = await self._send(method, url, token, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise GatewayError(
                "The service sent an answer that could not be read.", response.status_code
            ) from exc

    async def _send(
        self,
        method: str,
        url: str,
        token: str | None = None,
        client_ip: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = self._client_headers(client_ip)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise GatewayError("The service took too long to answer; please try again.") from exc
        except httpx.HTTPError as exc:
            log.warning("gateway %s not reachable: %s: %s", self.base_url, type(exc).__name__, exc)
            raise GatewayError(
                "The service cannot be reached right now; please try again in a moment."
            ) from exc
        if response.status_code == 401 and token:
            raise SessionExpiredError("Your session has expired. Please sign in again.", 401)
        if response.is_error:
            raise GatewayError(error_message(response), response.status_code)
        return response

    async def register(self, name: str, email: str, password: str, client_ip: str | None = None) -> None:
        """The gateway answers alike whether the email was free or had an account (it tells no one who has
        one): signing in with the same password afterwards is what shows that the account is this person's."""
        body = {"name": name, "email": email, "password": password}
        await self._request("POST", "/user/", client_ip=client_ip, json=body)

    async def login(self, email: str, password: str, client_ip: str | None = None) -> str:
        form = {"username": email, "password": password}
        try:
            data = await self._request("POST", "/login", client_ip=client_ip, data=form)
        except GatewayError as exc:
            if exc.status == 401:
                raise GatewayError("Wrong email or password.", 401) from exc
            raise
        return str(data["access_token"])

    async def me(self, token: str) -> User:
        data = await self._request("GET", "/user/me", token)
        return User(
            id=data["id"], name=data["name"], email=data["email"], is_admin=bool(data.get("is_admin"))
        )

    async def predict(self, token: str, path: Path, filename: str | None = None) -> Prediction:
        """Send the file's original bytes under its original name, so the gateway judges type and size."""
        content = await asyncio.to_thread(path.read_bytes)
        files = {"file": (filename or path.name, content, "application/octet-stream")}
        return Prediction.from_json(await self._request("POST", "/model/predict", token, files=files))

    async def send_feedback(
        self,
        token: str,
        *,
        score: float,
        predicted_class: str,
        image_file_name: str,
        feedback: str,
        verdict: str | None = None,
        correct_label: str | None = None,
    ) -> dict[str, Any]:
        """`verdict` (`correct` / `wrong`) and `correct_label` are sent only when given: `feedback` alone is
        the original API."""
        payload: dict[str, Any] = {
            "score": score,
            "predicted_class": predicted_class,
            "image_file_name": image_file_name,
            "feedback": feedback,
        }
        if verdict is not None:
            payload["verdict"] = verdict
        if correct_label is not None:
            payload["correct_label"] = correct_label
        answer: dict[str, Any] = await self._request("POST", "/feedback/", token, json=payload)
        return answer

    async def list_feedback(self, token: str) -> list[dict[str, Any]]:
        data = await self._request("GET", "/feedback/", token)
        return list(data) if isinstance(data, list) else list(data.get("items", []))

    async def list_predictions(self, token: str, limit: int = 20, offset: int = 0) -> PredictionPage:
        """The caller's past predictions, newest first."""
        data = await self._request(
            "GET", "/model/predictions", token, params={"limit": limit, "offset": offset}
        )
        return PredictionPage(
            items=[PastPrediction.from_json(item) for item in data.get("items") or []],
            total=int(data.get("total") or 0),
            limit=int(data.get("limit") or limit),
            offset=int(data.get("offset") or offset),
        )

    async def evaluation(self, token: str) -> dict[str, Any]:
        """`GET /model/evaluation` as the gateway answers it (admins only: 403 for anyone else)."""
        data = await self._request("GET", "/model/evaluation", token)
        return data if isinstance(data, dict) else {}

    async def prediction_image(self, token: str, prediction_id: int) -> bytes:
        """The photo of one of the caller's own predictions, as uploaded."""
        response = await self._send("GET", f"/model/predictions/{int(prediction_id)}/image", token)
        return response.content
