"""Database tables (SQLModel, table=True) and the API's request/response schemas."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, TypeDecorator, false
from sqlmodel import Field, SQLModel

from contracts.labels import imagenet_labels
from gateway.core.config import MIN_PASSWORD_LENGTH


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_subject() -> str:
    """What a user's tokens name them by: random, never reused (an id is: SQLite hands a deleted user's
    rowid to the next one)."""
    return secrets.token_hex(16)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on PostgreSQL and on SQLite (which stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def _storable(value: str) -> str:
    """PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded: refuse them as 422."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


Text = Annotated[str, AfterValidator(_storable)]


# ---- tables ----------------------------------------------------------------------------------------


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(default_factory=new_subject, max_length=32, unique=True, index=True)
    name: str = Field(max_length=100)
    email: str = Field(max_length=255, unique=True, index=True)
    hashed_password: str = Field(max_length=255)
    is_admin: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    """May read every version's evaluation (GET /model/evaluation); the configured admin has it."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


CacheKey = tuple[int, str, str, int]
"""(user_id, md5, model_name, model_version): a user's rows with the same key share one result."""


class Prediction(SQLModel, table=True):
    """One user's prediction. A user's rows with the same (md5, model_name, model_version) share a result,
    which is how a repeated upload is answered from the cache (per user: another user's uploads never are)."""

    __tablename__ = "predictions"
    __table_args__ = (
        Index("ix_predictions_user_cache_key", "user_id", "md5", "model_name", "model_version"),
        Index("ix_predictions_user_history", "user_id", "id"),
        Index("ix_predictions_model", "model_name", "model_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    md5: str = Field(max_length=32)
    image_file_name: str = Field(max_length=64)
    original_file_name: str | None = Field(default=None, max_length=255)
    model_name: str = Field(max_length=128)
    model_version: int
    model_label: str | None = Field(default=None, max_length=64)
    """The version label the gateway asked for (`stable`, `canary`); None when it asked for no label."""
    label: str = Field(max_length=255)
    score: float
    top_k: list[dict[str, Any]] = Field(sa_type=JSON)
    cached: bool = False
    serving_ms: float | None = None
    """The model server's answer time as the gateway measured it; None when answered from the cache."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


PredictionValues = dict[str, Any]
"""A new predictions row's column values, all but its id."""


def prediction_values(**fields: Any) -> PredictionValues:
    """`fields` and Prediction's defaults for the other columns: what a new row stores. The predict path
    writes these rather than a Prediction, whose constructor (a table model's) costs ~0.1 ms of CPU."""
    unknown = set(fields) - set(Prediction.model_fields)
    if unknown or "id" in fields:
        raise TypeError(f"not a new prediction's columns: {sorted(unknown | ({'id'} & set(fields)))}")
    for name, field in Prediction.model_fields.items():
        if name != "id" and name not in fields:
            if field.is_required():
                raise TypeError(f"a new prediction needs {name}")
            fields[name] = field.get_default(call_default_factory=True)
    return fields


class Feedback(SQLModel, table=True):
    __tablename__ = "feedback"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    prediction_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("predictions.id", ondelete="SET NULL"), nullable=True),
    )
    image_file_name: str = Field(max_length=255)
    predicted_class: str = Field(max_length=255)
    score: float
    feedback: str = Field(max_length=2000)
    verdict: str | None = Field(default=None, max_length=16)
    """`correct` or `wrong`, when the user said so; None for free-text-only feedback."""
    correct_label: str | None = Field(default=None, max_length=255)
    """The label the user says is right (one of the model's labels), with a `wrong` verdict."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# ---- API schemas -----------------------------------------------------------------------------------


Stripped = StringConstraints(strip_whitespace=True)


class UserCreate(BaseModel):
    """The password is kept exactly as typed (no stripping): login compares what the user types."""

    name: Annotated[Text, Stripped, Field(min_length=1, max_length=100)]
    email: Annotated[EmailStr, Stripped, Field(max_length=255)]
    password: Annotated[Text, Field(min_length=MIN_PASSWORD_LENGTH, max_length=128)]


class SignUpAccepted(BaseModel):
    """The answer to a registration, the same whether the email was free or had an account already."""

    name: str
    email: str


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
    is_admin: bool = False


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class TopK(BaseModel):
    label: str
    score: float


class ModelVersion(BaseModel):
    name: str
    version: int


class ModelInfo(ModelVersion):
    """The model version that answered a prediction."""

    label: str | None = None
    """The version label (STABLE_LABEL / CANARY_LABEL) that answered; None when the gateway names none."""


class PredictionPublic(BaseModel):
    success: bool = True
    prediction: str
    score: float
    image_file_name: str
    top_k: list[TopK]
    model: ModelInfo
    cached: bool
    prediction_id: int


Verdict = Literal["correct", "wrong"]


class FeedbackCreate(BaseModel):
    """The original fields, and optionally a verdict that a machine can count: `correct`, or `wrong` with
    (optionally) the right label, one of the model's labels. Free-text-only feedback stays valid."""

    score: Annotated[float, Field(ge=0, le=1)]
    predicted_class: Annotated[Text, Field(min_length=1, max_length=255)]
    image_file_name: Annotated[Text, Field(min_length=1, max_length=255)]
    feedback: Annotated[Text, Field(max_length=2000)]
    verdict: Verdict | None = None
    correct_label: Annotated[Text, Stripped, Field(max_length=255)] | None = None

    @field_validator("correct_label")
    @classmethod
    def _a_right_label(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Runs after the fields before it, so `verdict` and `predicted_class` are known when valid."""
        if value is None:
            return None
        if value not in imagenet_labels():
            raise ValueError(
                f"{value!r} is not one of the model's labels (spelled as /model/predict names them, "
                "e.g. 'tabby')"
            )
        if "verdict" in info.data and info.data["verdict"] != "wrong":
            raise ValueError('is only for verdict "wrong" (the label the prediction should have been)')
        if value == info.data.get("predicted_class"):
            raise ValueError('is the predicted class itself: send verdict "correct" instead')
        return value


class FeedbackPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    prediction_id: int
    image_file_name: str
    predicted_class: str
    score: float
    feedback: str
    verdict: Verdict | None = None
    correct_label: str | None = None
    created_at: datetime


class PredictionRecord(BaseModel):
    """One of the caller's past predictions (GET /model/predictions)."""

    prediction_id: int
    image_file_name: str
    original_file_name: str | None
    prediction: str
    score: float
    top_k: list[TopK]
    model: ModelInfo
    created_at: datetime

    @classmethod
    def of(cls, row: Prediction) -> PredictionRecord:
        assert row.id is not None
        return cls(
            prediction_id=row.id,
            image_file_name=row.image_file_name,
            original_file_name=row.original_file_name,
            prediction=row.label,
            score=row.score,
            top_k=[TopK.model_validate(item) for item in row.top_k],
            model=ModelInfo(name=row.model_name, version=row.model_version, label=row.model_label),
            created_at=row.created_at,
        )


class PredictionPage(BaseModel):
    items: list[PredictionRecord]
    total: int
    limit: int
    offset: int


class ConfusedPair(BaseModel):
    """A wrong verdict's pair: what the model answered, and the label its user says is right."""

    predicted: str
    actual: str
    count: int


class VersionEvaluation(BaseModel):
    """One (model name, version, label) as its users judged it (GET /model/evaluation)."""

    model_name: str
    model_version: int
    model_label: str | None
    predictions: int
    feedback: int
    """Predictions with a verdict (each counted once, by its latest verdict)."""
    feedback_rate: float
    correct: int
    accuracy: float | None
    """Top-1 accuracy among the verdicts (None without any), with its 95 % Wilson interval below."""
    accuracy_low: float | None
    accuracy_high: float | None
    confused: list[ConfusedPair]
    latency_ms_p50: float | None
    latency_ms_p95: float | None


class LabelRoute(BaseModel):
    """A version label the gateway sends users to, and the version it points at now (None: unknown to the
    model server, or not loaded)."""

    label: str
    version: int | None
    percent: float
    """The share of users sent to it."""


class EvaluationReport(BaseModel):
    routes: list[LabelRoute] = []
    """Stable first, then the canary; empty when the gateway names no labels (STABLE_LABEL unset)."""
    versions: list[VersionEvaluation]


class ErrorDetail(BaseModel):
    detail: str


class HealthStatus(BaseModel):
    status: str


class RootStatus(HealthStatus):
    """`GET /`: alive, like `/health`, and where to go next."""

    docs: str | None
    health: str = "/health"
    ready: str = "/ready"


class ReadyStatus(BaseModel):
    status: str
    database: str
    serving: str
    model: ModelVersion | None = None
