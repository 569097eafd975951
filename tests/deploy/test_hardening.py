"""Issue 11 in deploy/: locked-down containers, NetworkPolicies, a drained gateway, limits, pinned images."""

from __future__ import annotations

import copy
import re
import tomllib
from typing import Any

import pytest

from stack.procs import REPO_ROOT
from tests.deploy.hardening import (
    ANY,
    compose_problems,
    container_problems,
    ingress_sources,
    reachability,
)

Resources = dict[tuple[str, str], dict[str, Any]]
# (app, container port name) -> who may connect; every other port of every pod: nobody
EXPECTED_REACHABILITY = {
    ("serving", "grpc"): {"pod:gateway"},
    ("serving", "http"): {"namespace:monitoring"},  # the metrics; the gateway speaks gRPC only
    ("postgres", "postgres"): {"pod:gateway"},
    # issue 21: the Ingress reaches the proxy alone, the proxy the API and the page; the scraper the metrics
    ("gateway", "http"): {"pod:proxy", "pod:frontend"},
    ("gateway", "metrics"): {"namespace:monitoring"},
    ("frontend", "http"): {"pod:proxy"},
    ("proxy", "api"): {"namespace:ingress-nginx"},
    ("proxy", "page"): {"namespace:ingress-nginx"},
}


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["spec"]["template"]["spec"]


def main_container(resource: dict[str, Any]) -> dict[str, Any]:
    return pod_spec(resource)["containers"][0]


def flag_value(args: list[str], flag: str) -> str | None:
    return next((a.split("=", 1)[1] for a in args if a.startswith(f"{flag}=")), None)


# ---- Kubernetes -------------------------------------------------------------------------------------


def test_every_container_is_locked_down(k8s_docs: list[dict[str, Any]]) -> None:
    assert container_problems(k8s_docs) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("securityContext", "allowPrivilegeEscalation"), True),
        (("securityContext", "readOnlyRootFilesystem"), False),
        (("securityContext", "capabilities"), {"drop": ["ALL"], "add": ["NET_ADMIN"]}),
        (("image",), "image-classifier-gateway:latest"),
    ],
)
def test_the_container_check_finds_what_is_missing(k8s: Resources, path: tuple[str, ...], value: Any) -> None:
    broken = copy.deepcopy(k8s[("Deployment", "gateway")])
    target = main_container(broken)
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert container_problems([broken]) != []


def test_the_container_check_finds_a_root_pod_and_no_seccomp(k8s: Resources) -> None:
    for key in ("runAsUser", "seccompProfile"):
        broken = copy.deepcopy(k8s[("Deployment", "serving")])
        del pod_spec(broken)["securityContext"][key]
        assert any(key in problem for problem in container_problems([broken]))


def test_writable_paths_are_volumes(k8s: Resources) -> None:
    """The read-only root leaves these writable: uploads, the metrics folder, PostgreSQL's data and socket."""
    expected = {
        ("Deployment", "gateway"): {"/tmp", "/tmp/prometheus", "/data/uploads"},
        ("Deployment", "frontend"): {"/tmp"},
        ("Deployment", "proxy"): {"/tmp"},
        ("Deployment", "serving"): {"/tmp"},
        ("StatefulSet", "postgres"): {"/tmp", "/var/run/postgresql", "/var/lib/postgresql/data"},
        ("Job", "export"): {"/tmp", "/models"},
    }
    for key, paths in expected.items():
        mounts = {
            m["mountPath"] for m in main_container(k8s[key]).get("volumeMounts", []) if not m.get("readOnly")
        }
        assert mounts == paths, key


def test_gateway_env_upload_and_metrics_folders_are_the_mounted_ones(k8s: Resources) -> None:
    from tests.deploy.conftest import DOCKERFILE

    gateway = main_container(k8s[("Deployment", "gateway")])
    mounts = {m["mountPath"] for m in gateway["volumeMounts"]}
    assert k8s[("ConfigMap", "gateway-config")]["data"]["UPLOAD_DIR"] in mounts
    multiproc = re.search(r"PROMETHEUS_MULTIPROC_DIR=(\S+)", DOCKERFILE.read_text()).group(1)
    assert multiproc in mounts


