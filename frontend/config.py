"""Frontend settings, read once from the environment (host and port are Gradio's own GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT, which `make run` and the containers set)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from boundedhttp.settings import HttpBoundsSettings
from contracts import ports
from contracts.labels import LABELS_FILE
from contracts.net import is_loopback_url

REPO_ROOT = Path(__file__).resolve().parent.parent

UNSURE_BELOW = 0.35
"""A top-1 score below this is shown as "Not sure — maybe …", not as an answer.

Calibrated with `python -m serving.accuracy.confidence --model-dir models/efficientnet-lite0` (the shipped
labelled photos and the no-class evaluation photos, nine variants each: 126 images, 71 answered right).
Right answers scored 0.11–0.99, wrong ones 0.06–0.86; 0.35 puts the most of them on their side (84 %):
above it 8 of 67 answers were wrong, below it 12 of 59 were right. Below it, then, the model was wrong far
more often than right. tests/serving/accuracy/test_confidence.py checks that the calibration still lands here.
"""


MAX_FILES = 10
"""Photos in one upload request, and so sent at once from "Several photos" (FRONTEND_MAX_FILES)."""


class Settings(HttpBoundsSettings, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", env_ignore_empty=True)

    gradio_server_name: str = Field("127.0.0.1", description="Address `python -m frontend` binds.")
    gradio_server_port: int = Field(
        ports.FRONTEND, ge=1, le=65535, description="Port `python -m frontend` binds."
    )
    gateway_url: str = Field(
        f"http://127.0.0.1:{ports.GATEWAY}", description="Base URL of the gateway (HTTP only)."
    )
    gateway_timeout: float = Field(60.0, gt=0, description="Seconds to wait for one gateway answer.")
    proxy_secret: str | None = Field(
        None,
        description="The gateway's PROXY_SECRET: sent as X-Proxy-Secret with each browser's address in "
        "X-Forwarded-For, so sign-in limits count each person, not the page. Also the secret a proxy in "
        "front of the page must send for its X-Forwarded-For to be believed here.",
    )
    labels_file: Path = Field(
        REPO_ROOT / "contracts" / LABELS_FILE,
        description="ImageNet class names, one per line; if absent, the right label is typed freely.",
    )
    frontend_max_file_mb: int = Field(
        50,
        ge=1,
        description="Uploads above this are refused by their Content-Length, before a byte is stored "
        "(the gateway has its own, lower limit).",
    )
    frontend_max_files: int = Field(
        MAX_FILES,
        ge=1,
        description='Files in one upload request: the most "Several photos" takes at once (Gradio sends '
        "them all in one request; each still stops at FRONTEND_MAX_FILE_MB).",
    )
    frontend_max_upload_mb: int = Field(
        100,
        ge=1,
        description="All files of one upload request together, refused by its Content-Length before a "
        "byte is stored (never less than FRONTEND_MAX_FILE_MB: one file of that size always fits).",
    )
    frontend_cache_seconds: int = Field(
        900,
        ge=1,
        description="Uploaded and shown files are deleted this long after they were written (checked "
        "every tenth of it, at least every 60 s).",
    )
    frontend_work_dir: Path | None = Field(
        None,
        description="Where `python -m frontend` keeps uploaded and shown files, in a fresh folder per "
        "process (default: the system's temp folder, TMPDIR).",
    )
    frontend_concurrency: int = Field(
        16, ge=1, description="Events served at once; handlers only wait on the gateway, so this can be high."
    )
    session_max_minutes: int = Field(
        60,
        ge=1,
        description="A page session ends with its gateway token, and at the latest this long after sign-in.",
    )
    max_sessions: int = Field(
        10_000, ge=1, description="Signed-in sessions kept at once; beyond, the oldest is ended."
    )
    redis_url: str | None = Field(
        None,
        description="`redis://host:6379/0` (the gateway's setting of the same name): page sessions are "
        "kept there, so every page process serves them and a restart keeps them. Unset: in this process. "
        "Set but unreachable: signing in says it is unavailable, and nobody is taken for signed in.",
    )
    session_redis_prefix: str = Field(
        "page:sessions:",
        description="Key prefix of page sessions in Redis (each key: it + the SHA-256 of a cookie).",
    )
    session_cookie_secure: bool = Field(
        False, description="Mark the session cookie Secure (set it when the page is served over HTTPS)."
    )

    unsure_below: float = Field(
        UNSURE_BELOW, ge=0, le=1, description="Top-1 score below which the page says it is not sure."
    )

    demo_login_hint: bool | None = Field(
        None,
        description="Show the demo login (contracts/demo.py) on the sign-in page. By default only "
        "when GATEWAY_URL is on this machine: the gateway accepts the demo password only while it binds "
        "loopback.",
    )

    def show_demo_login(self) -> bool:
        if self.demo_login_hint is not None:
            return self.demo_login_hint
        return is_loopback_url(self.gateway_url)

    def max_file_bytes(self) -> int:
        return self.frontend_max_file_mb * 1024 * 1024

    def max_upload_bytes(self) -> int:
        return max(self.frontend_max_upload_mb, self.frontend_max_file_mb) * 1024 * 1024


@lru_cache
def get_settings() -> Settings:
    return Settings()
