"""int8 post-training static quantization of a converted export, calibrated on real photos.

    python -m serving.openvino_ir.build --model-dir models/resnet50/1 --precision int8 [--force]

Calibration set: the colour and grey photographs that scikit-image ships (no download), each as it is,
mirrored, and cropped five ways (centre 60 %, four 75 % corners), then decoded-and-resized exactly like
the served requests (the export's own front, see decode.py). Never random noise: activation ranges must
be those of real images. NNCF computes them (min/max per tensor, mixed preset: symmetric weights,
asymmetric activations) and applies fast bias correction; the result is cached as the `int8` IR with the
set and the settings written into its runtime.json (by build.py, which stores what this returns).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from serving.accuracy.photos import photo
from serving.openvino_ir.artefacts import Artefact
from serving.openvino_ir.decode import FrontSpec, resize

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
    "stereo_motorcycle_left",
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
    return [resize(v, front)[None] for name in CALIBRATION_PHOTOS for v in variants(photo(f"skimage:{name}"))]


def quantize(
    base: Artefact, version_dir: Path, *, progress: Callable[[str], None] = log.info
) -> tuple[Any, dict[str, Any]]:
    """The int8 network quantized from the f32 IR `base`, and the runtime.json info to store with it."""
    import nncf
    import openvino as ov

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
            "command": f"python -m serving.openvino_ir.build --model-dir {version_dir} --precision int8",
            "photos": [f"skimage.data.{name}" for name in CALIBRATION_PHOTOS],
            "variants": "as is, mirrored; each whole, central 60% crop, four 75% corner crops",
            "images": len(samples),
            "nncf": nncf.__version__,
            "preset": "MIXED",
            "fast_bias_correction": True,
            "seconds": round(seconds, 1),
        },
    }
    progress(f"quantized {version_dir} in {seconds:.0f}s")
    return quantized, info
