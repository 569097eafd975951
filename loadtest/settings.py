"""What the Locust scenarios read from the environment (`loadtest.run` sets these for the stack it starts)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import demo

# The tags of each user class's tasks: `loadtest.run` picks the classes that still have a task after
# `--tags` filtering (Locust refuses to start a class with none). tests/loadtest checks it against the file.
USER_CLASS_TAGS: dict[str, frozenset[str]] = {
    "APIUser": frozenset({"gateway", "predict", "uncached", "cached", "feedback"}),
    "ServingRESTUser": frozenset({"serving"}),
}
DEFAULT_TAGS = ("uncached", "cached", "feedback")


class LoadtestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOADTEST_", extra="ignore")

    gateway_url: str = "http://127.0.0.1:8000"
    serving_url: str = "http://127.0.0.1:8501"
    model_name: str = "resnet50"
    email: str = demo.ADMIN_EMAIL
    password: str = demo.ADMIN_PASSWORD
    # Think time between a user's requests, in seconds; the original project's load test used 1-5 s.
    wait_min: float = Field(1.0, ge=0)
    wait_max: float = Field(5.0, ge=0)
    # Pictures of the cached path: few enough that every one is asked for again and again.
    cached_pool: int = Field(8, ge=1)
    nonce: int | None = None


def users_for_tags(tags: set[str]) -> list[str]:
    """The user classes that keep at least one task when only `tags` run."""
    return [name for name, class_tags in USER_CLASS_TAGS.items() if class_tags & tags]
