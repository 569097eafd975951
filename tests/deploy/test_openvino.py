"""The OpenVINO Model Server variant: deploy/docker-compose.openvino.yml and the deploy/k8s-openvino
overlay."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import numpy as np
import pytest
import yaml

from stack.procs import PYTHON, REPO_ROOT
from tests.deploy.conftest import COMPOSE_OPENVINO_FILE, DEPLOY, DOCKERFILE, K8S_OPENVINO_DIR
from tests.deploy.hardening import compose_problems, container_problems, reachability
from tests.deploy.test_compose import check_compose_schema
from tests.deploy.test_k8s import K8S_VERSION

Resources = dict[tuple[str, str], dict[str, Any]]
OVMS_IMAGE = re.compile(r"openvino/model_server:\d{4}\.\d+\.\d+")
# Options of OVMS's command line (src/cli_parser.cpp, 2025-2026 releases) that a serving replica may use;
# a TF Serving flag such as --rest_api_port would make OVMS exit at start.
OVMS_FLAGS = {
    "--port",
    "--grpc_bind_address",
    "--rest_port",
    "--rest_bind_address",
    "--grpc_workers",
    "--grpc_max_threads",
    "--grpc_memory_quota",
    "--rest_workers",
    "--log_level",
    "--grpc_channel_arguments",
    "--file_system_poll_wait_seconds",
    "--cache_dir",
    "--metrics_enable",
    "--metrics_list",
    "--config_path",
    "--model_name",
    "--model_path",
    "--batch_size",
    "--shape",
    "--layout",
    "--model_version_policy",
    "--nireq",
    "--target_device",
    "--plugin_config",
}
BUILDER = DEPLOY / "docker" / "ovms_model.py"


def flags(args: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) if "=" in item else (item, "true") for item in args)


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["spec"]["template"]["spec"]


def serving_container(k8s: Resources) -> dict[str, Any]:
    return next(c for c in pod_spec(k8s[("Deployment", "serving")])["containers"] if c["name"] == "serving")


def k8s_ovms_args(k8s: Resources) -> list[str]:
    """The args as the kubelet expands them: $(SERVING_CPUS) from the CPU limit, $(MODEL_NAME) from the
    ConfigMap."""
    main = serving_container(k8s)
    cpus = str(int(main["resources"]["limits"]["cpu"]))
    model = k8s[("ConfigMap", "gateway-config")]["data"]["MODEL_NAME"]
    return [a.replace("$(SERVING_CPUS)", cpus).replace("$(MODEL_NAME)", model) for a in main["args"]]


def load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_ovms_model", BUILDER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


# ---- docker compose -------------------------------------------------------------------------------------


def test_override_file_validates_against_the_compose_spec() -> None:
    result = check_compose_schema(COMPOSE_OPENVINO_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_merged_compose_model_validates_too(compose_openvino: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(yaml.safe_dump(compose_openvino))
    result = check_compose_schema(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_override_changes_only_the_serving_command_and_the_export_step(
    compose: dict[str, Any], compose_openvino: dict[str, Any]
) -> None:
    assert set(compose_openvino["services"]) == set(compose["services"])
    for name in ("db", "gateway", "frontend"):
        assert compose_openvino["services"][name] == compose["services"][name]
    serving, base = compose_openvino["services"]["serving"], compose["services"]["serving"]
    changed = {key for key in serving if serving[key] != base.get(key)}
    assert changed == {"image", "entrypoint", "command"}
    assert compose_openvino["services"]["export"]["command"] == ["sh", "-c", "export-job && ovms-model"]


def test_merged_compose_keeps_the_hardening_and_limits(compose_openvino: dict[str, Any]) -> None:
    assert compose_problems(compose_openvino) == []
    assert compose_openvino["services"]["serving"]["deploy"]["resources"]["limits"]["memory"] == "2g"


def test_compose_ovms_command(compose_openvino: dict[str, Any]) -> None:
    serving = compose_openvino["services"]["serving"]
    assert OVMS_IMAGE.fullmatch(serving["image"])
    assert serving["entrypoint"] == ["/ovms/bin/ovms"]
    given = flags(serving["command"])
    assert set(given) <= OVMS_FLAGS, set(given) - OVMS_FLAGS
    model = compose_openvino["services"]["gateway"]["environment"]["MODEL_NAME"]
    assert given["--model_name"] == model
    assert given["--model_path"] == f"/models/ovms/{model}"
    assert (given["--port"], given["--rest_port"]) == ("8500", "8501")
    assert given["--grpc_bind_address"] == given["--rest_bind_address"] == "0.0.0.0"
    assert given["--target_device"] == "CPU"
    plugin = json.loads(given["--plugin_config"])
    cpus = serving["deploy"]["resources"]["limits"]["cpus"]
    assert plugin == {
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_NUM_THREADS": cpus,
        "INFERENCE_PRECISION_HINT": "f32",
    }
    assert json.loads(given["--model_version_policy"]) == {"latest": {"num_versions": 1}}
    assert given["--metrics_enable"] == "true"
    assert "grpc.max_connection_age_ms" in given["--grpc_channel_arguments"]
    assert "models:/models:ro" in serving["volumes"]


def test_compose_healthcheck_asks_ovms_the_tf_serving_status_url(compose_openvino: dict[str, Any]) -> None:
    check = " ".join(compose_openvino["services"]["serving"]["healthcheck"]["test"])
    model = compose_openvino["services"]["gateway"]["environment"]["MODEL_NAME"]
    assert f"GET /v1/models/{model} " in check
    assert '"AVAILABLE"' in check


# ---- Kubernetes -----------------------------------------------------------------------------------------


def test_overlay_renders_the_same_resources(k8s: Resources, k8s_openvino: Resources) -> None:
    assert set(k8s_openvino) == set(k8s)
    changed = {key for key in k8s if k8s[key] != k8s_openvino[key]}
    assert changed == {("Deployment", "serving"), ("Job", "export"), ("CronJob", "export-new-version")}


@pytest.mark.parametrize("version", [K8S_VERSION, kubernetes_validate.latest_version()])
def test_overlay_validates_against_the_kubernetes_schema(
    k8s_openvino_docs: list[dict[str, Any]], version: str
) -> None:
    for doc in k8s_openvino_docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_overlay_keeps_the_hardening_and_network_policies(
    k8s_docs: list[dict[str, Any]], k8s_openvino_docs: list[dict[str, Any]], k8s_openvino: Resources
) -> None:
    assert container_problems(k8s_openvino_docs) == []
    assert reachability(k8s_openvino_docs) == reachability(k8s_docs)
    assert serving_container(k8s_openvino)["resources"]["limits"]["memory"] == "2Gi"


def test_overlay_runs_ovms_like_compose(compose_openvino: dict[str, Any], k8s_openvino: Resources) -> None:
    main = serving_container(k8s_openvino)
    assert main["command"] == compose_openvino["services"]["serving"]["entrypoint"]
    assert k8s_ovms_args(k8s_openvino) == compose_openvino["services"]["serving"]["command"]
    assert main["image"] == compose_openvino["services"]["serving"]["image"]
    init = pod_spec(k8s_openvino[("Deployment", "serving")])["initContainers"][0]
    assert init["image"] == main["image"]
    assert "/models/ovms/*/[0-9]*/model.xml" in init["command"][-1]


def test_overlay_probes_keep_the_model_name(k8s_openvino: Resources) -> None:
    main = serving_container(k8s_openvino)
    model = k8s_openvino[("ConfigMap", "gateway-config")]["data"]["MODEL_NAME"]
    assert main["readinessProbe"]["httpGet"] == {"path": f"/v1/models/{model}", "port": "http"}
    assert main["startupProbe"]["tcpSocket"]["port"] == "grpc"
    annotations = k8s_openvino[("Deployment", "serving")]["spec"]["template"]["metadata"]["annotations"]
    assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == ("8501", "/metrics")


def test_overlay_export_job_and_rollout_template_build_the_ovms_repository(k8s_openvino: Resources) -> None:
    job = pod_spec(k8s_openvino[("Job", "export")])["containers"][0]
    cron = k8s_openvino[("CronJob", "export-new-version")]["spec"]["jobTemplate"]["spec"]["template"]
    for container in (job, cron["spec"]["containers"][0]):
        assert container["command"] == ["sh", "-c", "export-job && ovms-model"]


def test_make_renders_the_overlay_and_starts_compose_with_both_files(
    k8s_openvino_docs: list[dict[str, Any]],
) -> None:
    def make(*args: str) -> str:
        result = subprocess.run(
            ["make", "--no-print-directory", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert [d for d in yaml.safe_load_all(make("k8s-render-openvino")) if d] == k8s_openvino_docs
    assert "-f deploy/docker-compose.yml -f deploy/docker-compose.openvino.yml up" in make(
        "-n", "up-openvino"
    )
    assert K8S_OPENVINO_DIR.is_dir()


# ---- the OVMS model repository that the export step builds ----------------------------------------------


def test_the_export_image_installs_the_builder_where_ovms_looks() -> None:
    text = DOCKERFILE.read_text()
    assert "COPY --chmod=755 deploy/docker/ovms_model.py /usr/local/bin/ovms-model" in text
    assert "COPY serving/ /app/serving/" in text
    assert "COPY contracts/ /app/contracts/" in text
    assert re.search(r"MODELS_DIR=/models\b", text)
    builder = load_builder()
    assert builder.OUTPUT_NAMES == ("scores", "class_ids", "labels")


def test_builder_refuses_a_models_folder_without_exports(tmp_path: Path) -> None:
    result = subprocess.run(
        [PYTHON, str(BUILDER), "--models-dir", str(tmp_path), "--model", "resnet50"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "no exported version" in result.stderr


def png(pixels: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_built_ovms_model_answers_like_the_project_runtime(tiny_model_base: Path, tmp_path: Path) -> None:
    """`ovms-model` as the export job runs it, then the IR fed the way OVMS feeds it (decoded BGR pixels at
    the model's size): labels, class ids and scores equal the project's OpenVINO runtime on the same
    images."""
    import openvino as ov

    from serving.engines.openvino import OpenVINOEngine

    def predict(engine: OpenVINOEngine, image: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        outputs = engine.run("serving_default", {"image_bytes": engine.pixels([image])})
        return outputs["labels"], outputs["scores"], outputs["class_ids"]

    models = tmp_path / "models"
    shutil.copytree(tiny_model_base, models / "tiny")
    run = [PYTHON, str(BUILDER), "--models-dir", str(models), "--model", "tiny"]
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    first = subprocess.run(
        run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert first.returncode == 0, first.stdout + first.stderr
    version = sorted(p.name for p in (models / "tiny").iterdir() if p.name.isdigit())[-1]
    xml = models / "ovms" / "tiny" / version / "model.xml"
    assert xml.is_file()
    # what deploy/k8s-openvino's init container waits for
    glob = f"compgen -G '{models}/ovms/*/[0-9]*/model.xml'"
    assert subprocess.run(["bash", "-c", glob], capture_output=True, timeout=30, check=False).returncode == 0
    again = subprocess.run(
        run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert again.returncode == 0
    assert "already holds the OVMS model" in again.stdout

    model = ov.Core().read_model(xml)
    (source,) = model.inputs
    assert source.get_any_name() == "image_bytes"
    assert source.get_element_type() == ov.Type.u8
    assert source.get_node().get_layout().to_string() == "[N,H,W,C]"
    height, width = source.get_partial_shape().to_shape()[1:3]
    assert list(source.get_partial_shape().to_shape()) == [1, height, width, 3]
    assert [o.get_any_name() for o in model.outputs] == ["scores", "class_ids", "labels"]
    assert [o.get_element_type() for o in model.outputs] == [ov.Type.f32, ov.Type.i64, ov.Type.string]

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    reference = OpenVINOEngine(models / "tiny" / version, "f32")
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width]
    for _ in range(4):
        smooth = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
        rgb = np.clip(smooth * rng.uniform(0.3, 1.0) + rng.integers(0, 96, (height, width, 3)), 0, 255)
        rgb = rgb.astype(np.uint8)
        labels, scores, class_ids = predict(reference, png(rgb))
        answer = compiled(rgb[None, :, :, ::-1].copy())  # OVMS hands the model BGR
        np.testing.assert_array_equal(answer["class_ids"], class_ids)
        np.testing.assert_array_equal(answer["labels"].astype(str), [[label.decode() for label in labels[0]]])
        np.testing.assert_allclose(answer["scores"], scores, rtol=1e-5, atol=1e-6)
    # the channel order matters: fed RGB instead, the answer changes
    rgb = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
    rgb[..., 0] = 255
    rgb[..., 2] = 0
    _, scores, _ = predict(reference, png(rgb))
    assert not np.allclose(compiled(rgb[None].copy())["scores"], scores, atol=1e-6)
