"""`python -m serving.rollout`: move a model's `stable` and `canary` labels in a model config file, in the
steps TF Serving's rules allow (serving/manager.py), for servers that poll that file
(`--model_config_file_poll_wait_seconds`) or are told to reload (`--reload host:port`).

    python -m serving.rollout --config var/run/models.config --model efficientnet-lite0 show
    … canary 2      # serve version 2 beside stable; once it has loaded everywhere, label it canary
    … promote       # stable := the canary's version; canary gone; the old stable version unloads
    … rollback      # canary gone; its version unloads; stable untouched

A label may point only at a loaded version, so `canary` first adds the version to the policy (stable keeps
answering), waits until every `--server` reports it AVAILABLE, and only then writes the label. Each write
replaces the file in one rename. What the gateway sends to which label is its own setting
(gateway/README.md: STABLE_LABEL, CANARY_LABEL, CANARY_PERCENT).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
from google.protobuf import text_format
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from contracts.versions import CANARY, STABLE
from model_repository.publish import write_text
from serving.config import read_model_server_config

HEADER = "# written by `python -m serving.rollout` (make canary / promote / rollback)\n"


class RolloutError(RuntimeError):
    pass


def _model(
    config: model_server_config_pb2.ModelServerConfig, name: str
) -> model_server_config_pb2.ModelConfig:
    for model in config.model_config_list.config:
        if model.name == name:
            return model
    raise RolloutError(f"the config has no model {name!r}")


def _serve(
    model: model_server_config_pb2.ModelConfig, versions: Sequence[int], labels: dict[str, int]
) -> None:
    model.model_version_policy.Clear()
    model.model_version_policy.specific.versions.extend(sorted(set(versions)))
    model.ClearField("version_labels")
    for label, version in labels.items():
        model.version_labels[label] = version


def available_versions(server: str, model: str) -> set[int]:
    try:
        with urllib.request.urlopen(f"{server}/v1/models/{model}", timeout=5) as response:
            statuses = json.load(response).get("model_version_status", [])
    except (urllib.error.URLError, OSError, ValueError):
        return set()
    return {int(s["version"]) for s in statuses if s.get("state") == "AVAILABLE"}


class Rollout:
    def __init__(
        self,
        config_path: Path,
        model: str,
        servers: Sequence[str],
        reload_targets: Sequence[str],
        say: Callable[[str], None] = print,
        timeout: float = 900,
    ) -> None:
        self.path, self.model, self.servers, self.reload_targets = config_path, model, servers, reload_targets
        self.say, self.timeout = say, timeout

    def read(self) -> model_server_config_pb2.ModelServerConfig:
        return read_model_server_config(self.path)

    def write(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        write_text(self.path, HEADER + text_format.MessageToString(config))
        for target in self.reload_targets:
            request = model_management_pb2.ReloadConfigRequest()
            request.config.CopyFrom(config)
            with grpc.insecure_channel(target) as channel:
                try:
                    model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
                        request, timeout=600
                    )
                except grpc.RpcError as error:
                    raise RolloutError(f"{target} refused the config: {error.details()}") from error

    def labels(self) -> dict[str, int]:
        return dict(_model(self.read(), self.model).version_labels)

    def wait_available(self, version: int) -> None:
        deadline = time.monotonic() + self.timeout
        for server in self.servers:
            while version not in available_versions(server, self.model):
                if time.monotonic() > deadline:
                    raise RolloutError(
                        f"version {version} is not AVAILABLE on {server} after {self.timeout:.0f}s"
                    )
                time.sleep(1)
        self.say(f"version {version} is AVAILABLE on {len(self.servers) or 'no'} server(s)")

    def stable_version(self) -> int:
        labels = self.labels()
        if STABLE in labels:
            return labels[STABLE]
        found = (
            set.intersection(*(available_versions(s, self.model) for s in self.servers))
            if self.servers
            else set()
        )
        if not found:
            raise RolloutError(
                "no stable label yet and no --server reports a version: name one with --stable"
            )
        return max(found)

    def canary(self, version: int, stable: int | None = None) -> None:
        config = self.read()
        model = _model(config, self.model)
        stable = stable if stable is not None else self.stable_version()
        if version == stable:
            raise RolloutError(f"version {version} is the stable version already")
        _serve(model, [stable, version], {STABLE: stable})
        self.write(config)
        self.say(f"serving versions {stable} (stable) and {version}; waiting for {version} to load …")
        self.wait_available(version)
        _serve(model, [stable, version], {STABLE: stable, CANARY: version})
        self.write(config)
        self.say(f"canary -> {version}, stable -> {stable}")

    def promote(self) -> None:
        config = self.read()
        model = _model(config, self.model)
        labels = dict(model.version_labels)
        if CANARY not in labels:
            raise RolloutError("there is no canary to promote")
        version = labels[CANARY]
        _serve(model, [version], {STABLE: version})
        self.write(config)
        self.say(f"stable -> {version}; version {labels.get(STABLE)} unloads once its requests are done")

    def rollback(self) -> None:
        config = self.read()
        model = _model(config, self.model)
        labels = dict(model.version_labels)
        if CANARY not in labels or STABLE not in labels:
            raise RolloutError("there is no canary, or no stable version to go back to")
        stable = int(labels[STABLE])
        _serve(model, [stable], {STABLE: stable})
        self.write(config)
        self.say(f"canary gone; version {labels[CANARY]} unloads; stable stays {stable}")

    def show(self) -> None:
        model = _model(self.read(), self.model)
        policy = text_format.MessageToString(model.model_version_policy, as_one_line=True)
        labels = ", ".join(f"{k} -> {v}" for k, v in sorted(model.version_labels.items())) or "none"
        self.say(f"{self.model}: policy {{ {policy} }}; labels {labels}")
        for server in self.servers:
            self.say(f"  {server}: AVAILABLE {sorted(available_versions(server, self.model))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.rollout", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="the model config file the servers read")
    parser.add_argument("--model", required=True)
    parser.add_argument("--server", action="append", default=[], help="a server's REST URL to wait on")
    parser.add_argument("--reload", action="append", default=[], help="a server's gRPC host:port to reload")
    commands = parser.add_subparsers(dest="command", required=True)
    canary = commands.add_parser("canary", help="serve VERSION beside stable, then label it canary")
    canary.add_argument("version", type=int)
    canary.add_argument("--stable", type=int, help="the stable version, when the config has no stable label")
    commands.add_parser("promote", help="stable := canary")
    commands.add_parser("rollback", help="drop the canary")
    commands.add_parser("show", help="the policy, the labels and what each server has loaded")
    args = parser.parse_args(argv)
    rollout = Rollout(args.config, args.model, args.server, args.reload)
    return perform(rollout, args.command, getattr(args, "version", None), getattr(args, "stable", None))


def perform(rollout: Rollout, command: str, version: int | None = None, stable: int | None = None) -> int:
    """One command (canary VERSION, promote, rollback, show); 1 with the reason on stderr when refused."""
    try:
        if command == "canary":
            assert version is not None
            rollout.canary(version, stable)
        elif command == "promote":
            rollout.promote()
        elif command == "rollback":
            rollout.rollback()
        else:
            rollout.show()
    except RolloutError as error:
        print(f"rollout: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
