"""`make serve` and `make gateway`: one service in the foreground, built like `make run` builds it."""

from __future__ import annotations

import os

import model_repository
from stack.commands import Command, gateway_command, serving_command
from stack.config import StackSettings
from stack.model import served_model
from stack.model_config import model_config_text
from stack.progress import say


def serve_command(settings: StackSettings) -> Command:
    """Every model in MODELS_DIR that has a version, from a model config written under var/run/."""
    present = model_repository.models(settings.models_dir)
    if not present:
        raise SystemExit(
            f"error: no exported model in {settings.models_dir}/ (a folder <name>/<version>/saved_model.pb): "
            "`make run` exports one, or `make export MODEL=efficientnet-lite0`"
        )
    config = settings.model_config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    header = "# written by `make serve` from the models present (see serving/models.config)\n"
    config.write_text(model_config_text({name: base.resolve() for name, base in present.items()}, header))
    command = serving_command(
        settings.serving_port,
        settings.serving_rest_port,
        model_config_file=config,
        host=settings.bind,
        runtime=settings.serving_runtime,
        precision=settings.precision,
    )
    rest = f"http://{settings.host}:{settings.serving_rest_port}/v1/models/<name>"
    say(
        f"serving {', '.join(present)} from {settings.models_dir}/: gRPC {settings.bind}:"
        f"{settings.serving_port}, REST {rest} (BIND=0.0.0.0 opens it up)"
    )
    return command


def gateway_foreground_command(settings: StackSettings) -> Command:
    """The gateway on GATEWAY_PORT; SERVING_TARGET, DATABASE_URL, … from the environment, MODEL_NAME
    defaulting to the model `make run` serves."""
    model = None if os.environ.get("MODEL_NAME") else served_model(settings)
    command = gateway_command(settings.gateway_port, host=settings.bind, model_name=model)
    say(f"gateway on http://{settings.host}:{settings.gateway_port}/docs (BIND=0.0.0.0 opens it up)")
    return command


def exec_command(command: Command) -> None:
    """Become the service, so Ctrl-C and signals reach it directly."""
    os.execve(command.args[0], command.args, {**os.environ, **command.env})
