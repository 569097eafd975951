"""Issue 21 in deploy/: k8s runs the nginx proxy compose runs (one template, one start command), the Ingress
reaches only it, it reads the client's address from the Ingress controller alone (REAL_IP_FROM; compose
trusts nothing), and the NetworkPolicies keep the API, the page and the metrics port apart. The start
command runs here with a stand-in for the nginx binary; a real nginx runs in the container suite."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, K8S_DIR

Resources = dict[tuple[str, str], dict[str, Any]]
NGINX_DIR = DEPLOY / "nginx"
TEMPLATE = NGINX_DIR / "proxy.conf.template"
START = NGINX_DIR / "start.sh"


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["spec"]["template"]["spec"]


def proxy_container(k8s: Resources) -> dict[str, Any]:
    containers = pod_spec(k8s[("Deployment", "proxy")])["containers"]
    assert [c["name"] for c in containers] == ["proxy"]
    return containers[0]


def env_of(container: dict[str, Any], k8s: Resources) -> dict[str, Any]:
    """name -> value, or the valueFrom mapping; envFrom ConfigMaps first, as Kubernetes applies them."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        env |= k8s[("ConfigMap", source["configMapRef"]["name"].rsplit("-", 1)[0])]["data"]
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", item.get("valueFrom"))
    return env


def service_ports(k8s: Resources, name: str) -> dict[str, tuple[int, Any]]:
    return {p["name"]: (p["port"], p["targetPort"]) for p in k8s[("Service", name)]["spec"]["ports"]}


def container_ports(k8s: Resources, name: str) -> dict[str, int]:
    container = pod_spec(k8s[("Deployment", name)])["containers"][0]
    return {p["name"]: p["containerPort"] for p in container["ports"]}


# ---- one proxy, two deployments -----------------------------------------------------------------------


def test_the_k8s_proxy_config_is_generated_from_the_files_compose_mounts(
    k8s: Resources, compose_raw: dict[str, Any]
) -> None:
    data = k8s[("ConfigMap", "proxy-config")]["data"]
    assert data == {"proxy.conf.template": TEMPLATE.read_text(), "start.sh": START.read_text()}
    sources = {name: config["file"] for name, config in compose_raw["configs"].items()}
    assert (DEPLOY / sources["proxy-template"]).resolve() == TEMPLATE
    assert (DEPLOY / sources["proxy-start"]).resolve() == START


def test_the_k8s_proxy_runs_the_compose_image_command_and_paths(
    k8s: Resources, compose: dict[str, Any]
) -> None:
    service = compose["services"]["proxy"]
    main = proxy_container(k8s)
    assert main["image"] == service["image"]
    assert main["command"] == service["entrypoint"] + service["command"]
    spec = pod_spec(k8s[("Deployment", "proxy")])
    config_volume = next(v for v in spec["volumes"] if v["name"] == "config")
    # the hashed name: a changed template or start command rolls the proxy pods
    assert config_volume["configMap"]["name"] == k8s[("ConfigMap", "proxy-config")]["metadata"]["name"]
    mounts = {m["mountPath"]: m["subPath"] for m in main["volumeMounts"] if m["name"] == "config"}
    compose_targets = {c["target"]: c["source"] for c in service["configs"]}
    assert set(mounts) == set(compose_targets)
    assert mounts == {
        "/etc/nginx/proxy.conf.template": "proxy.conf.template",
        "/etc/nginx/start.sh": "start.sh",
    }
    assert spec["securityContext"]["runAsUser"] == int(service["user"].split(":")[0])


def test_the_k8s_proxy_is_probed_and_limited(k8s: Resources) -> None:
    main = proxy_container(k8s)
    assert re.search(r"location = /proxy-health \{", TEMPLATE.read_text())
    for probe in ("readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"] == {"path": "/proxy-health", "port": "api"}
    assert main["resources"]["requests"]
    assert main["resources"]["limits"]
    ports = container_ports(k8s, "proxy")
    listens = [int(port) for port in re.findall(r"^\s*listen (\d+);", TEMPLATE.read_text(), re.MULTILINE)]
    assert sorted(ports.values()) == sorted(listens) == [8080, 8081]


