"""Where the page's "not sure" line is drawn: which top-1 score separates right answers from wrong ones on
the shipped photos.

    python -m serving.accuracy.confidence --model-dir models/efficientnet-lite0

The photos, all shipped in installed packages (`serving.accuracy.photos`):

- each `LABELLED` photo in the gate's nine variants (rotated, flipped, cropped, resized): right when the
  top-1 label is one a person accepts for it, else wrong;
- the evaluation photos whose subject has no ImageNet class at all (`NO_CLASS`: a portrait, a dahlia,
  micrographs, deep space), in the same variants: any answer is wrong.

For each candidate threshold (every observed score, and the midpoints between them) an answer at or above it
counts as "sure"; the threshold chosen is the one that gets the most photos on the right side (sure and
right, or unsure and wrong), the lowest such on ties, so that a right answer is hidden as rarely as possible.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from contracts.labels import imagenet_labels
from serving.accuracy.gate import Classify, in_chunks
from serving.accuracy.photos import LABELLED, encode, photo, variants

# Evaluation photos with no ImageNet class for their subject (photos.py leaves them out of LABELLED for
# that reason); the clock and the coins are left out here too: ImageNet has clocks and coin-like classes.
NO_CLASS = (
    "skimage:astronaut",
    "sklearn:flower.jpg",
    "skimage:hubble_deep_field",
    "skimage:immunohistochemistry",
    "skimage:retina",
)


@dataclass(frozen=True)
class Calibration:
    threshold: float  # top-1 scores at or above it are shown as an answer, below as "not sure"
    photos: int
    right: int  # top-1 acceptable
    separated: float  # share on the right side of the threshold
    right_below: int  # right answers the threshold calls unsure
    wrong_above: int  # wrong answers it calls sure
    right_scores: list[float]
    wrong_scores: list[float]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def calibration_images() -> list[tuple[bytes, frozenset[str]]]:
    """(encoded image, acceptable labels): every variant of each labelled and no-class photo, JPEG."""
    sources = [(item.source, item.labels) for item in LABELLED]
    sources += [(source, frozenset[str]()) for source in NO_CLASS]
    return [
        (encode(variant, "JPEG", quality=90), labels)
        for source, labels in sources
        for variant in variants(photo(source))
    ]


def separation(right: Sequence[float], wrong: Sequence[float], threshold: float) -> int:
    return sum(s >= threshold for s in right) + sum(s < threshold for s in wrong)


def choose(right: Sequence[float], wrong: Sequence[float]) -> float:
    """The threshold that puts the most answers on their side; the lowest of the best."""
    scores = sorted({*right, *wrong})
    candidates = sorted({*scores, *((a + b) / 2 for a, b in itertools.pairwise(scores))})
    best = max(separation(right, wrong, t) for t in candidates)
    return min(t for t in candidates if separation(right, wrong, t) == best)


def calibrate(classify: Classify, labels: Sequence[str]) -> Calibration:
    images = calibration_images()
    ids, scores = in_chunks(classify, [image for image, _ in images])
    right: list[float] = []
    wrong: list[float] = []
    for row, top, (_, accepted) in zip(ids, scores, images, strict=True):
        (right if labels[int(row[0])] in accepted else wrong).append(round(float(top[0]), 4))
    threshold = round(choose(right, wrong), 2)
    return Calibration(
        threshold=threshold,
        photos=len(images),
        right=len(right),
        separated=separation(right, wrong, threshold) / len(images),
        right_below=sum(s < threshold for s in right),
        wrong_above=sum(s >= threshold for s in wrong),
        right_scores=sorted(right),
        wrong_scores=sorted(wrong),
    )


def calibrate_version(version_dir: Path) -> Calibration:
    """With TensorFlow running the export's `serving_default` (the reference the gate uses)."""
    from serving import engines
    from serving.engines import TENSORFLOW

    return calibrate(engines.classifier(engines.load(TENSORFLOW, version_dir)), imagenet_labels())


def main(argv: list[str] | None = None) -> int:
    from model_repository import resolve_version_dir

    parser = argparse.ArgumentParser(
        prog="python -m serving.accuracy.confidence", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model-dir", type=Path, required=True, help="a version folder or a model folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = calibrate_version(resolve_version_dir(args.model_dir))
    print(json.dumps(result.to_json(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
