"""The command-line builders, read back by the server's own flag parser where there is one."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.config import read_model_server_config
from serving.flags import Flags, parse_flags
from stack.commands import (
    BATCHING_CONFIG,
    MONITORING_CONFIG,
    frontend_command,
    gateway_command,
    serving_command,
)
from stack.config import StackSettings
from stack.foreground import serve_command
from stack.model_config import model_config_text
from stack.procs import PYTHON


def serving_flags(args: list[str]) -> Flags:
    assert args[:3] == [PYTHON, "-m", "serving"]
    return parse_flags(args[3:])


def test_serving_binds_loopback_explicitly_by_default(tmp_path: Path) -> None:
    command = serving_command(9500, 9501, model_name="tiny", base_path=tmp_path / "tiny")
    flags = serving_flags(command.args)
    assert (flags.port, flags.rest_api_port) == (9500, 9501)
    assert (flags.grpc_bind_address, flags.rest_api_bind_address) == ("127.0.0.1", "127.0.0.1")
    assert "--grpc_bind_address=127.0.0.1" in command.args  # not left to the server's default
    assert (flags.model_name, flags.model_base_path) == ("tiny", str(tmp_path / "tiny"))
    assert flags.enable_batching
    assert flags.batching_parameters_file == BATCHING_CONFIG
    assert flags.monitoring_config_file == MONITORING_CONFIG
    assert flags.runtime == "tensorflow"


def test_serving_options(tmp_path: Path) -> None:
    command = serving_command(
        1,
        2,
        base_path=tmp_path / "efficientnet-lite0",
        host="0.0.0.0",
        batching=False,
        monitoring_config=None,
        poll_seconds=1,
        runtime="openvino",
        precision="int8",
        extra_args=["--port=3"],
    )
    flags = serving_flags(command.args)
    assert flags.model_name == "efficientnet-lite0"  # the folder's name when none is given
    assert flags.grpc_bind_address == flags.rest_api_bind_address == "0.0.0.0"
    assert not flags.enable_batching
    assert flags.monitoring_config_file is None
    assert flags.file_system_poll_wait_seconds == 1
    assert (flags.runtime, flags.precision) == ("openvino", "int8")
    assert flags.port == 3  # later flags win


def test_serving_needs_exactly_one_model_source(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="either"):
        serving_command(1, 2)
    with pytest.raises(ValueError, match="either"):
        serving_command(1, 2, base_path=tmp_path, model_config_file=tmp_path / "models.config")


def test_gateway_passes_only_the_settings_given() -> None:
    command = gateway_command(8123, serving_target="127.0.0.1:9500", model_name="tiny", workers=2, quiet=True)
    assert command.args == [PYTHON, "-m", "gateway"]
    bind = {"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": "8123", "GATEWAY_WORKERS": "2"}
    assert command.env == bind | {
        "LOG_LEVEL": "WARNING",
        "SERVING_TARGET": "127.0.0.1:9500",
        "MODEL_NAME": "tiny",
    }
    assert gateway_command(1, env={"MAX_UPLOAD_BYTES": "5"}).env == {
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": "1",
        "GATEWAY_WORKERS": "1",
        "MAX_UPLOAD_BYTES": "5",
    }


def test_gateway_and_page_share_the_proxy_secret_they_are_given() -> None:
    assert gateway_command(1, proxy_secret="s3").env["PROXY_SECRET"] == "s3"
    assert frontend_command(2, gateway_url="http://x", proxy_secret="s3").env["PROXY_SECRET"] == "s3"
    assert "PROXY_SECRET" not in gateway_command(1).env
    assert "PROXY_SECRET" not in frontend_command(2, gateway_url="http://x").env


def test_frontend_is_told_where_the_gateway_is() -> None:
    command = frontend_command(7001, gateway_url="http://127.0.0.1:8001")
    assert command.args == [PYTHON, "-m", "frontend"]
    assert command.env["GATEWAY_URL"] == "http://127.0.0.1:8001"
    assert (command.env["GRADIO_SERVER_NAME"], command.env["GRADIO_SERVER_PORT"]) == ("127.0.0.1", "7001")


def make_version(base: Path, version: int = 1) -> None:
    (base / str(version)).mkdir(parents=True)
    (base / str(version) / "saved_model.pb").write_bytes(b"graph")


def test_make_serve_serves_every_model_present(tmp_path: Path) -> None:
    models = tmp_path / "models"
    make_version(models / "efficientnet-lite0")
    make_version(models / "tiny", 3)
    (models / "resnet50").mkdir()  # a failed download leaves nothing servable
    settings = StackSettings(MODELS_DIR=models, VAR_DIR=tmp_path / "var")
    flags = serving_flags(serve_command(settings).args)
    assert flags.grpc_bind_address == flags.rest_api_bind_address == "127.0.0.1"
    assert flags.model_config_file is not None
    config = read_model_server_config(flags.model_config_file)
    served = {c.name: c.base_path for c in config.model_config_list.config}
    assert served == {
        "efficientnet-lite0": str((models / "efficientnet-lite0").resolve()),
        "tiny": str((models / "tiny").resolve()),
    }


def test_make_serve_with_no_model_says_how_to_get_one(tmp_path: Path) -> None:
    settings = StackSettings(MODELS_DIR=tmp_path / "models", VAR_DIR=tmp_path / "var")
    with pytest.raises(SystemExit, match=r"no exported model in .*make run"):
        serve_command(settings)


def test_model_config_text_is_tf_serving_text_format(tmp_path: Path) -> None:
    path = tmp_path / "models.config"
    path.write_text(model_config_text({"a": Path("/m/a"), "b": Path("/m/b")}, "# test\n"))
    config = read_model_server_config(path)
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [("a", "/m/a"), ("b", "/m/b")]
    assert all(c.model_version_policy.latest.num_versions == 1 for c in config.model_config_list.config)
