"""`--runtime auto`: serve each model version with the fastest runtime that passes the accuracy gate.

The rules:

1. Candidates are those named by `--auto_candidates` (default: tensorflow, openvino-f32, openvino-bf16)
   that this CPU runs natively: bf16 only with AVX512-BF16 or AMX. int8 is a candidate only when listed.
2. TensorFlow is the reference and always passes; every other candidate must pass the accuracy gate
   (serving/accuracy/gate.py: no more change than imperceptible noise causes, on the evaluation photos).
3. Of those that pass, the one with the most images per second wins: each runs the same batch of
   `timing_batch` JPEG evaluation photos (decode included; photos are uploaded as JPEG far more often
   than as PNG, whose decoding dominates otherwise) from as many threads at once as there are cores,
   as the server's request and batch threads do; best of `TIMING_ROUNDS`. One caller at a time would
   favour TensorFlow, which decodes in its graph on every core, over a runtime that decodes in Python.
4. The decision is cached beside the version (`assets.extra/openvino/runtime-choice-<key>.json`, or the
   user cache when the version folder is read-only), keyed by the export's fingerprint, the CPU (model and
   instruction sets), the runtime versions, the candidates and the gate's rule version; a restart on the
   same CPU loads the winner directly. Delete the file to decide again.
5. What was chosen, and why, is logged, kept in that file, and reported by the servable
   (`runtime_info`: model metadata, `x-model-*` response headers, the runtime_info metric).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from serving import cpu
from serving.accuracy import gate
from serving.accuracy.photos import evaluation_images
from serving.precisions import NO_NATIVE_BF16, PRECISIONS
from serving.servable import DEFAULT_SIGNATURE, Servable

log = logging.getLogger(__name__)

GATE_VERSION = 3  # bump when the rule here or in gate.py changes: cached decisions are then made again
TIMING_ROUNDS = 3
TIMING_CALLS = 4  # per thread and round
DEFAULT_CANDIDATES = ("tensorflow", "openvino-f32", "openvino-bf16")
IMAGE_INPUT = "image_bytes"


@dataclass(frozen=True)
class Candidate:
    runtime: str
    precision: str

    @property
    def name(self) -> str:
        return "tensorflow" if self.runtime == "tensorflow" else f"{self.runtime}-{self.precision}"

    @classmethod
    def parse(cls, name: str) -> Candidate:
        if name == "tensorflow":
            return cls("tensorflow", "f32")
        runtime, _, precision = name.partition("-")
        if runtime != "openvino" or precision not in PRECISIONS:
            raise ValueError(f"unknown candidate {name!r}: expected tensorflow or openvino-f32|bf16|int8")
        return cls(runtime, precision)


REFERENCE = Candidate("tensorflow", "f32")
Construct = Callable[[Candidate], Servable]


def parse_candidates(text: str) -> tuple[Candidate, ...]:
    names = [item.strip() for item in text.split(",") if item.strip()]
    candidates = tuple(dict.fromkeys(Candidate.parse(name) for name in names))
    if REFERENCE not in candidates:
        candidates = (REFERENCE, *candidates)  # the gate measures against it, so it is always there
    return candidates


def runnable_here(candidates: Sequence[Candidate]) -> tuple[list[Candidate], dict[str, str]]:
    """The candidates this CPU runs natively, and why the others were dropped."""
    from serving.openvino_runtime import precision as precisions

    kept, dropped = [], {}
    for candidate in candidates:
        if candidate.runtime == "openvino" and not precisions.runs_natively(candidate.precision):
            dropped[candidate.name] = NO_NATIVE_BF16
        else:
            kept.append(candidate)
    return kept, dropped


def _versions() -> str:
    found = []
    for package in ("tensorflow-cpu", "openvino"):
        try:
            found.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package}=none")
    return ",".join(found)


def cache_key(candidates: Sequence[Candidate]) -> str:
    import hashlib

    text = f"{GATE_VERSION}|{cpu.key()}|{_versions()}|{','.join(c.name for c in candidates)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cache_files(version_dir: Path, key: str) -> list[Path]:
    from serving.openvino_runtime import artefacts

    return [root / f"runtime-choice-{key}.json" for root in artefacts.cache_roots(version_dir)]


def read_decision(version_dir: Path, key: str) -> dict[str, Any] | None:
    from serving.openvino_runtime import artefacts

    fingerprint = artefacts.fingerprint(version_dir)
    for path in _cache_files(version_dir, key):
        try:
            decision = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(decision, dict):  # not a decision this code wrote: decide again
            continue
        if decision.get("fingerprint") == fingerprint and decision.get("key") == key:
            decision["file"] = str(path)
            return decision
    return None


def write_decision(version_dir: Path, key: str, decision: dict[str, Any]) -> Path | None:
    from serving.openvino_runtime import artefacts

    decision = {**decision, "key": key, "fingerprint": artefacts.fingerprint(version_dir)}
    for path in _cache_files(version_dir, key):
        staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            staging.write_text(json.dumps(decision, indent=1) + "\n", encoding="utf-8")
            os.replace(staging, path)
            return path
        except OSError as error:
            staging.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
            log.warning("cannot cache the runtime decision in %s: %s", path, error)
    return None


def _classify(servable: Servable) -> gate.Classify:
    def classify(images: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        outputs = servable.run(DEFAULT_SIGNATURE, {IMAGE_INPUT: np.array(list(images), dtype=object)})
        return np.asarray(outputs["class_ids"]), np.asarray(outputs["scores"])

    return classify


def images_per_second(servable: Servable, batch: Sequence[bytes]) -> float:
    classify = _classify(servable)
    classify(batch)  # warm this shape
    threads = os.cpu_count() or 1

    def calls(_: int) -> None:
        for _ in range(TIMING_CALLS):
            classify(batch)

    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(TIMING_ROUNDS):
            started = time.perf_counter()
            list(pool.map(calls, range(threads)))
            best = min(best, time.perf_counter() - started)
    return threads * TIMING_CALLS * len(batch) / best


def selection_info(decision: dict[str, Any]) -> dict[str, str]:
    """What the servable reports: short, ASCII (it becomes response headers)."""
    return {"selected_by": "auto", "selection": decision["selection"]}


def decide(
    version_dir: Path, candidates: Sequence[Candidate], construct: Construct, timing_batch: int
) -> tuple[dict[str, Any], Servable]:
    """Run the gate and the timing; the decision (for the cache) and the winner, loaded."""
    started = time.perf_counter()
    kept, dropped = runnable_here(candidates)
    images = list(evaluation_images())
    loaded: dict[str, Servable] = {REFERENCE.name: construct(REFERENCE)}
    for candidate in kept:
        if candidate != REFERENCE:
            try:
                loaded[candidate.name] = construct(candidate)
            except Exception as error:  # a candidate that cannot load is dropped, not fatal
                dropped[candidate.name] = f"failed to load: {error}"
                log.warning("auto: %s dropped: %s", candidate.name, error)

    engine = loaded["openvino-f32"].engine if "openvino-f32" in loaded else None  # type: ignore[attr-defined]
    result = gate.evaluate(
        images,
        _classify(loaded[REFERENCE.name]),
        {name: _classify(servable) for name, servable in loaded.items() if name != REFERENCE.name},
        pixels=engine.pixels(images) if engine is not None else None,
        network=engine.probabilities if engine is not None else None,
    )
    verdicts = result.verdicts
    for verdict in verdicts.values():
        log.info("auto: %s", verdict.summary())
    if not result.noise_network:
        log.info("auto: noise floor from jpeg95 only (no openvino-f32 network reproducing tensorflow)")
    passing = [REFERENCE.name, *(name for name, verdict in verdicts.items() if verdict.passed)]
    batch = [image for image in images if image.startswith(b"\xff\xd8")][: max(timing_batch, 1)]
    speeds = {name: images_per_second(loaded[name], batch) for name in passing}
    winner = max(passing, key=lambda name: speeds[name])
    ratio = speeds[winner] / speeds[REFERENCE.name]
    failed = [name for name, verdict in verdicts.items() if not verdict.passed]
    selection = f"{winner}: fastest of {len(passing)} passing the accuracy gate ({ratio:.2f}x tensorflow)"
    if failed:
        selection += f"; failed the gate: {', '.join(failed)}"
    decision = {
        "chosen": winner,
        "selection": selection,
        "cpu": cpu.describe(),
        "versions": _versions(),
        "candidates": [c.name for c in candidates],
        "dropped": dropped,
        "gate": result.to_json(),
        "images_per_second": {name: round(value, 2) for name, value in speeds.items()},
        "timing_batch": len(batch),
        "seconds": round(time.perf_counter() - started, 1),
        "decided_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    winner_servable = loaded.pop(winner)
    loaded.clear()  # the losers are released before the winner serves
    return decision, winner_servable


def load(
    name: str,
    version: int,
    version_dir: Path,
    candidates: Sequence[Candidate],
    construct: Construct,
    timing_batch: int,
) -> Servable:
    key = cache_key(candidates)
    decision = read_decision(version_dir, key)
    if decision is not None:
        servable = construct(Candidate.parse(decision["chosen"]))
        log.info(
            "auto: %s version %d: %s (cached in %s)", name, version, decision["selection"], decision["file"]
        )
    else:
        log.info(
            "auto: %s version %d: measuring %s on %s",
            name,
            version,
            ", ".join(c.name for c in candidates),
            cpu.describe(),
        )
        decision, servable = decide(version_dir, candidates, construct, timing_batch)
        path = write_decision(version_dir, key, decision)
        log.info(
            "auto: %s version %d: %s; speeds %s img/s; decided in %.1fs, cached in %s",
            name,
            version,
            decision["selection"],
            decision["images_per_second"],
            decision["seconds"],
            path,
        )
    servable.selection = selection_info(decision)
    return servable
