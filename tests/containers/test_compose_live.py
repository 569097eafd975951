"""`make up SERVING=embedded` on a real Docker engine: flows, hardening and the proxy's bounds at run time,
then scaling, a killed replica, a model roll-out, the gateway's drain and a database restart under load, and
`make down`. One stack for the module; the tests run in this order and each leaves it serving."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from stack.procs import REPO_ROOT
from tests.containers.client import DOG, Load, predict, sign_up_and_in
from tests.containers.compose import MODEL, PROJECT, Stack

pytestmark = [pytest.mark.containers, pytest.mark.slow]

SERVICES = {"db", "redis", "serving", "gateway", "frontend", "proxy"}
RERESOLVE_SECONDS = 150  # replicas send GOAWAY after 60 s (+30 s grace): clients re-resolve within that


def history_ids(stack: Stack, token: str) -> set[int]:
    ids: set[int] = set()
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        offset = 0
        while True:
            page = client.get(
                "/model/predictions",
                params={"limit": 100, "offset": offset},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert page.status_code == 200, page.text
            items = page.json()["items"]
            ids |= {item["prediction_id"] for item in items}
            if len(items) < 100:
                return ids
            offset += 100


def test_the_original_flows_pass_through_the_proxy(stack: Stack, token: str) -> None:
    user = sign_up_and_in(stack.gateway_url, "flows@example.com")
    auth = {"Authorization": f"Bearer {user}"}
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        answer = predict(client, user, DOG.read_bytes())
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["success"] is True
        assert body["model"]["name"] == MODEL
        assert "dog" in body["prediction"] or body["score"] > 0.2, body
        feedback = {
            "score": body["score"],
            "predicted_class": body["prediction"],
            "image_file_name": body["image_file_name"],
            "feedback": "a dog indeed",
        }
        assert client.post("/feedback/", json=feedback, headers=auth).status_code in (200, 201)
        assert [f["feedback"] for f in client.get("/feedback/", headers=auth).json()] == ["a dog indeed"]
        history = client.get("/model/predictions", headers=auth).json()["items"]
        assert [item["prediction_id"] for item in history] == [body["prediction_id"]]
    page = httpx.get(stack.page_url + "/", timeout=30)
    assert page.status_code == 200
    assert "gradio" in page.text.lower()


def test_every_container_runs_hardened(stack: Stack, token: str) -> None:
    running = {
        stack.inspect(c)["Config"]["Labels"]["com.docker.compose.service"]: c for c in stack.containers()
    }
    assert set(running) == SERVICES
    for service, container in running.items():
        info = stack.inspect(container)
        host = info["HostConfig"]
        assert host["ReadonlyRootfs"] is True, service
        assert host["CapDrop"] == ["ALL"], service
        assert not host["CapAdd"], service
        assert "no-new-privileges:true" in host["SecurityOpt"], service
        assert host["Memory"] > 0, service
        assert host["NanoCpus"] > 0, service
        uid = stack.docker("exec", container, "id", "-u").stdout.strip()
        assert uid != "0", f"{service} runs as root"
        published = [b for bindings in (host["PortBindings"] or {}).values() for b in bindings or []]
        if service == "proxy":
            assert {b["HostIp"] for b in published} == {"127.0.0.1"}
            assert {b["HostPort"] for b in published} == {
                stack.values["GATEWAY_PORT"],
                stack.values["FRONTEND_PORT"],
            }
        else:
            assert published == [], f"{service} publishes {published}: only the proxy may"


def raw_exchange(port: int, request: bytes, read_timeout: float = 20) -> tuple[bytes, float]:
    """Send `request`, read until the proxy closes: (everything it answered, seconds until it closed)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer, time.monotonic() - started


def test_the_proxy_bounds_headers_bodies_and_time(stack: Stack, token: str) -> None:
    port = int(stack.values["GATEWAY_PORT"])
    huge_header = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    answer, _ = raw_exchange(port, huge_header)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    # a declared 27 MiB body is refused before a byte of it is read (client_max_body_size)
    too_big = (
        b"POST /model/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 28311552\r\n\r\n"
    )
    answer, _ = raw_exchange(port, too_big)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # headers that never end: the connection is closed once client_header_timeout (10 s) has passed
    answer, seconds = raw_exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n", read_timeout=30)
    assert b"200" not in answer.split(b"\r\n", 1)[0]
    assert seconds < 25, f"a request with unfinished headers was held {seconds:.0f} s"


