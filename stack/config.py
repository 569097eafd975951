"""Settings of `make run`, `make serve` and `make gateway`, from environment variables (the Makefile passes
its variables through)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import ports
from stack.procs import LOCAL


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", env_ignore_empty=True)

    model: str = Field("resnet50", alias="MODEL")
    resnet50_weights: Path | None = Field(None, alias="RESNET50_WEIGHTS")
    retry_export: bool = Field(False, alias="RETRY_RESNET50")
    fallback_model: str = Field("efficientnet-lite0", alias="FALLBACK_MODEL")
    models_dir: Path = Field(Path("models"), alias="MODELS_DIR")
    replicas: int = Field(1, alias="REPLICAS", ge=1, le=16)
    serving_port: int = Field(ports.SERVING_GRPC, alias="SERVING_PORT")
    serving_rest_port: int = Field(ports.SERVING_REST, alias="SERVING_REST_PORT")
    gateway_port: int = Field(ports.GATEWAY, alias="GATEWAY_PORT")
    frontend_port: int = Field(ports.FRONTEND, alias="GRADIO_SERVER_PORT")
    bind: str = Field(LOCAL, validation_alias=AliasChoices("BIND", "STACK_HOST"))
    var_dir: Path = Field(Path("var"), alias="VAR_DIR")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    runtime: str | None = Field(None, alias="RUNTIME")
    precision: str | None = Field(None, alias="PRECISION")
    ready_timeout: float = Field(300, alias="READY_TIMEOUT")
    canary_percent: float | None = Field(None, alias="CANARY_PERCENT", ge=0, le=100)
    """Set: the replicas serve versions by label (stable, and canary once `make canary` names one) and the
    gateway sends this share of users to the canary. Unset: the newest version serves everyone."""

    @property
    def host(self) -> str:
        """Where this machine reaches the services (the bind address, or loopback for a wildcard one)."""
        return LOCAL if self.bind in ("0.0.0.0", "", "::") else self.bind

    @property
    def serving_runtime(self) -> str:
        """`auto` (the fastest runtime that passes the accuracy gate) unless RUNTIME says otherwise;
        PRECISION alone means OpenVINO at that precision."""
        if self.runtime:
            return self.runtime
        return "openvino" if self.precision else "auto"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def state_file(self) -> Path:
        return self.var_dir / "run" / "stack.json"

    @property
    def model_config_file(self) -> Path:
        """The model config `make run`'s replicas poll; `make canary/promote/rollback` rewrite it."""
        return self.var_dir / "run" / "models.config"

    @property
    def fallback_marker(self) -> Path:
        """Present while `model` could not be exported and `fallback_model` is served instead."""
        return self.var_dir / "model-fallback.json"

    def replica_ports(self) -> list[tuple[int, int]]:
        """(gRPC, REST) per replica: 8500/8501, 8510/8511, … as in the serving contract."""
        return ports.replica_ports(self.replicas, self.serving_port, self.serving_rest_port)
