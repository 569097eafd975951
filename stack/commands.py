"""The command line and environment of each service, built in one place for `make run`, `make serve`,
`make gateway`, the load tests and the test fixtures. Bind addresses are always passed explicitly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stack.procs import LOCAL, PYTHON, REPO_ROOT

SERVING_DIR = REPO_ROOT / "serving"
BATCHING_CONFIG = SERVING_DIR / "batching.config"
MONITORING_CONFIG = SERVING_DIR / "monitoring.config"


@dataclass(frozen=True)
class Command:
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)


def serving_command(
    grpc_port: int,
    rest_port: int,
    *,
    model_name: str | None = None,
    base_path: Path | None = None,
    model_config_file: Path | None = None,
    host: str = LOCAL,
    batching: bool = True,
    batching_config: Path = BATCHING_CONFIG,
    monitoring_config: Path | None = MONITORING_CONFIG,
    poll_seconds: float | None = None,
    config_poll_seconds: float | None = None,
    runtime: str | None = None,
    precision: str | None = None,
    extra_args: Sequence[str] = (),
) -> Command:
    """`python -m serving` for one model (`model_name` + `base_path`) or a model config file.
    Later flags in `extra_args` override earlier ones."""
    if (model_config_file is None) == (base_path is None):
        raise ValueError("give either base_path (with model_name) or model_config_file")
    args = [PYTHON, "-m", "serving", f"--port={grpc_port}", f"--rest_api_port={rest_port}"]
    args += [f"--grpc_bind_address={host}", f"--rest_api_bind_address={host}"]
    if model_config_file is not None:
        args.append(f"--model_config_file={model_config_file}")
    else:
        args += [f"--model_name={model_name or Path(str(base_path)).name}", f"--model_base_path={base_path}"]
    if monitoring_config is not None:
        args.append(f"--monitoring_config_file={monitoring_config}")
    if poll_seconds is not None:
        args.append(f"--file_system_poll_wait_seconds={poll_seconds:g}")
    if config_poll_seconds is not None:
        args.append(f"--model_config_file_poll_wait_seconds={config_poll_seconds:g}")
    if batching:
        args += ["--enable_batching", f"--batching_parameters_file={batching_config}"]
    if runtime:
        args.append(f"--runtime={runtime}")
    if precision:
        args.append(f"--precision={precision}")
    return Command([*args, *extra_args])


def gateway_command(
    port: int,
    *,
    serving_target: str | None = None,
    model_name: str | None = None,
    host: str = LOCAL,
    database_url: str | None = None,
    upload_dir: Path | None = None,
    secret_key: str | None = None,
    proxy_secret: str | None = None,
    workers: int = 1,
    quiet: bool = False,
    env: dict[str, str] | None = None,
) -> Command:
    """`python -m gateway` (uvicorn with boundedhttp's bounds); settings left None come from the environment
    (or the gateway's defaults). `quiet`: warnings only (the gateway logs every request at INFO)."""
    settings = {
        "GATEWAY_HOST": host,
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": str(workers),
        "LOG_LEVEL": "WARNING" if quiet else None,
        "SERVING_TARGET": serving_target,
        "MODEL_NAME": model_name,
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": None if upload_dir is None else str(upload_dir),
        "SECRET_KEY": secret_key,
        "PROXY_SECRET": proxy_secret,
    }
    given = {name: value for name, value in settings.items() if value is not None}
    return Command([PYTHON, "-m", "gateway"], given | (env or {}))


def frontend_command(
    port: int,
    *,
    gateway_url: str,
    host: str = LOCAL,
    proxy_secret: str | None = None,
    env: dict[str, str] | None = None,
) -> Command:
    """`python -m frontend` (Gradio) talking to the gateway at `gateway_url`; with `proxy_secret` (the
    gateway's PROXY_SECRET) it may tell the gateway each browser's address."""
    settings = {
        "GATEWAY_URL": gateway_url,
        "GRADIO_SERVER_NAME": host,
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    if proxy_secret is not None:
        settings["PROXY_SECRET"] = proxy_secret
    return Command([PYTHON, "-m", "frontend"], settings | (env or {}))