def test_a_forged_forwarded_for_does_not_make_a_client_local(stack: Stack, token: str) -> None:
    # the API docs are for loopback clients only: inside the gateway's container they answer ...
    gateway = stack.containers("gateway")[0]
    local = stack.exec_python(
        gateway,
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/openapi.json').status)",
    )
    assert local.strip() == "200"
    # ... but a client of the proxy that claims to be 127.0.0.1 is still the address the proxy saw
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        assert client.get("/openapi.json").status_code != 200
        forged = client.get(
            "/openapi.json", headers={"X-Forwarded-For": "127.0.0.1", "X-Proxy-Secret": "guess"}
        )
        assert forged.status_code != 200


def http_from(
    stack: Stack, container: str, url: str, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """GET `url` from inside `container` (the project's network): (status, body)."""
    code = (
        "import urllib.error, urllib.request\n"
        f"request = urllib.request.Request({url!r}, headers={headers or {}!r})\n"
        "try:\n"
        "    answer = urllib.request.urlopen(request, timeout=10)\n"
        "    print(answer.status); print(answer.read().decode())\n"
        "except urllib.error.HTTPError as error:\n"
        "    print(error.code)\n"
    )
    status, _, body = stack.exec_python(container, code).partition("\n")
    return int(status), body


def test_the_gateway_metrics_port_answers_inside_the_network_only(stack: Stack, token: str) -> None:
    """Issue 21: /metrics on GATEWAY_METRICS_PORT (8001), every worker's merged, never published; the API port
    (and so the proxy) answers 404 there, with the operator's token too."""
    gateway = stack.containers("gateway")[0]
    info = stack.inspect(gateway)
    assert (info["HostConfig"]["PortBindings"] or {}) == {}
    assert (info["NetworkSettings"]["Ports"] or {}).get("8001/tcp") is None  # exposed, bound to no host port
    operator = {"Authorization": f"Bearer {stack.values['METRICS_TOKEN']}"}
    frontend = stack.containers("frontend")[0]  # another container of the network
    status, body = http_from(stack, frontend, "http://gateway:8001/metrics", operator)
    assert status == 200
    assert "gateway_http_request_duration_seconds_count" in body
    assert http_from(stack, frontend, "http://gateway:8001/metrics")[0] == 401
    assert http_from(stack, frontend, "http://gateway:8000/metrics", operator)[0] == 404
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        assert client.get("/metrics", headers=operator).status_code == 404


def test_the_proxy_reads_forwarded_addresses_from_real_ip_from_peers_only(stack: Stack, token: str) -> None:
    """The k8s setting on a real nginx: the proxy of deploy/nginx/ started with REAL_IP_FROM = this network
    believes the X-Forwarded-For of a peer in it (the docs, for loopback clients only, open to a forwarded
    127.0.0.1), takes the rightmost untrusted address, and compose's own proxy (REAL_IP_FROM empty) believes
    none, even from inside the network."""
    gateway = stack.containers("gateway")[0]
    (network,) = stack.inspect(gateway)["NetworkSettings"]["Networks"]
    subnet = json.loads(stack.docker("network", "inspect", network).stdout)[0]["IPAM"]["Config"][0]["Subnet"]
    nginx = REPO_ROOT / "deploy" / "nginx"
    name = f"{PROJECT}-real-ip"
    stack.docker("rm", "--force", name, check=False)
    stack.docker(
        "run", "--detach", "--rm", "--name", name, "--network", network,
        "--read-only", "--tmpfs", "/tmp:uid=101,gid=101", "--user", "101:101", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges:true",
        "--env", f"PROXY_SECRET={stack.values['PROXY_SECRET']}", "--env", f"REAL_IP_FROM={subnet}",
        "--volume", f"{nginx / 'proxy.conf.template'}:/etc/nginx/proxy.conf.template:ro",
        "--volume", f"{nginx / 'start.sh'}:/etc/nginx/start.sh:ro",
        "--entrypoint", "/bin/sh", stack.values["NGINX_IMAGE"], "/etc/nginx/start.sh",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if http_from(stack, gateway, f"http://{name}:8080/proxy-health")[0] == 200:
                    break
            except AssertionError:  # not listening yet
                pass
            assert time.monotonic() < deadline, stack.docker("logs", name, check=False).stderr
            time.sleep(1)
        docs = f"http://{name}:8080/openapi.json"
        assert http_from(stack, gateway, docs, {"X-Forwarded-For": "127.0.0.1"})[0] == 200
        assert http_from(stack, gateway, docs)[0] != 200  # the peer itself: a container, not loopback
        # real_ip_recursive: the rightmost address that is not a trusted peer is the client
        assert http_from(stack, gateway, docs, {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"})[0] != 200
        assert (
            http_from(stack, gateway, "http://proxy:8080/openapi.json", {"X-Forwarded-For": "127.0.0.1"})[0]
            != 200
        )
    finally:
        stack.docker("rm", "--force", name, check=False)


def test_make_scale_spreads_predictions_over_every_replica(stack: Stack, token: str) -> None:
    stack.make("scale", "N=3")
    replicas = stack.wait_healthy("serving", 3)
    assert len(stack.containers("serving")) == 3
    before = {r: stack.replica_predictions(r) for r in replicas}
    deadline = time.monotonic() + RERESOLVE_SECONDS
    with Load(stack.gateway_url, token, workers=3) as load:
        while True:
            grown = {r for r in replicas if stack.replica_predictions(r) > before[r]}
            if grown == set(replicas):
                break
            assert time.monotonic() < deadline, f"only {len(grown)} of 3 replicas served within the window"
            time.sleep(3)
    assert load.failures() == []


def test_a_killed_replica_under_load_fails_no_request(stack: Stack, token: str) -> None:
    replicas = stack.wait_healthy("serving", 2)
    with Load(stack.gateway_url, token, workers=4) as load:
        load.wait_for(20)
        stack.docker("kill", replicas[0])
        load.wait_for(60)
    statuses = load.statuses()
    assert load.failures() == [], statuses
    assert statuses[200] >= 80


def test_a_new_model_version_rolls_out_under_load_without_a_failure(stack: Stack, token: str) -> None:
    stack.wait_healthy("serving", 1)
    with Load(stack.gateway_url, token, workers=2) as load:
        load.wait_for(10)
        versions_before = {o.model_version for o in load.outcomes if o.status == 200}
        stack.compose("run", "--rm", "-e", "EXPORT_NEW_VERSION=1", "export", timeout=600)
        deadline = time.monotonic() + 180
        while not any(o.model_version == max(versions_before) + 1 for o in load.outcomes[-20:]):
            assert time.monotonic() < deadline, "the new version was not served"
            time.sleep(1)
        load.wait_for(10)
    assert load.failures() == [], load.statuses()


def test_stopping_the_gateway_answers_every_request_in_flight(stack: Stack, token: str) -> None:
    # enough requests at once that they queue at the replicas, so the stop finds them in flight
    with Load(stack.gateway_url, token, workers=12) as load:
        load.wait_for(24)
        stop_started = time.monotonic()
        stack.compose("stop", "gateway", timeout=60)
        load.stop()
    sent_before = [o for o in load.outcomes if o.sent < stop_started]
    assert len(sent_before) >= 24
    assert [o for o in sent_before if o.status != 200] == [], load.statuses()
    # requests sent once the gateway closed its port get the proxy's 502 (refused) or 504 (its address gone),
    # never a cut connection (status 0)
    assert [o for o in load.outcomes if o.status not in (200, 502, 504)] == [], load.statuses()
    stack.compose("start", "gateway")
    stack.wait_healthy("gateway", 1)
    stack.wait_serving_through_proxy(token)


def test_a_database_restart_gives_503_then_service_with_every_acknowledged_prediction(
    stack: Stack, token: str
) -> None:
    db = stack.containers("db")[0]
    with Load(stack.gateway_url, token, workers=2) as load:
        load.wait_for(10)
        stack.compose("stop", "db", timeout=60)
        load.wait_for(10)
        stack.compose("start", "db", timeout=60)
        stack.wait_healthy("db", 1)
        marker = len(load.outcomes)
        deadline = time.monotonic() + 60
        while not [o for o in load.outcomes[marker:] if o.status == 200]:
            assert time.monotonic() < deadline, "no prediction succeeded after the database came back"
            time.sleep(0.5)
        load.wait_for(10)
    statuses = load.statuses()
    # Every request of the outage is a 503, the moment PostgreSQL shuts down included (asyncpg's
    # CannotConnectNowError and InternalClientError, gateway/main.py). No request hangs or loses its
    # connection.
    assert set(statuses) <= {200, 503}, [(o.status, o.detail) for o in load.failures()]
    assert statuses[503] > 0, "the outage went unnoticed"
    acknowledged = {o.prediction_id for o in load.outcomes if o.status == 200}
    assert None not in acknowledged
    assert acknowledged <= history_ids(stack, token)
    assert db in stack.containers("db")


def test_make_down_leaves_no_container_and_with_volumes_no_volume(stack: Stack, token: str) -> None:
    stack.make("down")
    assert stack.containers(all_states=True) == []
    volumes = stack.docker(
        "volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={PROJECT}"
    )
    assert len(volumes.stdout.split()) == 3  # kept: db-data, uploads, models
    stack.make("down", "VOLUMES=1")
    volumes = stack.docker(
        "volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={PROJECT}"
    )
    assert volumes.stdout.split() == []
    print(json.dumps({"make_up_seconds": round(stack.up_seconds, 1)}))
