"""`make canary VERSION=n`, `make promote`, `make rollback`, `make rollout`: move the `stable` and `canary`
labels of the model `make run` serves, in the model config file its replicas poll, waiting on each replica's
REST port (serving.rollout holds the rules; this only knows where `make run` keeps things)."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # serving.rollout imports TensorFlow's protos: no C++ log

from serving.rollout import Rollout, perform
from stack.config import StackSettings
from stack.model import served_model
from stack.run import read_state, serving_rest_urls


def rollout_for(settings: StackSettings) -> Rollout:
    """The replicas of the running `make run` (its state file names them), else those REPLICAS gives."""
    servers = read_state(settings).get("serving_rest") or serving_rest_urls(settings)
    return Rollout(settings.model_config_file, served_model(settings), servers, reload_targets=[])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.rollout", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("canary", help="serve VERSION beside stable, then label it canary").add_argument(
        "version", type=int
    )
    commands.add_parser("promote", help="stable := canary")
    commands.add_parser("rollback", help="drop the canary")
    commands.add_parser("show", help="the policy, the labels and what each replica has loaded")
    args = parser.parse_args(argv)
    settings = StackSettings()
    if not settings.model_config_file.exists():
        print(
            f"rollout: error: {settings.model_config_file} does not exist: start `make run` first",
            file=sys.stderr,
        )
        return 1
    if args.command != "show" and read_state(settings).get("canary_percent") is None:
        print(
            "rollout: error: the running `make run` routes no users by label: start it with "
            "CANARY_PERCENT=<share of users for the canary>, e.g. CANARY_PERCENT=10 make run",
            file=sys.stderr,
        )
        return 1
    return perform(rollout_for(settings), args.command, getattr(args, "version", None))


if __name__ == "__main__":
    sys.exit(main())
