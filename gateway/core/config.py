"""Every gateway setting, read from environment variables (or a `.env` file) by pydantic-settings."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, computed_field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET_KEY = "local-demo-only-change-me-0f8e1c2b7a9d4e6f"
log = logging.getLogger("gateway")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

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
    result_cache_entries: Annotated[int, Field(ge=0)] = 10_000
    """Prediction results kept in memory per worker, in front of the database's cache query (0: off)."""

    upload_dir: Path = Path("var/uploads")
    max_upload_bytes: Annotated[int, Field(ge=1)] = 10 * 1024 * 1024
    max_image_pixels: Annotated[int, Field(ge=1)] = 50_000_000
    """Larger images are refused as decompression bombs."""

    secret_key: str = DEMO_SECRET_KEY
    access_token_expire_minutes: Annotated[int, Field(ge=1)] = 60
    admin_email: str = "admin@example.com"
    admin_password: str = "admin"
    admin_name: str = "Admin"

    log_level: str = "INFO"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def serving_replicas(self) -> list[str]:
        return [part.strip() for part in self.serving_target.split(",") if part.strip()]

    def warn_if_insecure(self) -> None:
        if self.secret_key == DEMO_SECRET_KEY:
            log.warning(
                "SECRET_KEY is the built-in demo key: tokens can be forged. "
                "Set SECRET_KEY for anything but a local demo."
            )


@lru_cache
def get_settings() -> Settings:
    return Settings()
