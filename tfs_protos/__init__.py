"""TF Serving's protocol messages, generated once at install from the vendored `.proto` files in `protos/`.

One set of `.proto` files for every package that speaks TF Serving without TensorFlow's own modules:
`tfs_protos.apis` (PredictionService, ModelService: the gateway's client) and `tfs_protos.config`
(the config-file messages the `tensorflow-serving-api` wheel lacks: the embedded server).

`python -m tfs_protos.build` (`make install`, `make protos`, the gateway image's build stage) writes
`tfs_protos/generated/` (git-ignored). It needs grpcio-tools, the build-only `protos` dependency group;
nothing imports grpcio-tools at run time, and importing never writes anything. The messages keep TF
Serving's full names, field numbers and gRPC method paths (the same wire format), but live under this
package's module path in a private descriptor pool (`tfs_protos.pool`), so they share a process with the
official `tensorflow` / `tensorflow_serving` modules. Nothing here imports TensorFlow.

This module imports nothing of the package, so the generator runs where nothing is generated yet.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROTO_DIR = PACKAGE_DIR / "protos"
GENERATED_DIR = PACKAGE_DIR / "generated"
GENERATED_PACKAGE = f"{__name__}.generated"
REGENERATE = "run `make install` (or `python -m tfs_protos.build`)"


class NotGeneratedError(ImportError):
    """The generated modules are missing, or were generated from other `.proto` files."""


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.rglob("*.proto"))


def source_digest() -> str:
    """sha256 of the vendored `.proto` files, names and contents; the generated package records it."""
    digest = hashlib.sha256()
    for path in proto_files():
        digest.update(f"{path.relative_to(PROTO_DIR).as_posix()}\0".encode())
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def require_generated() -> None:
    """Say what to do when the generated modules are missing or stale, before anything imports them."""
    try:
        generated = importlib.import_module(GENERATED_PACKAGE)
    except ModuleNotFoundError as error:
        if error.name != GENERATED_PACKAGE:
            raise
        raise NotGeneratedError(f"{GENERATED_DIR} does not exist: {REGENERATE}") from None
    if getattr(generated, "SOURCE_DIGEST", None) != source_digest():
        stale = f"{GENERATED_DIR} was generated from other .proto files than those in {PROTO_DIR}"
        raise NotGeneratedError(f"{stale}: {REGENERATE}")