def test_the_proxy_service_offers_the_ports_compose_publishes(
    k8s: Resources, compose: dict[str, Any]
) -> None:
    published = {
        int(container): int(host)
        for host, container in (entry.rsplit(":", 2)[1:] for entry in compose["services"]["proxy"]["ports"])
    }
    ports = container_ports(k8s, "proxy")
    service = service_ports(k8s, "proxy")
    assert {name: (port, ports[target]) for name, (port, target) in service.items()} == {
        "api": (published[8080], 8080),
        "page": (published[8081], 8081),
    }
    assert k8s[("Service", "proxy")]["spec"]["selector"] == {"app.kubernetes.io/name": "proxy"}


def test_the_k8s_proxy_names_the_gateway_and_page_services_in_full(k8s: Resources) -> None:
    """nginx's resolver ignores resolv.conf's search domains: the upstreams are full cluster names."""
    env = env_of(proxy_container(k8s), k8s)
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["CLUSTER_DOMAIN"] == "cluster.local"
    gateway_port = service_ports(k8s, "gateway")["http"][0]
    frontend_port = service_ports(k8s, "frontend")["http"][0]
    assert env["GATEWAY_UPSTREAM"] == f"gateway.$(POD_NAMESPACE).svc.$(CLUSTER_DOMAIN):{gateway_port}"
    assert env["FRONTEND_UPSTREAM"] == f"frontend.$(POD_NAMESPACE).svc.$(CLUSTER_DOMAIN):{frontend_port}"


def test_the_proxy_sends_the_secret_the_gateway_and_the_page_share(k8s: Resources) -> None:
    secret = {"secretKeyRef": {"name": "image-classifier-secrets", "key": "PROXY_SECRET"}}
    assert env_of(proxy_container(k8s), k8s)["PROXY_SECRET"] == secret
    for name in ("gateway", "frontend"):
        container = pod_spec(k8s[("Deployment", name)])["containers"][0]
        assert env_of(container, k8s)["PROXY_SECRET"] == secret, name


def test_forwarded_addresses_are_read_in_k8s_only(k8s: Resources, compose: dict[str, Any]) -> None:
    trusted = env_of(proxy_container(k8s), k8s)["REAL_IP_FROM"].split()
    assert trusted
    for cidr in trusted:
        network = ipaddress.ip_network(cidr)
        assert network.is_private, cidr  # pod addresses, never a public range
    # compose: the proxy is the edge, every client is the peer it sees
    assert compose["services"]["proxy"]["environment"]["REAL_IP_FROM"] == ""


