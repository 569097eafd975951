"""`--runtime auto`: serve each model version with the fastest engine that passes the accuracy gate.

The rules:

1. Candidates are the engines named by `--auto_candidates` (default: tensorflow, openvino-f32,
   openvino-bf16) that this CPU runs natively: bf16 only with AVX512-BF16 or AMX. int8 is a candidate only
   when listed. TensorFlow, the reference, is always one.
2. TensorFlow always passes; every other candidate must pass the accuracy gate (serving/accuracy/gate.py:
   no more change than imperceptible noise causes, on the evaluation photos).
3. Of those that pass, the one with the most images per second wins: each answers the same batch of
   `timing_batch` JPEG evaluation photos as one request through the engine (`prepare`, then `run`: what a
   request costs the server, decode included; photos are uploaded as JPEG far more often than as PNG,
   whose decoding dominates otherwise) from as many threads at once as there are cores (serving/engines/
   timing.py), best of `TIMING_ROUNDS`.
4. The decision is made in a child process (`python -m serving.auto_decide`), which loads one engine at
   a time and exits: the server's memory afterwards is that of the winner alone, and the peak is one
   engine, not all of them. The decision is cached beside the version (`assets.extra/openvino/
   runtime-choice-<key>.json`, or the user cache when the version folder is read-only), keyed by the
   export's fingerprint, the CPU (model and instruction sets), the runtime versions, the candidates and
   the gate's rule version; a restart on the same CPU loads the winner directly. Delete the file to decide
   again. An export job can decide once for every replica (`python -m serving.auto_decide`).
5. What was chosen, and why, is logged, kept in that file, and reported by the servable (`runtime_info`:
   model metadata, `x-model-*` response headers, the runtime_info metric).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from model_repository.publish import write_text
from serving import cpu, engines
from serving.accuracy import gate
from serving.accuracy.photos import evaluation_images
from serving.engines import TENSORFLOW, EngineSpec
from serving.engines.timing import throughput
from serving.precisions import NO_NATIVE_BF16, runs_natively

log = logging.getLogger(__name__)

GATE_VERSION = 4  # bump when the rule here or in gate.py changes: cached decisions are then made again
TIMING_ROUNDS = 3
TIMING_CALLS = 4  # per thread and round
NOISE_NETWORK = EngineSpec("openvino", "f32")  # stands in for TensorFlow under pixel noise (gate.py)


def parse_candidates(text: str) -> tuple[EngineSpec, ...]:
    names = [item.strip() for item in text.split(",") if item.strip()]
    candidates = tuple(dict.fromkeys(EngineSpec.parse(name) for name in names))
    if TENSORFLOW not in candidates:
        candidates = (TENSORFLOW, *candidates)  # the gate measures against it, so it is always there
    return candidates


def runnable_here(candidates: Sequence[EngineSpec]) -> tuple[list[EngineSpec], dict[str, str]]:
    """The candidates this CPU runs natively, and why the others were dropped."""
    kept, dropped = [], {}
    for candidate in candidates:
        if candidate.runtime == "openvino" and not runs_natively(candidate.precision):
            dropped[candidate.name] = NO_NATIVE_BF16
        else:
            kept.append(candidate)
    return kept, dropped


# --- the cache ---------------------------------------------------------------------------------------
def _versions() -> str:
    found = []
    for package in ("tensorflow-cpu", "openvino"):
        try:
            found.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package}=none")
    return ",".join(found)


def cache_key(candidates: Sequence[EngineSpec]) -> str:
    text = f"{GATE_VERSION}|{cpu.key()}|{_versions()}|{','.join(c.name for c in candidates)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cache_files(version_dir: Path, key: str) -> list[Path]:
    from serving.openvino_ir import artefacts

    return [root / f"runtime-choice-{key}.json" for root in artefacts.cache_roots(version_dir)]


def read_decision(version_dir: Path, key: str) -> dict[str, Any] | None:
    from serving.openvino_ir import artefacts

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
    from serving.openvino_ir import artefacts

    decision = {**decision, "key": key, "fingerprint": artefacts.fingerprint(version_dir)}
    for path in _cache_files(version_dir, key):
        try:
            write_text(path, json.dumps(decision, indent=1) + "\n")
            return path
        except OSError as error:
            log.warning("cannot cache the runtime decision in %s: %s", path, error)
    return None


# --- deciding (in the child process) -----------------------------------------------------------------
def _images_per_second(engine: engines.Engine, batch: list[bytes]) -> float:
    measured = throughput(engines.classifier(engine), [batch], calls=TIMING_CALLS, rounds=TIMING_ROUNDS)
    return measured.images_per_second


def decide(version_dir: Path, candidates: Sequence[EngineSpec], timing_batch: int) -> dict[str, Any]:
    """Run the gate and the timing, one engine loaded at a time; the decision (as cached)."""
    from serving.engines.openvino import OpenVINOEngine

    started = time.perf_counter()
    kept, dropped = runnable_here(candidates)
    images = list(evaluation_images())
    batch = [image for image in images if image.startswith(b"\xff\xd8")][: max(timing_batch, 1)]

    engine = engines.load(TENSORFLOW, version_dir)
    classify_reference = engines.classifier(engine)
    reference = gate.in_chunks(classify_reference, images)
    perturbations = gate.jpeg_noise(reference, images, classify_reference)
    speeds = {TENSORFLOW.name: _images_per_second(engine, batch)}
    del engine, classify_reference
    gc.collect()

    verdicts: dict[str, gate.Verdict] = {}
    # openvino-f32 first: once it reproduces TensorFlow, its network measures the pixel-noise floor
    for spec in sorted((c for c in kept if c != TENSORFLOW), key=lambda c: c != NOISE_NETWORK):
        try:
            candidate = engines.load(spec, version_dir)
        except Exception as error:  # a candidate that cannot load is dropped, not fatal
            dropped[spec.name] = f"failed to load: {error}"
            log.warning("auto: %s dropped: %s", spec.name, error)
            continue
        if spec == NOISE_NETWORK and isinstance(candidate, OpenVINOEngine):
            perturbations |= gate.pixel_noise(reference, candidate.pixels(images), candidate.network)
        answers = gate.in_chunks(engines.classifier(candidate), images)
        verdict = gate.judge(spec.name, gate.agreement(reference, answers), gate.NoiseFloor(perturbations))
        verdicts[spec.name] = verdict
        log.info("auto: %s", verdict.summary())
        if verdict.passed:
            speeds[spec.name] = _images_per_second(candidate, batch)
        del candidate
        gc.collect()
    result = gate.GateResult(gate.NoiseFloor(perturbations), verdicts)
    if not result.noise_network:
        log.info("auto: noise floor from jpeg95 only (no openvino-f32 network reproducing tensorflow)")

    winner = max(speeds, key=lambda name: speeds[name])
    ratio = speeds[winner] / speeds[TENSORFLOW.name]
    failed = [name for name, verdict in verdicts.items() if not verdict.passed]
    selection = f"{winner}: fastest of {len(speeds)} passing the accuracy gate ({ratio:.2f}x tensorflow)"
    if failed:
        selection += f"; failed the gate: {', '.join(failed)}"
    return {
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


# --- choosing (in the server) ------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    spec: EngineSpec
    decision: dict[str, Any]

    @property
    def selection(self) -> dict[str, str]:
        """What the servable reports: short, ASCII (it becomes response headers)."""
        return {"selected_by": "auto", "selection": str(self.decision["selection"])}


class DecisionFailedError(RuntimeError):
    pass


def choose(version_dir: Path, candidates: Sequence[EngineSpec], timing_batch: int) -> Choice:
    """The cached decision for this version, or a new one made by `python -m serving.auto_decide`."""
    key = cache_key(candidates)
    decision = read_decision(version_dir, key)
    which = f"{version_dir.parent.name} version {version_dir.name}"
    if decision is not None:
        log.info("auto: %s: %s (cached in %s)", which, decision["selection"], decision["file"])
        return Choice(EngineSpec.parse(decision["chosen"]), decision)
    log.info("auto: %s: measuring %s on %s", which, ", ".join(c.name for c in candidates), cpu.describe())
    command = [sys.executable, "-m", "serving.auto_decide", f"--version-dir={version_dir}"]
    command += [f"--candidates={','.join(c.name for c in candidates)}", f"--timing-batch={timing_batch}"]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)  # its log: our stderr
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise DecisionFailedError(f"{' '.join(command)} exited with code {done.returncode}")
    decision = json.loads(lines[-1])
    log.info(
        "auto: %s: %s; speeds %s img/s; decided in %.1fs, cached in %s",
        which,
        decision["selection"],
        decision["images_per_second"],
        decision["seconds"],
        decision.get("file"),
    )
    return Choice(EngineSpec.parse(decision["chosen"]), decision)
