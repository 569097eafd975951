"""The accuracy gate: does a faster runtime/precision change the answers more than imperceptible noise does?

The rule, stated once:

1. The reference is TensorFlow running the export's `serving_default` (what TF Serving runs) on the
   evaluation photos (`photos.evaluation_images()`).
2. The noise floor is what the reference itself does under perturbations no person can see:
   - `uniform`: every input pixel moved by U(-0.5, 0.5) grey levels (the rounding error of 8-bit images),
   - `gaussian`: every input pixel moved by N(0, 0.5) grey levels,
   - `jpeg95`: the photo decoded and re-encoded as a quality-95 JPEG.
   The pixel perturbations are applied to the decoded, resized batch the network receives, so they run
   through the OpenVINO f32 network, which stands in for TensorFlow only after it has matched it (same
   top-1 on every photo, top-5 scores within `F32_SCORE_TOLERANCE`); each is averaged over `SEEDS` seeds.
   For each measure the floor is the worst of the perturbations.
3. A candidate passes when, against the reference on the same photos,
   - its top-1 flip rate is no higher than the floor's flip rate,
   - its mean top-5 overlap is no lower than the floor's,
   - its mean top-5 score drift (the largest difference among the five sorted scores, averaged over the
     photos) is no higher than the floor's.

Top-1 agreement alone cannot tell rounding from damage: on photos whose two best classes are nearly tied
any change flips the answer. Measured against the floor, a precision is held to exactly the stability the
reference model has, on the photos it is judged on, on this CPU.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

from contracts.model import TOP_K
from serving.topk import top_k

# classify(encoded images) -> (class_ids [n, k] int64, scores [n, k] float32), sorted by score
Classify = Callable[[Sequence[bytes]], tuple[np.ndarray, np.ndarray]]
# probabilities(pixel batch [n, h, w, 3]) -> [n, classes]; the network after decoding and resizing
Probabilities = Callable[[np.ndarray], np.ndarray]

SEEDS = 3
F32_SCORE_TOLERANCE = 1e-3
CHUNK = 16


@dataclass(frozen=True)
class Agreement:
    """How far one set of answers is from the reference's on the same photos."""

    images: int
    flip_rate: float  # top-1 class differs
    top5_overlap: float  # |top-5 ∩ reference top-5| / 5, mean
    score_drift: float  # max |Δ| over the 5 sorted scores, mean

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def agreement(reference: tuple[np.ndarray, np.ndarray], answers: tuple[np.ndarray, np.ndarray]) -> Agreement:
    ref_ids, ref_scores = reference
    ids, scores = answers
    if ids.shape != ref_ids.shape:
        raise ValueError(f"answers of shape {ids.shape} against a reference of {ref_ids.shape}")
    overlap = [len(set(a[:TOP_K]) & set(b[:TOP_K])) / TOP_K for a, b in zip(ids, ref_ids, strict=True)]
    return Agreement(
        images=len(ids),
        flip_rate=float(np.mean(ids[:, 0] != ref_ids[:, 0])),
        top5_overlap=float(np.mean(overlap)),
        score_drift=float(np.mean(np.abs(scores[:, :TOP_K] - ref_scores[:, :TOP_K]).max(axis=1))),
    )


def _mean(items: Sequence[Agreement]) -> Agreement:
    return Agreement(
        images=items[0].images,
        flip_rate=float(np.mean([a.flip_rate for a in items])),
        top5_overlap=float(np.mean([a.top5_overlap for a in items])),
        score_drift=float(np.mean([a.score_drift for a in items])),
    )


@dataclass(frozen=True)
class NoiseFloor:
    perturbations: dict[str, Agreement]

    @property
    def bound(self) -> Agreement:
        """The worst of the perturbations, measure by measure."""
        values = list(self.perturbations.values())
        return Agreement(
            images=values[0].images,
            flip_rate=max(a.flip_rate for a in values),
            top5_overlap=min(a.top5_overlap for a in values),
            score_drift=max(a.score_drift for a in values),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "perturbations": {name: a.to_json() for name, a in self.perturbations.items()},
            "bound": self.bound.to_json(),
        }


@dataclass(frozen=True)
class Verdict:
    candidate: str
    passed: bool
    agreement: Agreement
    bound: Agreement
    reasons: tuple[str, ...]  # the measures that failed, empty when passed

    def summary(self) -> str:
        a, b = self.agreement, self.bound
        text = (
            f"{self.candidate}: top-1 flips {a.flip_rate:.1%} (floor {b.flip_rate:.1%}), top-5 overlap "
            f"{a.top5_overlap:.3f} (floor {b.top5_overlap:.3f}), score drift {a.score_drift:.4f} "
            f"(floor {b.score_drift:.4f})"
        )
        return f"{text}: {'passes' if self.passed else 'fails: ' + '; '.join(self.reasons)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "passed": self.passed,
            "agreement": self.agreement.to_json(),
            "bound": self.bound.to_json(),
            "reasons": list(self.reasons),
        }


