"""Settings of `make run`, from environment variables (the Makefile passes its variables through)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    model: str = Field("resnet50", alias="MODEL")
    resnet50_weights: Path | None = Field(None, alias="RESNET50_WEIGHTS")
    fallback_model: str = Field("efficientnet-lite0", alias="FALLBACK_MODEL")
    models_dir: Path = Field(Path("models"), alias="MODELS_DIR")
    replicas: int = Field(1, alias="REPLICAS", ge=1, le=16)
    serving_port: int = Field(8500, alias="SERVING_PORT")
    serving_rest_port: int = Field(8501, alias="SERVING_REST_PORT")
    gateway_port: int = Field(8000, alias="GATEWAY_PORT")
    frontend_port: int = Field(7860, alias="GRADIO_SERVER_PORT")
    host: str = Field("127.0.0.1", alias="STACK_HOST")
    var_dir: Path = Field(Path("var"), alias="VAR_DIR")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    ready_timeout: float = Field(300, alias="READY_TIMEOUT")

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def state_file(self) -> Path:
        return self.var_dir / "run" / "stack.json"

    def replica_ports(self) -> list[tuple[int, int]]:
        """(gRPC, REST) per replica: 8500/8501, 8510/8511, … as in the serving contract."""
        return [(self.serving_port + 10 * i, self.serving_rest_port + 10 * i) for i in range(self.replicas)]
