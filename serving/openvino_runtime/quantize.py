"""int8 post-training static quantization of a converted export, calibrated on real photos.

    python -m serving.openvino_runtime.quantize --model-dir models/resnet50/1 [--force]

Calibration set: the colour and grey photographs that scikit-image ships (no download), each as it is,
mirrored, and cropped five ways (centre 60 %, four 75 % corners), then decoded-and-resized exactly like
the served requests (the export's own front, see decode.py). Never random noise: activation ranges must
be those of real images. NNCF computes them (min/max per tensor, mixed preset: symmetric weights,
asymmetric activations) and applies fast bias correction; the result is cached as the `int8` IR with the
set and the settings written into its runtime.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import model_repository
from serving.openvino_runtime import artefacts
from serving.openvino_runtime.decode import FrontSpec, resize

log = logging.getLogger(__name__)

# scikit-image's bundled photographs (skimage.data functions that need no download). Textures and
# diagrams are left out; the grey ones are fed as RGB, as decode_image(channels=3) does.
CALIBRATION_PHOTOS = (
    "astronaut",
    "cat",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "stereo_motorcycle",
    "camera",
    "coins",
    "moon",
    "clock",
    "page",
    "text",
    "cell",
    "brick",
    "grass",
    "gravel",
)


def photo(name: str) -> np.ndarray:
    """One scikit-image sample photo as uint8 RGB [h, w, 3]."""
    import skimage.data

    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
        image = image[0]
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def variants(image: np.ndarray) -> list[np.ndarray]:
    """The photo, its mirror image, a central 60 % crop and four 75 % corner crops of each."""
    out = []
    for base in (image, image[:, ::-1]):
        height, width = base.shape[:2]
        ch, cw = int(height * 0.6), int(width * 0.6)
        top, left = (height - ch) // 2, (width - cw) // 2
        kh, kw = int(height * 0.75), int(width * 0.75)
        out += [
            base,
            base[top : top + ch, left : left + cw],
            base[:kh, :kw],
            base[:kh, -kw:],
            base[-kh:, :kw],
            base[-kh:, -kw:],
        ]
    return [np.ascontiguousarray(v) for v in out]


def calibration_set(front: FrontSpec) -> list[np.ndarray]:
    """Network input rows [1, H, W, 3] of every calibration variant."""
    return [resize(v, front)[None] for name in CALIBRATION_PHOTOS for v in variants(photo(name))]


def quantize_version(version_dir: Path, *, progress: Callable[[str], None] = log.info) -> artefacts.Artefact:
    """Quantize the f32 IR of `version_dir` (converting first if needed); write and return the int8 IR."""
    import nncf
    import openvino as ov

    version_dir = Path(version_dir)
    base = artefacts.ensure_f32(version_dir)
    samples = calibration_set(base.front)
    progress(
        f"calibrating {version_dir} on {len(samples)} images ({len(CALIBRATION_PHOTOS)} photos x 12 variants)"
    )
    started = time.perf_counter()
    model = ov.Core().read_model(base.xml)
    quantized = nncf.quantize(
        model,
        nncf.Dataset(samples),
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(samples),
        fast_bias_correction=True,
    )
    seconds = time.perf_counter() - started
    info = {
        "front": base.front.to_json(),
        "labels": base.labels,
        "top_k": base.top_k,
        "calibration": {
            "command": f"python -m serving.openvino_runtime.quantize --model-dir {version_dir}",
            "photos": [f"skimage.data.{name}" for name in CALIBRATION_PHOTOS],
            "variants": "as is, mirrored; each whole, central 60% crop, four 75% corner crops",
            "images": len(samples),
            "nncf": nncf.__version__,
            "preset": "MIXED",
            "fast_bias_correction": True,
            "seconds": round(seconds, 1),
        },
    }
    artefact = artefacts.write(version_dir, "int8", quantized, info)
    progress(f"wrote {artefact.directory} in {seconds:.0f}s")
    return artefact


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.openvino_runtime.quantize",
        description="Build (or rebuild) the int8 OpenVINO IR of an exported model version.",
    )
    parser.add_argument(
        "--model-dir", type=Path, required=True, help="a version folder (models/resnet50/1) or a model folder"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if a valid int8 IR is cached")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        version_dir = model_repository.resolve_version_dir(args.model_dir)
    except FileNotFoundError as exc:
        print(f"quantize: error: {exc}", file=sys.stderr)
        return 2
    existing = artefacts.find(version_dir, "int8")
    if existing is not None and not args.force:
        print(f"{existing.directory} is up to date (use --force to rebuild)")
        return 0
    artefact = quantize_version(version_dir, progress=print)
    print(artefact.xml)
    return 0


if __name__ == "__main__":
    sys.exit(main())
