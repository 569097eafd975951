"""Run in its own process: import modules with grpcio-tools unimportable, and report as JSON the import
error (if any), the files written or removed under the watched folders, and the TensorFlow modules loaded.

    python tests/tfs_protos/import_probe.py --watch DIR [--watch DIR ...] MODULE [MODULE ...]

Run by path, not with -m, so that PYTHONPATH alone says where the packages come from.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

BLOCKED = "grpc_tools"
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# audit events that change the file system, and which of their arguments are paths
CHANGES = {"os.mkdir": (0,), "os.rename": (0, 1), "os.remove": (0,), "os.rmdir": (0,), "shutil.rmtree": (0,)}


class BlockBuildTools:
    """A meta-path finder that makes grpcio-tools look uninstalled."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name == BLOCKED or name.startswith(f"{BLOCKED}."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: build-time only)", name=name)
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--watch", action="append", default=[])
    parser.add_argument("modules", nargs="+")
    args = parser.parse_args()
    # An editable install of the project (the venv's `pip install -e`) maps tfs_protos's subpackages to the
    # installed checkout, whose modules are generated: drop it so PYTHONPATH alone says where code comes from.
    sys.meta_path[:] = [f for f in sys.meta_path if "Editable" not in getattr(f, "__name__", "")]
    watched = [os.path.abspath(folder) + os.sep for folder in args.watch]
    changed: list[str] = []

    def record(path: Any) -> None:
        if isinstance(path, (str, bytes, os.PathLike)):
            absolute = os.path.abspath(os.fsdecode(path))
            if any(absolute.startswith(folder) for folder in watched):
                changed.append(absolute)

    def audit(event: str, event_args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = event_args
            writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & WRITE_FLAGS)
            if writes:
                record(path)
        elif event in CHANGES:
            for index in CHANGES[event]:
                record(event_args[index])

    sys.addaudithook(audit)
    sys.meta_path.insert(0, BlockBuildTools())
    error = None
    try:
        for module in args.modules:
            importlib.import_module(module)
    except ImportError as failure:
        error = f"{type(failure).__name__}: {failure}"
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_serving"))
    print(json.dumps({"error": error, "changed": changed, "tensorflow_modules": loaded}))


if __name__ == "__main__":
    main()
