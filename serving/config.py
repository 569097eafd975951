"""Read TF Serving's text-format config files with TF Serving's own messages."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from google.protobuf.message import Message
from tensorflow_serving.config import model_server_config_pb2

from serving.flags import Flags
from tfs_protos.config import BatchingParameters, MonitoringConfig

log = logging.getLogger(__name__)

MODELS_MOUNT = Path("/models")
DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


class ConfigError(ValueError):
    """A config file that real TF Serving would refuse too."""


@dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's defaults (BasicBatchScheduler / SharedBatchScheduler) where the file says nothing."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = 4
    allowed_batch_sizes: tuple[int, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class MonitoringOptions:
    prometheus_enabled: bool = False
    prometheus_path: str = DEFAULT_PROMETHEUS_PATH


def _parse_text(path: Path, message: Message) -> None:
    try:
        text_format.Parse(path.read_text(), message)
    except text_format.ParseError as error:
        raise ConfigError(f"{path}: {error}") from error


def read_model_server_config(path: Path) -> model_server_config_pb2.ModelServerConfig:
    config = model_server_config_pb2.ModelServerConfig()
    _parse_text(path, config)
    try:
        validate_model_config_list(config)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
    return config


def validate_model_config_list(config: model_server_config_pb2.ModelServerConfig) -> None:
    """What TF Serving checks before it applies a config (start-up, reload, poll)."""
    if not config.HasField("model_config_list"):
        raise ConfigError("only model_config_list is supported")
    names = [model.name for model in config.model_config_list.config]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"Illegal to list model {name} multiple times in config list")
    for model in config.model_config_list.config:
        if model.model_platform not in ("", "tensorflow"):
            raise ConfigError(f"model {model.name}: platform {model.model_platform!r} unsupported")


def single_model_config(name: str, base_path: str) -> model_server_config_pb2.ModelServerConfig:
    """What TF Serving builds from --model_name/--model_base_path."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = name
    model.base_path = base_path
    model.model_platform = "tensorflow"
    return config


def models_root(models_dir: Path | None) -> Path:
    """The local folder that stands for `/models` (the container mount that real TF Serving sees):
    --models_dir when given, else /models itself when it exists, else ./models."""
    if models_dir is not None:
        return models_dir.resolve()
    if MODELS_MOUNT.exists():
        return MODELS_MOUNT
    return Path.cwd() / "models"


def resolve_base_path(base_path: str, models_dir: Path | None) -> Path:
    """Map `/models/<x>` to `models_root(models_dir) / <x>`; other absolute paths stay, relative ones are
    taken from the working folder. TF Serving only accepts absolute base paths, so models.config says
    `/models/<name>`."""
    path = Path(base_path)
    if not path.is_absolute():
        return Path.cwd() / path
    try:
        relative = path.relative_to(MODELS_MOUNT)
    except ValueError:
        return path
    return models_root(models_dir) / relative


def read_batching_parameters(path: Path) -> BatchingOptions:
    message = BatchingParameters()
    _parse_text(path, message)
    defaults = BatchingOptions()

    def value(name: str, default: int) -> int:
        return getattr(message, name).value if message.HasField(name) else default

    options = BatchingOptions(
        max_batch_size=value("max_batch_size", defaults.max_batch_size),
        batch_timeout_micros=value("batch_timeout_micros", defaults.batch_timeout_micros),
        max_enqueued_batches=value("max_enqueued_batches", defaults.max_enqueued_batches),
        num_batch_threads=value("num_batch_threads", defaults.num_batch_threads),
        allowed_batch_sizes=tuple(message.allowed_batch_sizes),
    )
    validate_batching(options, path)
    return options


def validate_batching(options: BatchingOptions, source: Path | str = "batching parameters") -> None:
    """The checks TF Serving makes before it starts."""
    for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
        if getattr(options, name) < 1:
            raise ConfigError(f"{source}: {name} must be >= 1")
    if options.batch_timeout_micros < 0:
        raise ConfigError(f"{source}: batch_timeout_micros must be >= 0")
    sizes = options.allowed_batch_sizes
    if sizes:
        if list(sizes) != sorted(set(sizes)) or sizes[0] < 1:
            raise ConfigError(f"{source}: allowed_batch_sizes must be positive and increasing")
        if sizes[-1] != options.max_batch_size:
            raise ConfigError(f"{source}: the last allowed_batch_sizes entry must equal max_batch_size")


def read_monitoring_config(path: Path) -> MonitoringOptions:
    message = MonitoringConfig()
    _parse_text(path, message)
    prometheus = message.prometheus_config
    return MonitoringOptions(
        prometheus_enabled=prometheus.enable,
        prometheus_path=prometheus.path or DEFAULT_PROMETHEUS_PATH,
    )


@dataclass(frozen=True)
class ServerConfig:
    models: model_server_config_pb2.ModelServerConfig
    batching: BatchingOptions | None
    monitoring: MonitoringOptions


def load_server_config(flags: Flags) -> ServerConfig:
    if flags.model_config_file is not None:
        models = read_model_server_config(flags.model_config_file)
    else:
        assert flags.model_base_path is not None
        models = single_model_config(flags.model_name, flags.model_base_path)
    batching = None
    if flags.enable_batching:
        batching = (
            read_batching_parameters(flags.batching_parameters_file)
            if flags.batching_parameters_file is not None
            else BatchingOptions()
        )
    elif flags.batching_parameters_file is not None:
        log.warning("--batching_parameters_file is ignored without --enable_batching (as in TF Serving)")
    monitoring = (
        read_monitoring_config(flags.monitoring_config_file)
        if flags.monitoring_config_file is not None
        else MonitoringOptions()
    )
    return ServerConfig(models=models, batching=batching, monitoring=monitoring)
