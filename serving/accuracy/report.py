"""The accuracy figures per precision for one exported version: the gate's verdicts and labelled top-1.

    python -m serving.accuracy.report --model-dir models/efficientnet-lite0 [--precisions f32 bf16 int8]

Prints a markdown table (the README's runtime section quotes it) and, with `--json`, the whole result.
Precisions this CPU cannot run natively are listed as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model_repository import resolve_version_dir
from serving import cpu, engines
from serving.accuracy import gate
from serving.accuracy.photos import evaluation_images, labelled_images
from serving.engines import TENSORFLOW
from serving.precisions import NO_NATIVE_BF16, PRECISIONS, parse, runs_natively


def evaluate(version_dir: Path, precisions: Sequence[str]) -> dict[str, Any]:
    """Gate verdicts and labelled accuracy of TensorFlow and each OpenVINO precision on this CPU."""
    from serving.engines.openvino import OpenVINOEngine

    images = list(evaluation_images())
    reference = engines.classifier(engines.load(TENSORFLOW, version_dir))
    f32 = OpenVINOEngine(version_dir, "f32")
    labels = [str(label) for label in f32.labels]
    candidates = {"openvino-f32": engines.classifier(f32)} if "f32" in precisions else {}
    skipped = {}
    for precision in (parse(p) for p in precisions if p != "f32"):
        if not runs_natively(precision):
            skipped[f"openvino-{precision}"] = NO_NATIVE_BF16
            continue
        candidates[f"openvino-{precision}"] = engines.classifier(OpenVINOEngine(version_dir, precision))
    result = gate.evaluate(images, reference, candidates, f32.pixels(images), f32.network)
    labelled = labelled_images()
    accuracy = {"tensorflow": gate.labelled_accuracy(reference, labelled, labels)}
    accuracy.update(
        {name: gate.labelled_accuracy(classify, labelled, labels) for name, classify in candidates.items()}
    )
    return {
        "version_dir": str(version_dir),
        "cpu": cpu.describe(),
        "images": len(images),
        "labelled_photos": len(labelled),
        "gate": result.to_json(),
        "labelled_top1": accuracy,
        "skipped": skipped,
    }


def markdown(result: dict[str, Any]) -> str:
    floor = result["gate"]["floor"]
    lines = [
        f"{result['version_dir']} on {result['cpu']}: {result['images']} evaluation images, "
        f"{result['labelled_photos']} labelled photos",
        "",
        "| | top-1 flips | top-5 overlap | score drift | gate | labelled top-1 |",
        "|---|---|---|---|---|---|",
    ]
    for name, agreement in floor["perturbations"].items():
        lines.append(
            f"| noise: {name} | {agreement['flip_rate']:.1%} | {agreement['top5_overlap']:.3f} | "
            f"{agreement['score_drift']:.4f} | | |"
        )
    bound = floor["bound"]
    lines.append(
        f"| **floor** (worst of the above) | {bound['flip_rate']:.1%} | {bound['top5_overlap']:.3f} | "
        f"{bound['score_drift']:.4f} | | |"
    )
    lines.append(
        f"| tensorflow (reference) | 0 | 1 | 0 | reference | {result['labelled_top1']['tensorflow']:.0%} |"
    )
    for name, verdict in result["gate"]["verdicts"].items():
        a = verdict["agreement"]
        lines.append(
            f"| {name} | {a['flip_rate']:.1%} | {a['top5_overlap']:.3f} | {a['score_drift']:.4f} | "
            f"{'passes' if verdict['passed'] else 'fails'} | {result['labelled_top1'][name]:.0%} |"
        )
    for name, reason in result["skipped"].items():
        lines.append(f"| {name} | skipped: {reason} | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.accuracy.report", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model-dir", type=Path, required=True, help="a version folder or a model folder")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = evaluate(resolve_version_dir(args.model_dir), args.precisions)
    print(json.dumps(result, indent=1) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
