"""Every gateway setting, read from environment variables (or a `.env` file) by pydantic-settings."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, computed_field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from boundedhttp.settings import HttpBoundsSettings
from contracts import demo, ports
from contracts.net import is_loopback

MIN_SECRET_KEY_BYTES = 32
MIN_PASSWORD_LENGTH = 8
VersionLabel = Annotated[str, Field(max_length=64, pattern=r"^([A-Za-z0-9][A-Za-z0-9_.-]*)?$")]
"""A TF Serving version label as the gateway accepts it (it also goes into /v1/models/<m>/labels/<label>)."""
log = logging.getLogger("gateway")


class Settings(HttpBoundsSettings, BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    gateway_host: str = "127.0.0.1"
    """The address `python -m gateway` binds (and the one the demo-secret check judges)."""
    gateway_port: Annotated[int, Field(ge=1, le=65535)] = ports.GATEWAY
    gateway_workers: Annotated[int, Field(ge=1)] = 1
    """uvicorn worker processes of `python -m gateway`."""
    shutdown_grace_seconds: Annotated[int, Field(ge=1)] = 25
    """On SIGTERM, in-flight requests get this long to finish."""
    proxy_secret: str | None = None
    """Shared with the trusted proxies (the page, nginx): a request carrying `X-Proxy-Secret: <it>` gets the
    last address of its X-Forwarded-For as the client's. Unset: no forwarding header is trusted."""

    database_url: str = "sqlite+aiosqlite:///./var/gateway.db"
    """`sqlite+aiosqlite:///path` or `postgresql+asyncpg://user:pass@host:port/db`."""
    run_migrations: bool = True
    """Apply Alembic migrations at start-up (safe with several workers: they take a lock)."""
    db_pool_size: Annotated[int, Field(ge=1)] = 10

    serving_target: str = "127.0.0.1:8500"
    """`host:port`, `dns:///name:port` (round-robin over its addresses) or `a:8500,b:8510`."""
    model_name: str = "resnet50"
    serving_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    model_status_ttl_seconds: Annotated[float, Field(ge=0)] = 5.0
    stable_label: VersionLabel = ""
    """The version label (TF Serving's `version_labels`) every request names; empty: no label at all, each
    request asks for the latest version, as without labels."""
    canary_label: VersionLabel = ""
    """The label that CANARY_PERCENT of the users are sent to (needs STABLE_LABEL); empty: no canary."""
    canary_percent: Annotated[float, Field(ge=0, le=100)] = 0.0
    """The share of users (by a hash of their account, so each stays on one side) sent to CANARY_LABEL."""
    result_cache_entries: Annotated[int, Field(ge=0)] = 10_000
    """Prediction results kept in memory per worker, in front of the database's cache query (0: off)."""

    upload_dir: Path = Path("var/uploads")
    max_upload_bytes: Annotated[int, Field(ge=1)] = 25 * 1024 * 1024
    """One uploaded file (a phone's 20 MB photo passes); the body is counted as it arrives."""
    max_image_pixels: Annotated[int, Field(ge=1)] = 50_000_000
    """Width x height x frames, read from the image header; larger images are refused before any decode."""
    max_image_frames: Annotated[int, Field(ge=1)] = 100
    """Animated GIF/PNG/WebP with more frames are refused (the model server would decode every frame)."""
    serving_max_image_pixels: Annotated[int, Field(ge=1)] = 12_500_000
    """The model server's --max_image_pixels: an upload within it (and within the bytes below) that the model
    decodes itself (PNG, JPEG, GIF) is sent as it is; any other is sent as a reduced JPEG."""
    serving_max_image_bytes: Annotated[int, Field(ge=1)] = 10 * 1024 * 1024
    """The largest upload sent as it is: the model server's --max_request_bytes (11 MiB) less room for the
    rest of the request."""
    inspect_memory_bytes: Annotated[int, Field(ge=1)] = 256 * 1024 * 1024
    """Memory that the image checks of one worker may use at once; uploads wait their turn beyond it, and an
    image whose decode alone would need more is refused from its header."""
    inspect_threads: Annotated[int, Field(ge=1)] = 2
    """Threads of one worker that decode images (the budget above bounds what they hold at once)."""

    secret_key: str = demo.SECRET_KEY
    access_token_expire_minutes: Annotated[int, Field(ge=1)] = 60
    admin_email: str = demo.ADMIN_EMAIL
    admin_password: str = demo.ADMIN_PASSWORD
    admin_name: str = "Admin"
    allow_demo_secrets: bool = False
    """Start with the demo SECRET_KEY / admin password on a non-loopback address (a throw-away demo)."""

    auth_rate_window_seconds: Annotated[float, Field(gt=0)] = 60.0
    login_failures_per_ip: Annotated[int, Field(ge=1)] = 20
    """Failed sign-ins per client address and window; more get 429 with Retry-After."""
    login_failures_per_account: Annotated[int, Field(ge=1)] = 5
    """Failed sign-ins per account (email) and window, from any address."""
    login_quiet_ip_failures: Annotated[int, Field(ge=1)] = 3
    """An address that failed fewer sign-ins than this in the window (on any account) is not hammering: its
    password is still checked for an account whose own bucket strangers emptied."""
    signups_per_ip: Annotated[int, Field(ge=1)] = 10
    """Registrations (POST /user/) per client address and window."""
    signups_per_email: Annotated[int, Field(ge=1)] = 3
    """Registration attempts per email and window."""

    redis_url: str | None = None
    """`redis://host:6379/0`: the sign-in and registration limits are shared by every worker and gateway
    there. Unset: each worker process counts on its own. Set but unreachable: sign-in and registration
    answer 503 (the limiter fails closed); everything else works."""
    redis_key_prefix: str = "gateway:limits:"

    api_docs: Literal["loopback", "public", "off"] = "loopback"
    """/docs, /redoc and /openapi.json: for loopback clients only (default), everyone, or nobody."""
    metrics_token: str | None = None
    """When set, /metrics needs `Authorization: Bearer <token>`; unset, it answers loopback clients only."""
    gateway_metrics_port: Annotated[int | None, Field(ge=1, le=65535)] = None
    """Set: `python -m gateway` serves /metrics (every worker's, merged) on this port of GATEWAY_HOST, from
    its parent process, and /metrics on the API port answers 404. Unset: /metrics is on the API port."""

    log_level: str = "INFO"

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if len(value.encode("utf-8")) < MIN_SECRET_KEY_BYTES:
            raise ValueError(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`)"
            )
        return value

    @model_validator(mode="after")
    def _labels_fit(self) -> Settings:
        if self.canary_label and not self.stable_label:
            raise ValueError(
                "CANARY_LABEL needs STABLE_LABEL: a canary request falls back to the stable label"
            )
        if self.canary_label and self.canary_label == self.stable_label:
            raise ValueError("CANARY_LABEL must differ from STABLE_LABEL")
        if self.canary_percent and not self.canary_label:
            raise ValueError("CANARY_PERCENT is set but CANARY_LABEL is empty")
        return self

    @model_validator(mode="after")
    def _ports_differ(self) -> Settings:
        if self.gateway_metrics_port == self.gateway_port:
            raise ValueError("GATEWAY_METRICS_PORT must differ from GATEWAY_PORT")
        return self

    @property
    def access_token_lifetime(self) -> timedelta:
        return timedelta(minutes=self.access_token_expire_minutes)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def serving_replicas(self) -> list[str]:
        return [part.strip() for part in self.serving_target.split(",") if part.strip()]

    def demo_secrets(self) -> list[str]:
        """What is still the public demo value (empty when both secrets were set)."""
        found = []
        if self.secret_key == demo.SECRET_KEY:
            found.append("SECRET_KEY is the built-in demo key (anyone can forge tokens)")
        if self.admin_password == demo.ADMIN_PASSWORD or len(self.admin_password) < MIN_PASSWORD_LENGTH:
            found.append(f"ADMIN_PASSWORD is the default or shorter than {MIN_PASSWORD_LENGTH} characters")
        return found


class InsecureSettingsError(RuntimeError):
    pass


def demo_secrets_only_on_loopback(settings: Settings) -> bool:
    """The demo secrets are in use and not explicitly allowed: they may serve loopback connections only."""
    return bool(settings.demo_secrets()) and not settings.allow_demo_secrets


def check_secrets(settings: Settings, bind_host: str) -> None:
    """Refuse to serve anything but loopback with the demo secrets (unless ALLOW_DEMO_SECRETS is set)."""
    problems = settings.demo_secrets()
    if not problems:
        return
    text = "; ".join(problems)
    if is_loopback(bind_host) or settings.allow_demo_secrets:
        log.warning("%s. Fine for a local demo only: set SECRET_KEY and ADMIN_PASSWORD otherwise.", text)
        return
    raise InsecureSettingsError(
        f"Refusing to start on {bind_host}: {text}. Set SECRET_KEY (at least {MIN_SECRET_KEY_BYTES} "
        "bytes) and ADMIN_PASSWORD, bind 127.0.0.1, or set ALLOW_DEMO_SECRETS=1 for a throw-away demo."
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