def test_the_ingress_routes_only_to_the_proxy(k8s: Resources) -> None:
    ingresses = [resource for (kind, _), resource in k8s.items() if kind == "Ingress"]
    assert len(ingresses) == 1
    spec = ingresses[0]["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert "defaultBackend" not in spec
    backends = [path["backend"]["service"] for rule in spec["rules"] for path in rule["http"]["paths"]]
    assert {(b["name"], b["port"]["name"]) for b in backends} == {("proxy", "api"), ("proxy", "page")}
    # the Ingress controller lets through what the proxy takes (its own default is 1m)
    body = re.search(r"client_max_body_size (\d+)m;", TEMPLATE.read_text())
    annotations = ingresses[0]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == f"{body.group(1)}m"


# ---- who may connect (point 2 of the brief, read from the file itself) --------------------------------


def _policies() -> dict[str, list[dict[str, Any]]]:
    docs = yaml.safe_load_all((K8S_DIR / "network-policies.yaml").read_text())
    return {doc["metadata"]["name"]: doc["spec"].get("ingress", []) for doc in docs if doc}


def _rules(ingress: list[dict[str, Any]]) -> list[tuple[set[str], set[str]]]:
    """(sources, port names) per rule: `pod:<app>` or `namespace:<name>`."""
    rules = []
    for rule in ingress:
        sources = set()
        for peer in rule["from"]:
            if "podSelector" in peer:
                sources.add("pod:" + peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
            else:
                sources.add(
                    "namespace:" + peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                )
        assert all(p["protocol"] == "TCP" for p in rule["ports"])
        rules.append((sources, {p["port"] for p in rule["ports"]}))
    return rules


def test_the_api_only_from_the_proxy_and_page_the_metrics_only_from_monitoring(k8s: Resources) -> None:
    policies = _policies()
    assert _rules(policies["gateway"]) == [
        ({"pod:proxy", "pod:frontend"}, {"http"}),
        ({"namespace:monitoring"}, {"metrics"}),
    ]
    ports = container_ports(k8s, "gateway")
    config = k8s[("ConfigMap", "gateway-config")]["data"]
    assert ports == {"http": 8000, "metrics": int(config["GATEWAY_METRICS_PORT"])}
    annotations = k8s[("Deployment", "gateway")]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == config["GATEWAY_METRICS_PORT"]
    assert annotations["prometheus.io/path"] == "/metrics"


def test_the_page_only_from_the_proxy_the_proxy_only_from_the_ingress_controller() -> None:
    policies = _policies()
    assert _rules(policies["frontend"]) == [({"pod:proxy"}, {"http"})]
    assert _rules(policies["proxy"]) == [({"namespace:ingress-nginx"}, {"api", "page"})]


def test_monitoring_reaches_serving_on_the_rest_port_only(k8s: Resources) -> None:
    """Real TF Serving serves its metrics on the REST port, beside REST predict: no narrower port exists."""
    assert _rules(_policies()["serving"]) == [
        ({"pod:gateway"}, {"grpc"}),
        ({"namespace:monitoring"}, {"http"}),
    ]
    annotations = k8s[("Deployment", "serving")]["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == container_ports(k8s, "serving")["http"]


# ---- the start command -----------------------------------------------------------------------------------


def run_start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """deploy/nginx/start.sh writing under tmp_path, `nginx` a stand-in that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "nginx"
    fake.write_text('#!/bin/sh\necho "$@" > "$PROXY_RUN_DIR/nginx.args"\n')
    fake.chmod(0o755)
    given = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PROXY_RUN_DIR": str(tmp_path),
        "PROXY_TEMPLATE": str(TEMPLATE),
        "RESOLVER": "10.96.0.10",
        "PROXY_SECRET": "a1b2c3d4e5f60718",
        **env,
    }
    return subprocess.run(
        ["sh", str(START)], env=given, capture_output=True, text=True, timeout=30, check=False
    )


def test_without_real_ip_from_nothing_is_trusted(tmp_path: Path) -> None:
    result = run_start(tmp_path)
    assert result.returncode == 0, result.stderr
    conf = (tmp_path / "nginx.conf").read_text()
    assert f"include {tmp_path}/nginx-real-ip.conf;" in conf
    assert (tmp_path / "nginx-real-ip.conf").read_text() == ""
    assert not re.search(r"^\s*(set_real_ip_from|real_ip_header)", conf, re.MULTILINE)
    assert not re.search(r"@[A-Z_]+@", conf)  # every placeholder filled in
    assert 'proxy_set_header X-Proxy-Secret "a1b2c3d4e5f60718";' in conf
    assert (tmp_path / "nginx.args").read_text().split() == [
        "-c",
        f"{tmp_path}/nginx.conf",
        "-g",
        "daemon",
        "off;",
    ]


def test_real_ip_from_trusts_those_addresses_and_reads_x_forwarded_for(tmp_path: Path) -> None:
    result = run_start(
        tmp_path,
        REAL_IP_FROM="10.0.0.0/8,192.168.0.0/16 fd00::/8",
        GATEWAY_UPSTREAM="gateway.image-classifier.svc.cluster.local:8000",
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "nginx-real-ip.conf").read_text().splitlines() == [
        "set_real_ip_from 10.0.0.0/8;",
        "set_real_ip_from 192.168.0.0/16;",
        "set_real_ip_from fd00::/8;",
        "real_ip_header X-Forwarded-For;",
        "real_ip_recursive on;",
    ]
    conf = (tmp_path / "nginx.conf").read_text()
    assert "set $gateway gateway.image-classifier.svc.cluster.local:8000;" in conf
    # what goes upstream is the client's address as nginx now knows it, never the header as received
    assert conf.count("proxy_set_header X-Forwarded-For $remote_addr;") == 2
    assert "$proxy_add_x_forwarded_for" not in conf


@pytest.mark.parametrize("value", ["10.0.0.0/8;evil", "*", "0.0.0.0/0 } include /etc/passwd"])
def test_real_ip_from_takes_addresses_only(tmp_path: Path, value: str) -> None:
    result = run_start(tmp_path, REAL_IP_FROM=value)
    assert result.returncode == 1
    assert "REAL_IP_FROM" in result.stderr
    assert not (tmp_path / "nginx.args").exists()
