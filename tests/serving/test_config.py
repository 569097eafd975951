"""The config files parse with TF Serving's own messages, and the command line reads like TF Serving's."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.config import (
    ConfigError,
    read_batching_parameters,
    read_model_server_config,
    read_monitoring_config,
    resolve_base_path,
)
from serving.flags import parse_flags
from serving.limits import Limits
from tests.serving_fixtures import BATCHING_CONFIG, MONITORING_CONFIG, SERVING_DIR
from tfs_protos.config import BatchingParameters, MonitoringConfig

MODELS_CONFIG = SERVING_DIR / "models.config"


def test_models_config_is_a_valid_model_server_config() -> None:
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(MODELS_CONFIG.read_text(), config)
    models = config.model_config_list.config
    assert [model.name for model in models] == ["resnet50"]
    # tensorflow_model_server refuses relative base paths
    assert all(Path(model.base_path).is_absolute() for model in models)
    assert models[0].base_path == "/models/resnet50"
    assert models[0].model_version_policy.latest.num_versions == 1


def test_batching_config_is_valid_batching_parameters() -> None:
    message = BatchingParameters()
    text_format.Parse(BATCHING_CONFIG.read_text(), message)
    assert message.max_batch_size.value >= 1
    assert message.num_batch_threads.value >= 1
    assert message.max_enqueued_batches.value >= 1
    sizes = list(message.allowed_batch_sizes)
    assert sizes == sorted(set(sizes))
    assert sizes[-1] == message.max_batch_size.value  # TF Serving's rule
    options = read_batching_parameters(BATCHING_CONFIG)
    assert options.max_batch_size == message.max_batch_size.value
    assert options.allowed_batch_sizes == tuple(sizes)


def test_monitoring_config_enables_prometheus() -> None:
    message = MonitoringConfig()
    text_format.Parse(MONITORING_CONFIG.read_text(), message)
    assert message.prometheus_config.enable
    assert read_monitoring_config(MONITORING_CONFIG).prometheus_path == "/monitoring/prometheus/metrics"


def test_the_declared_messages_keep_tf_servings_wire_format() -> None:
    message = BatchingParameters()
    message.max_batch_size.value = 4
    message.allowed_batch_sizes.extend([1, 4])
    # field 1 (Int64Value{value: 4}) then packed field 6 [1, 4]
    assert message.SerializeToString() == bytes([0x0A, 0x02, 0x08, 0x04, 0x32, 0x02, 0x01, 0x04])


@pytest.mark.parametrize(
    "text",
    [
        "max_batch_size { value: 4 }\nallowed_batch_sizes: 2\n",  # last allowed size != max_batch_size
        "max_batch_size { value: 4 }\nallowed_batch_sizes: 4\nallowed_batch_sizes: 2\n",
        "num_batch_threads { value: 0 }\n",
        "max_batch_size: 4\n",  # not the wrapper form: TF Serving refuses it too
        "no_such_field { value: 1 }\n",
    ],
)
def test_invalid_batching_files_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "batching.config"
    path.write_text(text)
    with pytest.raises(ConfigError):
        read_batching_parameters(path)


def test_duplicate_models_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "models.config"
    path.write_text(
        'model_config_list { config { name: "a" base_path: "/m/a" } config { name: "a" base_path: "/m/b" } }'
    )
    with pytest.raises(ConfigError, match="Illegal to list model a multiple times"):
        read_model_server_config(path)


def test_models_mount_maps_to_the_local_models_dir(tmp_path: Path) -> None:
    assert resolve_base_path("/models/resnet50", tmp_path) == tmp_path / "resnet50"
    assert resolve_base_path("/srv/elsewhere/resnet50", tmp_path) == Path("/srv/elsewhere/resnet50")


def test_flags_accept_both_forms_and_warn_about_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        flags = parse_flags(
            [
                "--port=9000",
                "--rest_api_port",
                "9001",
                "--model_config_file=serving/models.config",
                "--enable_batching=true",
                "--batching_parameters_file",
                "serving/batching.config",
                "--tensorflow_intra_op_parallelism=2",
                "--rest_api_timeout_in_ms=20000",
                "--enable_model_warmup=true",
                "--file_system_poll_wait_seconds",
                "5",
            ]
        )
    assert (flags.port, flags.rest_api_port) == (9000, 9001)
    assert flags.enable_batching is True
    assert flags.batching_parameters_file == Path("serving/batching.config")
    assert flags.tensorflow_intra_op_parallelism == 2
    assert flags.file_system_poll_wait_seconds == 5
    assert flags.rest_api_timeout_in_ms == 20000
    assert "enable_model_warmup" in caplog.text  # a flag of the real server that means nothing here
    assert parse_flags(["--model_base_path=/m/x", "--enable_batching"]).enable_batching is True
    assert parse_flags(["--model_base_path=/m/x", "--enable_batching=false"]).enable_batching is False
    with pytest.raises(SystemExit):
        parse_flags(["--port=1"])  # no model given


def test_both_ports_bind_loopback_unless_told_otherwise() -> None:
    flags = parse_flags(["--model_base_path=/m/x"])
    assert (flags.grpc_bind_address, flags.rest_api_bind_address) == ("127.0.0.1", "127.0.0.1")
    flags = parse_flags(
        ["--model_base_path=/m/x", "--grpc_bind_address=0.0.0.0", "--rest_api_bind_address=::"]
    )
    assert (flags.grpc_bind_address, flags.rest_api_bind_address) == ("0.0.0.0", "::")


def test_limits_have_defaults_and_flags() -> None:
    assert parse_flags(["--model_base_path=/m/x"]).limits == Limits()
    flags = parse_flags(["--model_base_path=/m/x", "--max_image_frames=5", "--max_request_bytes", "1024"])
    assert (flags.limits.max_image_frames, flags.limits.max_request_bytes) == (5, 1024)
    with pytest.raises(SystemExit):
        parse_flags(["--model_base_path=/m/x", "--max_image_pixels=0"])


def test_help_shows_defaults_and_explains_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_flags(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 8500)" in text
    assert "(default: 11534336)" in text  # --max_request_bytes
    for flag in ("--grpc_bind_address", "--rest_api_bind_address", "--enable_batching"):
        described = text.split(flag, 2)[-1][:200]  # the entry, after the usage line's mention
        assert "default:" in described, flag
    assert "address the gRPC port listens on" in text
    assert "batch concurrent requests" in text


def test_runtime_and_precision_flags() -> None:
    default = parse_flags(["--model_base_path=/m/x"])
    assert (default.runtime, default.precision) == ("tensorflow", "f32")
    flags = parse_flags(["--model_base_path=/m/x", "--runtime", "openvino", "--precision=int8"])
    assert (flags.runtime, flags.precision) == ("openvino", "int8")
    assert parse_flags(["--model_base_path=/m/x", "--runtime=openvino"]).precision == "f32"
    for wrong in (["--precision=int8"], ["--runtime=onnx"], ["--runtime=openvino", "--precision=fp16"]):
        with pytest.raises(SystemExit):
            parse_flags(["--model_base_path=/m/x", *wrong])


def test_tensorflow_runtime_refuses_other_precisions() -> None:
    from serving.loader import RuntimeUnavailableError, servable_loader

    assert callable(servable_loader("tensorflow", "f32"))
    with pytest.raises(RuntimeUnavailableError, match="needs --runtime openvino"):
        servable_loader("tensorflow", "bf16")
