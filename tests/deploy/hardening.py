"""Checks of issue 11's deploy hardening, as functions that list what is wrong (tests assert the list is
empty, and that a broken copy gives a non-empty one)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

Doc = dict[str, Any]
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
NAME_LABEL = "app.kubernetes.io/name"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
ANY = "*"
# an explicit version tag (or a digest); never `latest`, never none
PINNED_IMAGE = re.compile(r"[\w./-]+(:(?!latest$)[\w][\w.-]*|@sha256:[0-9a-f]{64})")


def pod_templates(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    """(kind/name, pod template) of every workload, CronJobs included."""
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "CronJob":
            yield where, doc["spec"]["jobTemplate"]["spec"]["template"]
        elif doc["kind"] in WORKLOAD_KINDS:
            yield where, doc["spec"]["template"]


def container_problems(docs: list[Doc]) -> list[str]:
    """Every container (init containers too) is locked down; main containers have a writable /tmp."""
    problems = []
    for where, template in pod_templates(docs):
        spec = template["spec"]
        pod = spec.get("securityContext", {})
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        init = [(c, False) for c in spec.get("initContainers", [])]
        for container, is_main in init + [(c, True) for c in spec["containers"]]:
            own = container.get("securityContext", {})
            name = f"{where}/{container['name']}"

            def effective(key: str, own: dict[str, Any] = own, pod: dict[str, Any] = pod) -> Any:
                return own.get(key, pod.get(key))

            if own.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{name}: allowPrivilegeEscalation is not false")
            if own.get("privileged"):
                problems.append(f"{name}: privileged")
            if own.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{name}: readOnlyRootFilesystem is not true")
            capabilities = own.get("capabilities", {})
            if capabilities.get("drop") != ["ALL"] or capabilities.get("add"):
                problems.append(f"{name}: capabilities are not drop [ALL]")
            if effective("runAsNonRoot") is not True:
                problems.append(f"{name}: runAsNonRoot is not true")
            user = effective("runAsUser")
            if not isinstance(user, int) or user == 0:
                problems.append(f"{name}: no numeric non-root runAsUser ({user!r})")
            if (effective("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append(f"{name}: seccompProfile is not RuntimeDefault")
            if not PINNED_IMAGE.fullmatch(container["image"]):
                problems.append(f"{name}: image {container['image']} has no explicit version tag")
            if is_main:
                tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
                if not tmp or tmp[0].get("readOnly") or tmp[0]["name"] not in volumes:
                    problems.append(f"{name}: no writable volume at /tmp")
    return problems


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels is understood here: {selector}"
    return selector.get("matchLabels", {}).items() <= labels.items()


def _port_matches(rule_port: dict[str, Any], port: dict[str, Any]) -> bool:
    if rule_port.get("protocol", "TCP") != port.get("protocol", "TCP"):
        return False
    wanted = rule_port.get("port")
    return wanted is None or wanted in (port.get("name"), port["containerPort"])


def _peer_sources(peer: dict[str, Any], docs: list[Doc]) -> set[str]:
    """`pod:<app name>` for pods of this namespace, `namespace:<name>` for whole namespaces."""
    assert "ipBlock" not in peer, "ipBlock peers are not used"
    if "namespaceSelector" in peer:
        assert "podSelector" not in peer, "namespace+pod peers are not used"
        labels = peer["namespaceSelector"].get("matchLabels", {})
        assert set(labels) <= {NAMESPACE_LABEL}, labels
        return {f"namespace:{labels[NAMESPACE_LABEL]}"} if labels else {"namespace:*"}
    selector = peer["podSelector"]
    return {
        f"pod:{template['metadata']['labels'].get(NAME_LABEL)}"
        for _, template in pod_templates(docs)
        if _selects(selector, template["metadata"].get("labels", {}))
    } or {"pod:<none>"}


def ingress_sources(docs: list[Doc], labels: dict[str, str], port: dict[str, Any]) -> set[str]:
    """Who may open a connection to `port` of a pod with `labels`: {ANY} when no policy isolates it."""
    policies = [
        doc
        for doc in docs
        if doc["kind"] == "NetworkPolicy"
        and "Ingress" in doc["spec"].get("policyTypes", ["Ingress"])
        and _selects(doc["spec"]["podSelector"], labels)
    ]
    if not policies:
        return {ANY}
    sources: set[str] = set()
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if rule.get("ports") and not any(_port_matches(p, port) for p in rule["ports"]):
                continue
            peers = rule.get("from")
            if not peers:
                sources.add(ANY)
            for peer in peers or []:
                sources |= _peer_sources(peer, docs)
    return sources


def reachability(docs: list[Doc]) -> dict[tuple[str, str], set[str]]:
    """(app name, port name) -> allowed sources, for every container port of every workload."""
    table = {}
    for _, template in pod_templates(docs):
        labels = template["metadata"].get("labels", {})
        for container in template["spec"]["containers"]:
            for port in container.get("ports", []):
                table[(labels.get(NAME_LABEL), port.get("name"))] = ingress_sources(docs, labels, port)
    return table


def compose_problems(compose: dict[str, Any]) -> list[str]:
    """Every service: CPU and memory limits, read-only root, no-new-privileges, no capabilities, a
    writable /tmp, and an image with an explicit version tag."""
    problems = []
    for name, service in compose["services"].items():
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        if not limits.get("memory") or not limits.get("cpus"):
            problems.append(f"{name}: no memory and CPU limits")
        if service.get("read_only") is not True:
            problems.append(f"{name}: read_only is not true")
        if "no-new-privileges:true" not in service.get("security_opt", []):
            problems.append(f"{name}: no no-new-privileges")
        if service.get("cap_drop") != ["ALL"] or service.get("cap_add") or service.get("privileged"):
            problems.append(f"{name}: capabilities are not drop [ALL]")
        if not any(entry.split(":")[0] == "/tmp" for entry in service.get("tmpfs", [])):
            problems.append(f"{name}: no tmpfs at /tmp")
        if not PINNED_IMAGE.fullmatch(service.get("image", "")):
            problems.append(f"{name}: image {service.get('image')} has no explicit version tag")
        if str(service.get("user", "")).split(":")[0] in ("0", "root"):
            problems.append(f"{name}: runs as root")
    return problems
