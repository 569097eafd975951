"""TF Serving's version policies, version labels and config reloads on a real `python -m serving`, driven
with the official client (tensorflow-serving-api's stubs and messages), over gRPC and REST."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
)

from stack.procs import Service, free_port
from tests.serving.helpers import b64, http, png, predict_request, prediction_stub
from tests.serving_fixtures import ServingProcess, StartServing, serving_args

pytestmark = pytest.mark.slow

MODEL = "tiny"


def config_text(policy: str, labels: dict[str, int] | None = None) -> str:
    label_lines = "".join(
        f'    version_labels {{ key: "{k}" value: {v} }}\n' for k, v in (labels or {}).items()
    )
    return (
        "model_config_list {\n  config {\n"
        f'    name: "{MODEL}"\n    base_path: "/models/{MODEL}"\n    model_platform: "tensorflow"\n'
        f"    model_version_policy {{ {policy} }}\n{label_lines}  }}\n}}\n"
    )


@pytest.fixture
def models(tiny_model_base: Path, tmp_path: Path) -> Path:
    """Versions 1, 2 and 3 of the tiny model under <tmp>/models/tiny (one SavedModel, three folders)."""
    for version in (1, 2, 3):
        shutil.copytree(tiny_model_base / "1", tmp_path / "models" / MODEL / str(version))
    return tmp_path / "models"


@pytest.fixture
def serve_config(start_serving: StartServing, models: Path) -> Callable[..., tuple[ServingProcess, Path]]:
    def start(text: str, *extra: str) -> tuple[ServingProcess, Path]:
        path = models / "models.config"
        path.write_text(text)
        args = [f"--model_config_file={path}", f"--models_dir={models}", *extra]
        return start_serving(models / "unused", MODEL, extra_args=args), path

    return start


def available(server: ServingProcess) -> set[int]:
    _, body = http("GET", f"{server.rest_url}/v1/models/{MODEL}")
    return {int(v["version"]) for v in body["model_version_status"] if v["state"] == "AVAILABLE"}


def wait_for(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture
def channel() -> Iterator[Callable[[ServingProcess], grpc.Channel]]:
    opened: list[grpc.Channel] = []

    def open_channel(server: ServingProcess) -> grpc.Channel:
        opened.append(grpc.insecure_channel(server.grpc_target))
        return opened[-1]

    yield open_channel
    for each in opened:
        each.close()


def labelled_version(channel: grpc.Channel, label: str) -> int:
    request = predict_request(MODEL, [png(1, 32)])
    request.model_spec.version_label = label
    version: int = prediction_stub(channel).Predict(request, timeout=30).model_spec.version.value
    return version


def reload(channel: grpc.Channel, text: str) -> None:
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(text, request.config)
    model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(request, timeout=120)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("latest { num_versions: 2 }", {2, 3}),
        ("all {}", {1, 2, 3}),
        ("specific { versions: 1 versions: 3 }", {1, 3}),
    ],
)
def test_each_version_policy(
    serve_config: Callable[..., tuple[ServingProcess, Path]], policy: str, expected: set[int]
) -> None:
    server, _ = serve_config(config_text(policy))
    wait_for(lambda: available(server) == expected)


def test_labels_answer_over_grpc_and_rest_and_status_and_metadata_follow_them(
    serve_config: Callable[..., tuple[ServingProcess, Path]],
    channel: Callable[[ServingProcess], grpc.Channel],
) -> None:
    text = config_text("specific { versions: 1 versions: 2 }", {"stable": 1, "canary": 2})
    server, _ = serve_config(text, "--allow_version_labels_for_unavailable_models")
    wait_for(lambda: available(server) == {1, 2})
    grpc_channel = channel(server)
    assert labelled_version(grpc_channel, "stable") == 1
    assert labelled_version(grpc_channel, "canary") == 2

    metadata = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    metadata.model_spec.name = MODEL
    metadata.model_spec.version_label = "canary"
    assert prediction_stub(grpc_channel).GetModelMetadata(metadata, timeout=30).model_spec.version.value == 2
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = MODEL
    status.model_spec.version_label = "stable"
    answer = model_service_pb2_grpc.ModelServiceStub(grpc_channel).GetModelStatus(status, timeout=30)
    assert [v.version for v in answer.model_version_status] == [1]

    rest = f"{server.rest_url}/v1/models/{MODEL}/labels"
    code, body = http("POST", f"{rest}/canary:predict", {"instances": [b64(png(2, 32))]})
    assert code == 200, body
    assert len(body["predictions"]) == 1
    assert http("GET", f"{rest}/canary/metadata")[1]["model_spec"]["version"] == "2"
    assert [v["version"] for v in http("GET", f"{rest}/stable")[1]["model_version_status"]] == ["1"]
    code, body = http("GET", f"{rest}/nightly")
    assert code == 400
    assert "Unrecognized servable version label: nightly" in body["error"]
    request = predict_request(MODEL, [png(3, 32)])
    request.model_spec.version_label = "nightly"
    with pytest.raises(grpc.RpcError) as refused:
        prediction_stub(grpc_channel).Predict(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_label_to_an_unloaded_version_is_refused(
    serve_config: Callable[..., tuple[ServingProcess, Path]],
    channel: Callable[[ServingProcess], grpc.Channel],
    models: Path,
) -> None:
    # at start-up, as in TF Serving, labels are checked before anything has loaded: refused without the flag
    path = models / "labelled.config"
    path.write_text(config_text("specific { versions: 1 }", {"stable": 1}))
    grpc_port, rest_port = free_port(), free_port()
    args = serving_args(
        models / "unused",
        MODEL,
        grpc_port,
        rest_port,
        extra_args=[f"--model_config_file={path}", f"--models_dir={models}"],
    )
    refused = Service(args, models / "refused.log")
    assert refused.proc.wait(timeout=240) == 1
    assert (
        "Request to assign label to version 1 of model tiny, which is not currently available for inference"
        in refused.log_text()
    )

    # at a reload: a label may point only at a version that is AVAILABLE; nothing changes otherwise
    server, _ = serve_config(config_text("specific { versions: 1 }"))
    grpc_channel = channel(server)
    for wrong in (
        config_text("specific { versions: 1 versions: 2 }", {"canary": 2}),  # 2 is not loaded yet
        config_text("specific { versions: 1 }", {"stable": 7}),  # 7 does not exist
    ):
        with pytest.raises(grpc.RpcError) as error:
            reload(grpc_channel, wrong)
        assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "not currently available for inference" in error.value.details()
    assert available(server) == {1}  # the refused config's version 2 was not loaded either
    reload(grpc_channel, config_text("specific { versions: 1 versions: 2 }"))
    wait_for(lambda: available(server) == {1, 2})
    reload(grpc_channel, config_text("specific { versions: 1 versions: 2 }", {"stable": 1, "canary": 2}))
    assert labelled_version(grpc_channel, "canary") == 2


def test_a_reload_elsewhere_than_the_models_folder_is_refused(
    serve_config: Callable[..., tuple[ServingProcess, Path]],
    channel: Callable[[ServingProcess], grpc.Channel],
    tmp_path: Path,
) -> None:
    server, _ = serve_config(config_text("specific { versions: 1 }"))
    outside = config_text("specific { versions: 1 }").replace(f"/models/{MODEL}", str(tmp_path / "elsewhere"))
    with pytest.raises(grpc.RpcError) as error:
        reload(channel(server), outside)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "outside the models folder" in error.value.details()


def keep_predicting(server: ServingProcess, label: str, stop: threading.Event) -> tuple[list[int], list[str]]:
    """Predict with `label` until `stop`; the versions that answered and any failures."""
    versions: list[int] = []
    failures: list[str] = []
    with grpc.insecure_channel(server.grpc_target) as own:
        while not stop.is_set():
            try:
                versions.append(labelled_version(own, label))
            except grpc.RpcError as error:
                failures.append(f"{error.code().name}: {error.details()}")
    return versions, failures


def test_moving_a_label_by_rpc_and_by_polling_under_load_fails_no_request(
    serve_config: Callable[..., tuple[ServingProcess, Path]],
    channel: Callable[[ServingProcess], grpc.Channel],
) -> None:
    both = "specific { versions: 1 versions: 2 }"
    server, path = serve_config(
        config_text(both, {"stable": 1}),
        "--allow_version_labels_for_unavailable_models",
        "--model_config_file_poll_wait_seconds=1",
    )
    wait_for(lambda: available(server) == {1, 2})
    grpc_channel = channel(server)
    stop = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        traffic = [pool.submit(keep_predicting, server, "stable", stop) for _ in range(2)]
        time.sleep(1)
        reload(grpc_channel, config_text(both, {"stable": 2}))  # promote by RPC
        assert labelled_version(grpc_channel, "stable") == 2
        time.sleep(1)
        path.write_text(config_text(both, {"stable": 1}))  # roll back by editing the polled file
        wait_for(lambda: labelled_version(grpc_channel, "stable") == 1, 30)
        time.sleep(1)
        stop.set()
        results = [future.result() for future in traffic]
    versions = [v for answered, _ in results for v in answered]
    failures = [f for _, failed in results for f in failed]
    assert not failures, failures[:5]
    assert {1, 2} <= set(versions)
    # the poller applies what the file says again only when it changes: the RPC's config stays otherwise
    assert available(server) == {1, 2}


def test_a_canary_is_rolled_out_promoted_and_rolled_back_without_a_failed_request(
    serve_config: Callable[..., tuple[ServingProcess, Path]],
    channel: Callable[[ServingProcess], grpc.Channel],
) -> None:
    """serving.rollout against a server that polls its config file, with traffic on both labels."""
    from serving.rollout import Rollout

    server, path = serve_config(
        config_text("specific { versions: 1 }", {"stable": 1}),
        "--allow_version_labels_for_unavailable_models",
        "--model_config_file_poll_wait_seconds=1",
    )
    rollout = Rollout(path, MODEL, [server.rest_url], [], say=print, timeout=120)
    grpc_channel = channel(server)
    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        stable_traffic = pool.submit(keep_predicting, server, "stable", stop)
        rollout.canary(2)
        wait_for(lambda: rollout.labels() == {"stable": 1, "canary": 2})
        wait_for(lambda: _answers(grpc_channel, "canary") == 2, 30)
        rollout.rollback()
        wait_for(lambda: available(server) == {1}, 30)
        rollout.canary(3)
        wait_for(lambda: _answers(grpc_channel, "canary") == 3, 30)
        rollout.promote()
        wait_for(lambda: _answers(grpc_channel, "stable") == 3, 30)
        wait_for(lambda: available(server) == {3}, 30)
        stop.set()
        versions, failures = stable_traffic.result()
    assert not failures, failures[:5]
    assert set(versions) == {1, 3}


def _answers(grpc_channel: grpc.Channel, label: str) -> int | None:
    try:
        return labelled_version(grpc_channel, label)
    except grpc.RpcError:
        return None
