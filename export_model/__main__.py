"""CLI: ``python -m export_model --model M [--weights imagenet|random|PATH] [--version N] [--out DIR]``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from export_model.choices import DEFAULT_WEIGHTS, MODELS, WEIGHT_KEYWORDS


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m export_model",
        description="Export an ImageNet classifier to OUT/MODEL/VERSION/ as a TF Serving SavedModel.",
    )
    parser.add_argument("--model", choices=MODELS, default="resnet50")
    parser.add_argument(
        "--weights",
        help="resnet50: imagenet (Keras download, default) | random (tests only) | PATH to a Keras .h5; "
        "efficientnet-lite0: bundled (default) | random | PATH to a .pth; tiny: random",
    )
    parser.add_argument("--version", type=int, help="version number (default: the next free one)")
    parser.add_argument(
        "--out", type=Path, default=Path("models"), help="models base folder (default: models)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    weights = args.weights or DEFAULT_WEIGHTS[args.model]
    if (
        weights not in WEIGHT_KEYWORDS and not Path(weights).is_file()
    ):  # answer before paying for importing TF
        print(f"export_model: error: --weights {weights}: no such file", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from export_model.errors import ExportError
    from export_model.exporter import export

    try:
        path = export(args.model, weights, args.out, args.version)
    except ExportError as exc:
        print(f"export_model: error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