def test_gateway_drains_before_it_stops(k8s: Resources) -> None:
    gateway = k8s[("Deployment", "gateway")]
    main = main_container(gateway)
    command = main["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    assert pause >= 3, "endpoints need a few seconds to drop the pod"
    env = {e["name"]: e.get("value") for e in main["env"]}
    graceful = int(env["SHUTDOWN_GRACE_SECONDS"])
    assert pod_spec(gateway)["terminationGracePeriodSeconds"] >= pause + graceful
    assert graceful > 10  # longer than one model call (SERVING_TIMEOUT_SECONDS' default)


def test_services_bind_every_interface_explicitly(k8s: Resources) -> None:
    gateway = main_container(k8s[("Deployment", "gateway")])
    assert gateway["command"] == ["python", "-m", "gateway"]
    assert {"name": "GATEWAY_HOST", "value": "0.0.0.0"} in gateway["env"]
    # the gateway's default port, and the metrics port compose uses too
    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    env = {e["name"]: e.get("value") for e in gateway["env"]} | k8s[("ConfigMap", "gateway-config")]["data"]
    assert ports == {"http": 8000, "metrics": int(env["GATEWAY_METRICS_PORT"])}
    frontend = main_container(k8s[("Deployment", "frontend")])
    assert {"name": "GRADIO_SERVER_NAME", "value": "0.0.0.0"} in frontend["env"]


def test_secrets_come_from_the_secret_only(k8s: Resources) -> None:
    gateway = main_container(k8s[("Deployment", "gateway")])
    env = {e["name"]: e for e in gateway["env"]}
    for name in ("SECRET_KEY", "ADMIN_PASSWORD", "METRICS_TOKEN", "POSTGRES_PASSWORD", "PROXY_SECRET"):
        assert "value" not in env[name], name
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == name
        assert not env[name]["valueFrom"]["secretKeyRef"].get("optional")
    config = k8s[("ConfigMap", "gateway-config")]["data"]
    assert not {"SECRET_KEY", "ADMIN_PASSWORD", "METRICS_TOKEN", "PROXY_SECRET"} & set(config)


def test_memory_limits(k8s: Resources) -> None:
    assert main_container(k8s[("Deployment", "serving")])["resources"]["limits"]["memory"] == "2Gi"
    assert main_container(k8s[("Deployment", "gateway")])["resources"]["limits"]["memory"] == "1Gi"
    for where, resource in k8s.items():
        if "template" in resource.get("spec", {}):
            for container in pod_spec(resource).get("initContainers", []) + pod_spec(resource)["containers"]:
                assert container["resources"]["limits"]["memory"], where
                assert container["resources"]["limits"]["cpu"], where


def test_network_policies_open_exactly_the_expected_paths(k8s_docs: list[dict[str, Any]]) -> None:
    assert reachability(k8s_docs) == EXPECTED_REACHABILITY


def test_default_deny_isolates_any_new_pod(k8s_docs: list[dict[str, Any]]) -> None:
    port = {"name": "http", "containerPort": 8080}
    assert ingress_sources(k8s_docs, {"app.kubernetes.io/name": "something-new"}, port) == set()
    without = [d for d in k8s_docs if d["metadata"]["name"] != "default-deny-ingress"]
    assert ingress_sources(without, {"app.kubernetes.io/name": "something-new"}, port) == {ANY}


def test_the_reachability_check_sees_a_policy_opened_too_wide(k8s_docs: list[dict[str, Any]]) -> None:
    opened = copy.deepcopy(k8s_docs)
    serving = next(d for d in opened if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "serving")
    serving["spec"]["ingress"][0]["from"].append({"podSelector": {}})
    table = reachability(opened)
    assert "pod:frontend" in table[("serving", "grpc")]
    assert table != EXPECTED_REACHABILITY


def test_every_network_policy_selects_pods_that_exist(k8s_docs: list[dict[str, Any]]) -> None:
    apps = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        for d in k8s_docs
        if d["kind"] in ("Deployment", "StatefulSet")
    }
    for doc in k8s_docs:
        if doc["kind"] == "NetworkPolicy":
            selector = doc["spec"]["podSelector"]
            assert selector == {} or selector["matchLabels"]["app.kubernetes.io/name"] in apps, doc


def test_model_server_pods_carry_no_service_account_token(k8s: Resources) -> None:
    for key in (
        ("Deployment", "serving"),
        ("Deployment", "gateway"),
        ("Deployment", "proxy"),
        ("StatefulSet", "postgres"),
    ):
        assert pod_spec(k8s[key])["automountServiceAccountToken"] is False, key


# ---- docker compose ---------------------------------------------------------------------------------


def test_every_compose_service_is_locked_down_and_limited(compose: dict[str, Any]) -> None:
    assert compose_problems(compose) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("image", "postgres:latest"),
        ("image", "postgres"),
        ("read_only", False),
        ("cap_drop", []),
        ("security_opt", []),
        ("deploy", {}),
        ("tmpfs", []),
        ("user", "0:0"),
    ],
)
def test_the_compose_check_finds_what_is_missing(compose: dict[str, Any], key: str, value: Any) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["db"][key] = value
    assert compose_problems(broken) != []


def test_compose_memory_limits(compose: dict[str, Any]) -> None:
    limits = {
        name: svc["deploy"]["resources"]["limits"]["memory"] for name, svc in compose["services"].items()
    }
    assert limits["serving"] == "2g"
    assert limits["gateway"] == "1g"


def test_compose_gateway_binds_every_interface_and_drains(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    assert "command" not in gateway  # the image's `python -m gateway`
    assert gateway["environment"]["GATEWAY_HOST"] == "0.0.0.0"
    graceful = int(gateway["environment"]["SHUTDOWN_GRACE_SECONDS"])
    assert int(gateway["stop_grace_period"].removesuffix("s")) >= graceful
    assert compose["services"]["frontend"]["environment"]["GRADIO_SERVER_NAME"] == "0.0.0.0"


def test_compose_secrets_have_no_default(compose_raw: dict[str, Any]) -> None:
    env = compose_raw["services"]["gateway"]["environment"]
    for name in ("SECRET_KEY", "ADMIN_PASSWORD", "METRICS_TOKEN", "PROXY_SECRET"):
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", env[name]), env[name]


def test_default_image_tag_is_the_project_version(env_example: dict[str, str]) -> None:
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert env_example["IMAGE_TAG"] == version
