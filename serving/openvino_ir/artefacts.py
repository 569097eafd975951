"""The converted networks, cached beside the export: `<version>/assets.extra/openvino/<kind>/`.

Two kinds of IR: `f32` (the converted network, also run in bf16: bf16 is an execution precision of the
CPU plugin, not a different network) and `int8` (the post-training quantized network). Each folder holds
`model.xml`, `model.bin` and `runtime.json` (decode/resize spec, labels, top-k, the fingerprint of the
SavedModel it came from, the OpenVINO version, and for int8 the calibration set). A folder is written
under a temporary name and renamed in one step, so a concurrent reader (another replica) never sees half
of it; a stale one (the SavedModel changed) is replaced. When the version folder is read-only the cache
goes to `$XDG_CACHE_HOME/image-classifier/openvino/<fingerprint>/` instead.

This module only reads and writes the cache; `build.py` fills it (conversion, quantization).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openvino as ov

from model_repository.publish import staged_directory
from serving.openvino_ir.decode import FrontSpec

log = logging.getLogger(__name__)

CACHE_SUBDIR = Path("assets.extra") / "openvino"
INFO_FILE = "runtime.json"
MODEL_FILE = "model.xml"


@dataclass(frozen=True)
class Artefact:
    """One cached IR and what the runtime needs around it."""

    directory: Path
    front: FrontSpec
    labels: list[str]
    top_k: int
    info: dict[str, Any]

    @property
    def xml(self) -> Path:
        return self.directory / MODEL_FILE


def fingerprint(version_dir: Path) -> str:
    """sha256 of the SavedModel graph and variable index: changes whenever the export does."""
    digest = hashlib.sha256()
    for name in ("saved_model.pb", "variables/variables.index"):
        path = version_dir / name
        if path.exists():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_roots(version_dir: Path) -> list[Path]:
    """Where the cache may live, preferred first."""
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [
        version_dir / CACHE_SUBDIR,
        user_cache / "image-classifier" / "openvino" / fingerprint(version_dir),
    ]


def find(version_dir: Path, kind: str) -> Artefact | None:
    """A valid cached IR of `kind` ("f32" or "int8") for this exact export, or None."""
    expected = fingerprint(version_dir)
    for root in cache_roots(version_dir):
        directory = root / kind
        try:
            info = json.loads((directory / INFO_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if info.get("source_fingerprint") != expected or info.get("openvino_version") != ov.get_version():
            log.info("ignoring stale OpenVINO cache %s", directory)
            continue
        if (directory / MODEL_FILE).exists():
            return Artefact(
                directory, FrontSpec.from_json(info["front"]), info["labels"], info["top_k"], info
            )
    return None


def write(version_dir: Path, kind: str, model: ov.Model, info: dict[str, Any]) -> Artefact:
    """Save `model` as the cached IR of `kind`, atomically; returns where it ended up."""
    info = {
        **info,
        "kind": kind,
        "source_fingerprint": fingerprint(version_dir),
        "openvino_version": ov.get_version(),
    }
    errors = []
    for root in cache_roots(version_dir):
        final = root / kind
        try:
            with staged_directory(final, replace=True) as staging:  # a stale one (find() refused it) goes
                ov.save_model(model, staging / MODEL_FILE, compress_to_fp16=False)
                (staging / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            errors.append(f"{root}: {exc}")
            continue
        log.info("wrote OpenVINO %s IR to %s", kind, final)
        return Artefact(final, FrontSpec.from_json(info["front"]), info["labels"], info["top_k"], info)
    raise OSError(f"cannot write the OpenVINO {kind} cache anywhere: {'; '.join(errors)}")
