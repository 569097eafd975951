from __future__ import annotations

import re

from contracts import ports
from tests.deploy.conftest import ARCHITECTURE


def test_replicas_are_spaced_as_the_serving_contract_says() -> None:
    text = ARCHITECTURE.read_text()
    grpc, rest = (int(p) for p in re.search(r"serving replicas \(:(\d+) gRPC, :(\d+) REST\)", text).groups())
    second = re.search(r"a second local replica: (\d+)/(\d+)", text).groups()
    assert ports.replica_ports(2) == [(grpc, rest), tuple(int(p) for p in second)]
    assert ports.replica_ports(3, 9000, 9001)[-1] == (9020, 9021)
