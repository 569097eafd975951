"""deploy/k8s rendered by kustomize (kubectl from the dev group), validated against Kubernetes' schemas."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from stack.procs import REPO_ROOT

Resources = dict[tuple[str, str], dict[str, Any]]
K8S_VERSION = "1.31.0"  # the oldest Kubernetes the manifests must work on


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["spec"]["template"]["spec"]


def container(resource: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod_spec(resource)["containers"] if c["name"] == name)


def env_names(container_spec: dict[str, Any], k8s: Resources) -> set[str]:
    names = {item["name"] for item in container_spec.get("env", [])}
    for source in container_spec.get("envFrom", []):
        config_map = source["configMapRef"]["name"].rsplit("-", 1)[0]
        names |= set(k8s[("ConfigMap", config_map)]["data"])
    return names


def test_renders_the_expected_resources(k8s: Resources) -> None:
    assert set(k8s) == {
        ("Namespace", "image-classifier"),
        ("ConfigMap", "serving-config"),
        ("ConfigMap", "gateway-config"),
        ("PersistentVolumeClaim", "models"),
        ("PersistentVolumeClaim", "uploads"),
        ("Job", "export"),
        ("CronJob", "export-new-version"),
        ("Service", "serving"),
        ("Deployment", "serving"),
        ("HorizontalPodAutoscaler", "serving"),
        ("Service", "gateway"),
        ("Deployment", "gateway"),
        ("HorizontalPodAutoscaler", "gateway"),
        ("Service", "frontend"),
        ("Deployment", "frontend"),
        ("ConfigMap", "proxy-config"),
        ("ConfigMap", "proxy-settings"),
        ("Service", "proxy"),
        ("Deployment", "proxy"),
        ("Ingress", "image-classifier"),
        ("Service", "postgres"),
        ("StatefulSet", "postgres"),
        ("NetworkPolicy", "default-deny-ingress"),
        ("NetworkPolicy", "serving"),
        ("NetworkPolicy", "postgres"),
        ("NetworkPolicy", "gateway"),
        ("NetworkPolicy", "frontend"),
        ("NetworkPolicy", "proxy"),
    }
    for (kind, _), resource in k8s.items():
        if kind != "Namespace":
            assert resource["metadata"]["namespace"] == "image-classifier"


@pytest.mark.parametrize("version", [K8S_VERSION, kubernetes_validate.latest_version()])
def test_every_resource_validates_against_the_kubernetes_schema(
    k8s_docs: list[dict[str, Any]], version: str
) -> None:
    for doc in k8s_docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_rejects_a_misspelt_field(k8s: Resources) -> None:
    broken = yaml.safe_load(yaml.safe_dump(k8s[("Deployment", "serving")]))
    container(broken, "serving")["readinesProbe"] = container(broken, "serving").pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_serving_config_map_holds_exactly_the_files_in_serving(k8s: Resources) -> None:
    data = k8s[("ConfigMap", "serving-config")]["data"]
    files = {
        name: (REPO_ROOT / "serving" / name).read_text()
        for name in ("models.config", "batching.config", "monitoring.config")
    }
    assert data == files


def test_make_k8s_render_prints_the_same_manifests(k8s_docs: list[dict[str, Any]]) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "k8s-render"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [doc for doc in yaml.safe_load_all(result.stdout) if doc] == k8s_docs


def test_serving_deployment_runs_tensorflow_serving_with_the_config_map(k8s: Resources) -> None:
    serving = k8s[("Deployment", "serving")]
    main = container(serving, "serving")
    assert re.fullmatch(r"tensorflow/serving:\d+\.\d+\.\d+", main["image"])
    assert main["command"] == ["tensorflow_model_server"]
    flags = dict(arg.split("=", 1) if "=" in arg else (arg, "true") for arg in main["args"])
    mount = next(m for m in main["volumeMounts"] if m["name"] == "config")
    volume = next(v for v in pod_spec(serving)["volumes"] if v["name"] == "config")
    config_map = k8s[("ConfigMap", "serving-config")]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]  # the hashed name: rolls on change
    for flag in ("--model_config_file", "--batching_parameters_file", "--monitoring_config_file"):
        path = Path(flags[flag])
        assert str(path.parent) == mount["mountPath"]
        assert path.name in config_map["data"]
    assert flags["--enable_batching"] == "true"
    assert (flags["--port"], flags["--rest_api_port"]) == ("8500", "8501")


def test_serving_threads_come_from_the_cpu_limit(k8s: Resources) -> None:
    main = container(k8s[("Deployment", "serving")], "serving")
    cpus = next(e for e in main["env"] if e["name"] == "SERVING_CPUS")
    assert cpus["valueFrom"]["resourceFieldRef"] == {
        "containerName": "serving",
        "resource": "limits.cpu",
        "divisor": "1",
    }
    assert "--tensorflow_intra_op_parallelism=$(SERVING_CPUS)" in main["args"]
    assert "--tensorflow_inter_op_parallelism=$(SERVING_CPUS)" in main["args"]
    assert main["resources"]["requests"] == main["resources"]["limits"]


def test_serving_probes_and_autoscaler(k8s: Resources) -> None:
    serving = k8s[("Deployment", "serving")]
    main = container(serving, "serving")
    model = k8s[("ConfigMap", "gateway-config")]["data"]["MODEL_NAME"]
    assert main["readinessProbe"]["httpGet"] == {"path": f"/v1/models/{model}", "port": "http"}
    assert main["livenessProbe"]["tcpSocket"]["port"] == "grpc"
    assert main["startupProbe"]["tcpSocket"]["port"] == "grpc"
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"grpc": 8500, "http": 8501}
    hpa = k8s[("HorizontalPodAutoscaler", "serving")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "serving"
    assert hpa["minReplicas"] >= 2


def test_serving_service_is_headless_so_the_gateway_sees_every_pod(k8s: Resources) -> None:
    service = k8s[("Service", "serving")]["spec"]
    assert service["clusterIP"] == "None"
    assert {p["port"] for p in service["ports"]} == {8500, 8501}
    labels = k8s[("Deployment", "serving")]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    config = k8s[("ConfigMap", "gateway-config")]["data"]
    assert config["SERVING_TARGET"] == "dns:///serving:8500"


def test_gateway_deployment_service_and_autoscaler(k8s: Resources) -> None:
    gateway = k8s[("Deployment", "gateway")]
    main = container(gateway, "gateway")
    assert main["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert main["livenessProbe"]["httpGet"]["path"] == "/health"
    assert main["ports"] == [
        {"name": "http", "containerPort": 8000},
        {"name": "metrics", "containerPort": 8001},
    ]
    assert main["resources"]["requests"]
    assert main["resources"]["limits"]
    service = {p["name"]: (p["port"], p["targetPort"]) for p in k8s[("Service", "gateway")]["spec"]["ports"]}
    assert service == {"http": (8000, "http"), "metrics": (8001, "metrics")}
    assert k8s[("HorizontalPodAutoscaler", "gateway")]["spec"]["scaleTargetRef"]["name"] == "gateway"
    url = next(e["value"] for e in main["env"] if e["name"] == "DATABASE_URL")
    assert url.startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in url


def test_gateway_environment_names_are_gateway_settings(k8s: Resources) -> None:
    from gateway.core.config import Settings

    main = container(k8s[("Deployment", "gateway")], "gateway")
    fields = {name.upper() for name in Settings.model_fields}
    expanded = {name for e in main["env"] for name in re.findall(r"\$\((\w+)\)", e.get("value", ""))}
    # the parts DATABASE_URL is made of; METRICS_TOKEN, the gateway's metrics token (a setting of the
    # gateway's metrics protection, issue 11)
    assert main["command"] == ["python", "-m", "gateway"]
    extra = env_names(main, k8s) - fields
    assert set(expanded) <= extra <= {"METRICS_TOKEN", *expanded}


def test_frontend_points_at_the_gateway_service(k8s: Resources) -> None:
    main = container(k8s[("Deployment", "frontend")], "frontend")
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["GATEWAY_URL"] == "http://gateway:8000"
    assert env["GRADIO_SERVER_PORT"] == "7860"
    assert k8s[("Service", "frontend")]["spec"]["ports"][0]["port"] == 7860


def test_postgres_is_a_statefulset_with_its_own_volume(k8s: Resources, compose: dict[str, Any]) -> None:
    postgres = k8s[("StatefulSet", "postgres")]
    assert container(postgres, "postgres")["image"] == compose["services"]["db"]["image"]
    assert postgres["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert k8s[("Service", "postgres")]["spec"]["clusterIP"] == "None"


def test_export_job_writes_the_models_volume_that_serving_reads(k8s: Resources) -> None:
    job = k8s[("Job", "export")]
    export = container(job, "export")
    assert export["image"].startswith("image-classifier-export:")
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod_spec(job)["volumes"]
        if "persistentVolumeClaim" in v
    }
    serving_claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod_spec(k8s[("Deployment", "serving")])["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == serving_claims == {"models"}


def test_the_rollout_template_is_the_export_job_plus_new_version(k8s: Resources) -> None:
    cron = k8s[("CronJob", "export-new-version")]["spec"]
    assert cron["suspend"] is True
    template = yaml.safe_load(yaml.safe_dump(cron["jobTemplate"]["spec"]["template"]))
    added = template["spec"]["containers"][0]["env"].pop()
    assert added == {"name": "EXPORT_NEW_VERSION", "value": "1"}
    assert template == k8s[("Job", "export")]["spec"]["template"]


def test_images_match_the_compose_images(k8s: Resources, compose: dict[str, Any]) -> None:
    compose_images = {svc["image"] for svc in compose["services"].values()}
    for resource in k8s.values():
        if "template" in resource.get("spec", {}):
            spec = pod_spec(resource)
            for item in spec.get("initContainers", []) + spec["containers"]:
                assert item["image"] in compose_images, item["image"]


def test_every_secret_key_is_documented_in_env_example(k8s: Resources, env_example: dict[str, str]) -> None:
    keys = set()
    for resource in k8s.values():
        if "template" in resource.get("spec", {}):
            for item in pod_spec(resource)["containers"]:
                for env in item.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        assert ref["name"] == "image-classifier-secrets"
                        keys.add(ref["key"])
    assert keys == {"SECRET_KEY", "POSTGRES_PASSWORD", "ADMIN_PASSWORD", "METRICS_TOKEN", "PROXY_SECRET"}
    assert keys <= set(env_example)
