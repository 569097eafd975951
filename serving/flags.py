"""The command line of `tensorflow_model_server`, as far as it applies to the embedded server.

Both `--flag=value` and `--flag value` work (argparse), and booleans accept `--flag`, `--flag=true`
and `--flag=false` like TF Serving's flag parser. Flags of the real server that mean nothing here
are accepted with a warning, so a deploy command line runs unchanged.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from serving.limits import Limits, help_text
from serving.precisions import AUTO_CANDIDATES, PRECISIONS, RUNTIMES

log = logging.getLogger(__name__)

# A connection (and any call that never sent its message) lives at most a minute plus 30 s to finish; a
# client then reconnects, re-resolving its target, as deploy/ sets for TF Serving too.
DEFAULT_GRPC_ARGUMENTS: tuple[tuple[str, int | str], ...] = (
    ("grpc.max_connection_age_ms", 60_000),
    ("grpc.max_connection_age_grace_ms", 30_000),
)
_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def _bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


@dataclass(frozen=True)
class Flags:
    port: int
    rest_api_port: int
    grpc_bind_address: str
    rest_api_bind_address: str
    model_config_file: Path | None
    model_config_file_poll_wait_seconds: float
    allow_version_labels_for_unavailable_models: bool
    rest_api_timeout_in_ms: int
    grpc_channel_arguments: tuple[tuple[str, int | str], ...]
    model_name: str
    model_base_path: str | None
    enable_batching: bool
    batching_parameters_file: Path | None
    monitoring_config_file: Path | None
    file_system_poll_wait_seconds: float
    tensorflow_intra_op_parallelism: int
    tensorflow_inter_op_parallelism: int
    models_dir: Path | None
    runtime: str
    precision: str
    auto_candidates: str
    limits: Limits
    ignored: tuple[str, ...]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each default, except where there is none (the help text then says what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        allow_abbrev=False,
        description="Embedded TF-Serving-compatible model server (gRPC + REST, server-side batching).",
        formatter_class=_HelpFormatter,
    )
    add = parser.add_argument
    add("--port", type=int, default=8500, help="gRPC port (0 = pick a free one)")
    add("--rest_api_port", type=int, default=0, help="REST port; 0 disables REST, as in TF Serving")
    add(
        "--grpc_bind_address",
        default="127.0.0.1",
        help="address the gRPC port listens on (TF Serving's default is 0.0.0.0: pass it to be reachable "
        "from other machines)",
    )
    add(
        "--rest_api_bind_address",
        default="127.0.0.1",
        help="address the REST port listens on (0.0.0.0: every interface)",
    )
    add("--model_config_file", type=Path, default=None, help="ModelServerConfig in text format")
    add(
        "--model_config_file_poll_wait_seconds",
        type=float,
        default=0,
        help="seconds between reads of --model_config_file, each change applied as a reload (0: read once)",
    )
    add(
        "--allow_version_labels_for_unavailable_models",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        help="let a new version label point at a version that has not loaded yet (a label that points at "
        "a version already still moves only to an available one)",
    )
    add(
        "--rest_api_timeout_in_ms",
        type=int,
        default=30000,
        help="a REST request's body must arrive, and its answer be ready, within this time",
    )
    add(
        "--grpc_channel_arguments",
        default="",
        help="gRPC server arguments, `key=value,...` (embedded server default: "
        f"{','.join(f'{k}={v}' for k, v in DEFAULT_GRPC_ARGUMENTS)}: every connection, and any call left "
        "idle on it, ends after that age)",
    )
    add("--model_name", default="default", help="name of the single model (without --model_config_file)")
    add("--model_base_path", default=None, help="folder of the single model's version folders")
    add(
        "--enable_batching",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        help="batch concurrent requests on the server (with --batching_parameters_file, or TF Serving's "
        "default parameters)",
    )
    add("--batching_parameters_file", type=Path, default=None, help="BatchingParameters in text format")
    add("--monitoring_config_file", type=Path, default=None, help="MonitoringConfig in text format")
    add("--file_system_poll_wait_seconds", type=float, default=1.0, help="seconds between version polls")
    add("--tensorflow_intra_op_parallelism", type=int, default=0, help="0 = TensorFlow's default")
    add("--tensorflow_inter_op_parallelism", type=int, default=0, help="0 = TensorFlow's default")
    add(
        "--models_dir",
        type=Path,
        default=None,
        help="embedded server only: the local folder standing in for /models in base_path values "
        "(default: ./models when /models does not exist)",
    )
    add(
        "--runtime",
        choices=RUNTIMES,
        default="tensorflow",
        help="embedded server only: what runs the model (tensorflow is the reference); auto serves the "
        "fastest of --auto_candidates that passes the accuracy gate on this CPU",
    )
    add(
        "--auto_candidates",
        default=AUTO_CANDIDATES,
        help="embedded server only, with --runtime auto: what it may choose from (add openvino-int8 to "
        "consider int8); candidates this CPU cannot run natively are dropped",
    )
    add(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="embedded server only, with --runtime openvino: inference precision (default f32); "
        "a precision this CPU cannot run stops the server at start",
    )
    limits = parser.add_argument_group("request limits (embedded server only)")
    for field in fields(Limits):
        limits.add_argument(f"--{field.name}", type=int, default=field.default, help=help_text(field.name))
    return parser


def _channel_arguments(text: str) -> tuple[tuple[str, int | str], ...]:
    """TF Serving's `--grpc_channel_arguments`: `key=value` pairs, integers where they parse as one."""
    found: dict[str, int | str] = dict(DEFAULT_GRPC_ARGUMENTS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise argparse.ArgumentTypeError(f"--grpc_channel_arguments: {item!r} is not key=value")
        found[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else value.strip()
    return tuple(found.items())


def parse_flags(argv: Sequence[str]) -> Flags:
    parser = _parser()
    args, unknown = parser.parse_known_args(list(argv))
    for item in unknown:
        if item.startswith("-"):
            log.warning(
                "ignoring tensorflow_model_server flag %s (not applicable to the embedded server)", item
            )
    if args.model_config_file is None and args.model_base_path is None:
        parser.error("either --model_config_file or --model_base_path is required")
    if args.model_config_file is not None and args.model_base_path is not None:
        log.warning(
            "--model_config_file is given: --model_name/--model_base_path are ignored (as in TF Serving)"
        )
    if args.precision is not None and args.runtime == "auto":
        parser.error("--runtime auto chooses the precision: use --auto_candidates instead of --precision")
    if args.precision is not None and args.precision != "f32" and args.runtime != "openvino":
        parser.error(f"--precision {args.precision} needs --runtime openvino (tensorflow runs f32)")
    try:
        channel_arguments = _channel_arguments(args.grpc_channel_arguments)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    if args.rest_api_timeout_in_ms < 1:
        parser.error("--rest_api_timeout_in_ms must be at least 1")
    if args.file_system_poll_wait_seconds <= 0:
        # TF Serving polls once and never again for 0 or less; a version can still be loaded at start.
        log.warning("file_system_poll_wait_seconds <= 0: versions are loaded once at start, never polled")
    return Flags(
        port=args.port,
        rest_api_port=args.rest_api_port,
        grpc_bind_address=args.grpc_bind_address,
        rest_api_bind_address=args.rest_api_bind_address,
        model_config_file=args.model_config_file,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
        grpc_channel_arguments=channel_arguments,
        model_name=args.model_name,
        model_base_path=args.model_base_path,
        enable_batching=args.enable_batching,
        batching_parameters_file=args.batching_parameters_file,
        monitoring_config_file=args.monitoring_config_file,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        tensorflow_intra_op_parallelism=args.tensorflow_intra_op_parallelism,
        tensorflow_inter_op_parallelism=args.tensorflow_inter_op_parallelism,
        models_dir=args.models_dir,
        runtime=args.runtime,
        precision=args.precision or "f32",
        auto_candidates=args.auto_candidates,
        limits=_limits(parser, args),
        ignored=tuple(unknown),
    )


def _limits(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Limits:
    try:
        return Limits(**{field.name: getattr(args, field.name) for field in fields(Limits)})
    except ValueError as error:
        parser.error(str(error))