def judge(candidate: str, measured: Agreement, floor: NoiseFloor) -> Verdict:
    bound = floor.bound
    reasons = []
    if measured.flip_rate > bound.flip_rate:
        reasons.append(f"flips {measured.flip_rate:.1%} > {bound.flip_rate:.1%}")
    if measured.top5_overlap < bound.top5_overlap:
        reasons.append(f"top-5 overlap {measured.top5_overlap:.3f} < {bound.top5_overlap:.3f}")
    if measured.score_drift > bound.score_drift:
        reasons.append(f"score drift {measured.score_drift:.4f} > {bound.score_drift:.4f}")
    return Verdict(candidate, not reasons, measured, bound, tuple(reasons))


def in_chunks(classify: Classify, images: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    parts = [classify(images[i : i + CHUNK]) for i in range(0, len(images), CHUNK)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _probabilities(network: Probabilities, pixels: np.ndarray) -> np.ndarray:
    return np.concatenate([network(pixels[i : i + CHUNK]) for i in range(0, len(pixels), CHUNK)])


def reencode_jpeg(data: bytes, quality: int = 95) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def jpeg_noise(
    reference: tuple[np.ndarray, np.ndarray], images: Sequence[bytes], classify_reference: Classify
) -> dict[str, Agreement]:
    """The reference against itself on its photos re-encoded as quality-95 JPEGs."""
    return {"jpeg95": agreement(reference, in_chunks(classify_reference, [reencode_jpeg(i) for i in images]))}


def pixel_noise(
    reference: tuple[np.ndarray, np.ndarray], pixels: np.ndarray, network: Probabilities
) -> dict[str, Agreement]:
    """The reference under U(±0.5) and N(0, 0.5) pixel noise, run through `network` on the decoded batch
    `pixels`; nothing ({}) when `network` does not reproduce the reference there (see the rule)."""
    if not stands_in_for_reference(reference, pixels, network):
        return {}
    rng = np.random.default_rng(0)
    noises: dict[str, Callable[[tuple[int, ...]], np.ndarray]] = {
        "uniform": lambda shape: rng.uniform(-0.5, 0.5, shape),
        "gaussian": lambda shape: rng.normal(0.0, 0.5, shape),
    }
    found = {}
    for name, noise in noises.items():
        runs = []
        for _ in range(SEEDS):
            noisy = pixels + noise(pixels.shape).astype(pixels.dtype)
            runs.append(agreement(reference, top_k(_probabilities(network, noisy))))
        found[name] = _mean(runs)
    return found


def stands_in_for_reference(
    reference: tuple[np.ndarray, np.ndarray], pixels: np.ndarray, network: Probabilities
) -> bool:
    """Whether `network` on `pixels` gives the reference's answers (so its noise runs are the reference's)."""
    ids, scores = top_k(_probabilities(network, pixels))
    return (
        bool(np.all(ids[:, 0] == reference[0][:, 0]))
        and float(np.abs(scores - reference[1]).max()) <= F32_SCORE_TOLERANCE
    )


@dataclass(frozen=True)
class GateResult:
    floor: NoiseFloor
    verdicts: dict[str, Verdict]

    @property
    def noise_network(self) -> bool:
        """Whether the pixel-noise perturbations were measured."""
        return "uniform" in self.floor.perturbations

    def to_json(self) -> dict[str, Any]:
        return {
            "floor": self.floor.to_json(),
            "verdicts": {name: verdict.to_json() for name, verdict in self.verdicts.items()},
            "pixel_noise_measured": self.noise_network,
        }


def evaluate(
    images: Sequence[bytes],
    classify_reference: Classify,
    candidates: dict[str, Classify],
    pixels: np.ndarray | None = None,
    network: Probabilities | None = None,
) -> GateResult:
    """The whole rule at once: reference answers, its noise floor, and a verdict for each candidate.

    `pixels`/`network`: the decoded batch and a network (OpenVINO f32) for the pixel perturbations; used
    only if it reproduces the reference on these photos. (`--runtime auto` takes the same steps one
    engine at a time, serving/engines/auto.py.)"""
    reference = in_chunks(classify_reference, images)
    perturbations = jpeg_noise(reference, images, classify_reference)
    if pixels is not None and network is not None:
        perturbations |= pixel_noise(reference, pixels, network)
    floor = NoiseFloor(perturbations)
    verdicts = {
        name: judge(name, agreement(reference, in_chunks(classify, images)), floor)
        for name, classify in candidates.items()
    }
    return GateResult(floor, verdicts)


def labelled_accuracy(
    classify: Classify, labelled: Sequence[tuple[bytes, frozenset[str]]], labels: Sequence[str]
) -> float:
    """Share of labelled photos whose top-1 class is one of their acceptable labels."""
    ids, _ = in_chunks(classify, [image for image, _ in labelled])
    hits = [labels[int(row[0])] in accepted for row, (_, accepted) in zip(ids, labelled, strict=True)]
    return float(np.mean(hits))
