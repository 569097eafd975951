"""`--runtime auto`'s rules in process: candidates, what this CPU runs, the decision cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import openvino as ov
import pytest

from serving.engines import EngineSpec, auto
from serving.engines.auto import parse_candidates
from serving.precisions import AUTO_CANDIDATES

BF16_CAPABLE = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def test_the_reference_is_always_a_candidate_and_int8_only_when_named() -> None:
    assert [c.name for c in parse_candidates("openvino-f32")] == ["tensorflow", "openvino-f32"]
    default = [c.name for c in parse_candidates(AUTO_CANDIDATES)]
    assert "openvino-int8" not in default
    assert "openvino-int8" in [c.name for c in parse_candidates("tensorflow,openvino-int8")]
    with pytest.raises(ValueError, match="unknown candidate 'openvino-fp16'"):
        parse_candidates("openvino-fp16")


def test_bf16_is_a_candidate_only_where_the_cpu_runs_it() -> None:
    kept, dropped = auto.runnable_here(parse_candidates("tensorflow,openvino-f32,openvino-bf16"))
    names = [c.name for c in kept]
    if BF16_CAPABLE:
        assert names == ["tensorflow", "openvino-f32", "openvino-bf16"]
        assert dropped == {}
    else:
        assert names == ["tensorflow", "openvino-f32"]
        assert dropped == {"openvino-bf16": "this CPU has neither AVX512-BF16 nor AMX"}


def test_the_decision_cache_is_keyed_by_candidates_and_export(tmp_path: Path, tiny_model_base: Path) -> None:
    version_dir = tmp_path / "tiny" / "1"
    shutil.copytree(tiny_model_base / "1", version_dir)
    candidates = parse_candidates("tensorflow,openvino-f32")
    key = auto.cache_key(candidates)
    assert key != auto.cache_key(parse_candidates("tensorflow,openvino-int8"))
    assert auto.read_decision(version_dir, key) is None
    path = auto.write_decision(version_dir, key, {"chosen": "openvino-f32", "selection": "x"})
    assert path is not None
    assert path.is_relative_to(version_dir)
    assert auto.read_decision(version_dir, key)["chosen"] == "openvino-f32"  # type: ignore[index]
    assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".runtime-choice")]
    # a file this code did not write (valid JSON, not a decision) means: decide again, not a crash
    original = path.read_text()
    path.write_text("[]")
    assert auto.read_decision(version_dir, key) is None
    path.write_text(original)
    # a changed export (another graph) is decided again
    (version_dir / "saved_model.pb").write_bytes((version_dir / "saved_model.pb").read_bytes() + b"\0")
    assert auto.read_decision(version_dir, key) is None


def test_an_unknown_candidate_stops_the_server_at_start() -> None:
    from serving.loader import RuntimeUnavailableError, servable_loader

    with pytest.raises(RuntimeUnavailableError, match="--auto_candidates: unknown candidate 'gpu'"):
        servable_loader("auto", "f32", auto_candidates="tensorflow,gpu")


def test_candidate_names_round_trip() -> None:
    for name in ("tensorflow", "openvino-f32", "openvino-bf16", "openvino-int8"):
        assert EngineSpec.parse(name).name == name
