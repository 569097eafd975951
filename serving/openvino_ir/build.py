"""Fill the IR cache: convert the export (f32) and quantize it (int8) when no valid IR is cached.

    python -m serving.openvino_ir.build --model-dir models/resnet50 [--precision int8] [--force]

Sits above `convert`, `quantize` (which build) and `artefacts` (which stores), so none of them imports
another to get its work done.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from model_repository import resolve_version_dir
from serving.openvino_ir.artefacts import Artefact, find, write
from serving.precisions import IR_KIND, PRECISIONS, Precision, parse

log = logging.getLogger(__name__)


def ensure(
    version_dir: Path | str,
    precision: str,
    *,
    force: bool = False,
    progress: Callable[[str], None] = log.info,
) -> Artefact:
    """The cached IR that `precision` runs, building what is missing (TensorFlow is needed only then)."""
    kind = IR_KIND[parse(precision)]
    version_dir = Path(version_dir)
    if not (version_dir / "saved_model.pb").exists():
        raise FileNotFoundError(f"{version_dir} is not an exported model version (no saved_model.pb)")
    f32 = None if force and kind == "f32" else find(version_dir, "f32")
    if f32 is None:
        from serving.openvino_ir.convert import convert

        converted = convert(version_dir)
        info = {"front": converted.front.to_json(), "labels": converted.labels, "top_k": converted.top_k}
        f32 = write(version_dir, "f32", converted.model, info)
    if kind == "f32":
        return f32
    found = None if force else find(version_dir, "int8")
    if found is not None:
        return found
    from serving.openvino_ir.quantize import quantize

    model, info = quantize(f32, version_dir, progress=progress)
    artefact = write(version_dir, "int8", model, info)
    progress(f"wrote {artefact.directory}")
    return artefact


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.openvino_ir.build",
        description="Build (or rebuild) the OpenVINO IR of an exported model version.",
    )
    parser.add_argument(
        "--model-dir", type=Path, required=True, help="a version folder (models/resnet50/1) or a model folder"
    )
    parser.add_argument("--precision", choices=PRECISIONS, default="int8")
    parser.add_argument("--force", action="store_true", help="rebuild even if a valid IR is cached")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        version_dir = resolve_version_dir(args.model_dir)
    except FileNotFoundError as exc:
        print(f"build: error: {exc}", file=sys.stderr)
        return 2
    precision: Precision = args.precision
    artefact = ensure(version_dir, precision, force=args.force, progress=print)
    print(artefact.xml)
    return 0


if __name__ == "__main__":
    sys.exit(main())
