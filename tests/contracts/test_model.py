"""The model contract's names, as tests/data/ARCHITECTURE.md writes them."""

from __future__ import annotations

import re

from contracts import model
from tests.deploy.conftest import ARCHITECTURE


def test_the_contract_is_the_documented_one() -> None:
    line = next(x for x in ARCHITECTURE.read_text().splitlines() if x.startswith("- Signature `"))
    names = re.findall(r"`([a-z_]+)`", line)
    assert names[:2] == [model.SIGNATURE, model.INPUT]
    assert {model.LABELS, model.SCORES, model.CLASS_IDS} <= set(names)
    assert f"K = {model.TOP_K}" in line
