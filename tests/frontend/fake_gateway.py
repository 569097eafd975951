"""An in-memory stand-in for the gateway contract (ARCHITECTURE.md), for the frontend's fast unit tests only.

The same frontend paths are also tested against the real gateway + serving in test_live.py.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Header, HTTPException, Query, Request, Response, UploadFile
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel

ALLOWED = {".png", ".jpg", ".jpeg", ".gif"}
MAX_BYTES = 200_000
TOP5 = [("tabby", 0.61), ("tiger_cat", 0.2), ("Egyptian_cat", 0.1), ("lynx", 0.05), ("tiger", 0.01)]


class NewUser(BaseModel):
    name: str
    email: str
    password: str


class FeedbackIn(BaseModel):
    score: float
    predicted_class: str
    image_file_name: str
    feedback: str
    verdict: str | None = None
    correct_label: str | None = None


@dataclass
class FakeState:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> email
    feedback: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    predictions: list[dict[str, Any]] = field(default_factory=list)  # every user's, oldest first
    images: dict[str, bytes] = field(default_factory=dict)  # image_file_name -> bytes
    predict_status: int | None = None  # force an error answer from /model/predict
    top5: list[tuple[str, float]] = field(default_factory=lambda: list(TOP5))  # what /model/predict answers

    def expire_all_tokens(self) -> None:
        self.tokens.clear()


def current_email(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    tokens = request.app.state.fake.tokens
    token = (authorization or "").removeprefix("Bearer ")
    if token not in tokens:
        raise HTTPException(401, "Could not validate credentials")
    return tokens[token]


Email = Annotated[str, Depends(current_email)]


def create_app(state: FakeState | None = None) -> FastAPI:
    state = state or FakeState()
    app = FastAPI()
    app.state.fake = state

    @app.post("/user/", status_code=201)
    async def create_user(user: NewUser) -> dict[str, Any]:
        if "@" not in user.email:
            raise HTTPException(
                422, [{"loc": ["body", "email"], "msg": "value is not a valid email address", "type": "x"}]
            )
        if user.email not in state.users:  # a taken email is answered alike, and left as it was
            state.users[user.email] = {
                "id": len(state.users) + 1,
                "name": user.name,
                "password": user.password,
            }
        return {"name": user.name, "email": user.email}

    @app.post("/login")
    async def login(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> dict[str, str]:
        user = state.users.get(username)
        if user is None or user["password"] != password:
            raise HTTPException(401, "Incorrect email or password")
        token = secrets.token_hex(8)
        state.tokens[token] = username
        return {"access_token": token, "token_type": "bearer"}

    @app.get("/user/me")
    async def me(email: Email) -> dict[str, Any]:
        return {"id": state.users[email]["id"], "name": state.users[email]["name"], "email": email}

    @app.post("/model/predict")
    async def predict(email: Email, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        if state.predict_status:
            raise HTTPException(state.predict_status, "No model server is available.")
        ext = Path(file.filename or "").suffix.lower()
        if ext not in ALLOWED:
            raise HTTPException(400, "File type is not supported.")
        content = await file.read()
        if len(content) > MAX_BYTES:
            raise HTTPException(413, f"File is too large (limit {MAX_BYTES} bytes).")
        try:
            Image.open(io.BytesIO(content)).verify()
        except (UnidentifiedImageError, OSError) as exc:
            raise HTTPException(400, "File is not a valid image.") from exc
        name = hashlib.md5(content).hexdigest() + ext
        cached = name in state.seen
        state.seen.add(name)
        state.images[name] = content
        state.predictions.append(
            {
                "prediction_id": len(state.predictions) + 1,
                "owner": email,
                "image_file_name": name,
                "original_file_name": file.filename,
                "prediction": state.top5[0][0],
                "score": state.top5[0][1],
                "top_k": [{"label": label, "score": score} for label, score in state.top5],
                "model": {"name": "fake", "version": 3},
                "created_at": datetime.now(UTC).isoformat(),
            }
        )
        return {
            "success": True,
            "prediction": state.top5[0][0],
            "score": state.top5[0][1],
            "image_file_name": name,
            "top_k": [{"label": label, "score": score} for label, score in state.top5],
            "model": {"name": "fake", "version": 3},
            "cached": cached,
        }

    @app.post("/feedback/", status_code=201)
    async def add_feedback(email: Email, body: FeedbackIn) -> dict[str, Any]:
        own = [p for p in mine(email) if p["image_file_name"] == body.image_file_name]
        if not own:
            raise HTTPException(404, "No prediction of yours has this image_file_name.")
        row = {
            "id": sum(map(len, state.feedback.values())) + 1,
            "prediction_id": own[0]["prediction_id"],
            **body.model_dump(),
            "created_at": datetime.now(UTC).isoformat(),
        }
        state.feedback.setdefault(email, []).append(row)
        return row

    @app.get("/feedback/")
    async def list_feedback(email: Email) -> list[dict[str, Any]]:
        return state.feedback.get(email, [])

    def mine(email: str) -> list[dict[str, Any]]:
        """The caller's predictions, newest first."""
        return [p for p in reversed(state.predictions) if p["owner"] == email]

    @app.get("/model/predictions")
    async def predictions(
        email: Email,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        rows = mine(email)
        items = [{k: v for k, v in p.items() if k != "owner"} for p in rows[offset : offset + limit]]
        return {"items": items, "total": len(rows), "limit": limit, "offset": offset}

    @app.get("/model/predictions/{prediction_id}/image")
    async def prediction_image(email: Email, prediction_id: int) -> Response:
        for p in mine(email):
            if p["prediction_id"] == prediction_id:
                return Response(state.images[p["image_file_name"]], media_type="image/jpeg")
        raise HTTPException(404, "Prediction not found.")

    return app
