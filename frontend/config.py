"""Frontend settings, read once from the environment (the port is Gradio's own GRADIO_SERVER_PORT)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.labels import LABELS_FILE
from contracts.net import is_loopback_url

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    gateway_url: str = Field("http://127.0.0.1:8000", description="Base URL of the gateway (HTTP only).")
    gateway_timeout: float = Field(60.0, gt=0, description="Seconds to wait for one gateway answer.")
    labels_file: Path = Field(
        REPO_ROOT / "contracts" / LABELS_FILE,
        description="ImageNet class names, one per line; if absent, the right label is typed freely.",
    )
    frontend_max_file_mb: int = Field(
        50, ge=1, description="Uploads above this never reach the gateway (which has its own, lower limit)."
    )
    frontend_concurrency: int = Field(
        16, ge=1, description="Events served at once; handlers only wait on the gateway, so this can be high."
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


@lru_cache
def get_settings() -> Settings:
    return Settings()
