"""The OpenVINO runtime against the TensorFlow SavedModel it was converted from (real ImageNet weights).

Evaluation images: 13 real photos (scikit-image's and scikit-learn's; the scikit-learn two and the right
motorcycle frame are not in the int8 calibration set) in 9 variants each (as is, rotated 90 and 15
degrees, flipped upside down, cropped three ways, halved, enlarged 1.3x; the calibration set only mirrors
and crops), alternately JPEG and PNG: 117 images, decoded by each runtime from the bytes.
"""

from __future__ import annotations

import io
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
import skimage.data
import tensorflow as tf
from PIL import Image
from sklearn.datasets import load_sample_image

from serving.openvino_runtime import artefacts
from serving.openvino_runtime.runtime import OpenVINORuntime, UnsupportedPrecisionError
from stack.procs import PYTHON, Service

pytestmark = pytest.mark.slow

INT8_TOP1_FLOOR = 0.75
BF16_CAPABLE = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def _photos() -> list[np.ndarray]:
    names = ("astronaut", "cat", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
    photos = [_rgb(getattr(skimage.data, name)()) for name in (*names, "camera", "coins", "clock")]
    photos.append(skimage.data.stereo_motorcycle()[1])
    return [*photos, load_sample_image("china.jpg"), load_sample_image("flower.jpg")]


def _variants(image: np.ndarray) -> list[np.ndarray]:
    height, width = image.shape[:2]
    pil = Image.fromarray(image)
    return [
        image,
        np.rot90(image),
        image[::-1],
        image[height // 10 : height - height // 10, width // 10 : width - width // 10],
        np.asarray(pil.resize((width // 2, height // 2), Image.Resampling.BILINEAR)),
        image[: height // 2],
        image[:, : 2 * width // 3],
        np.asarray(pil.resize((int(width * 1.3), int(height * 1.3)), Image.Resampling.BICUBIC)),
        np.asarray(pil.rotate(15)),
    ]


@pytest.fixture(scope="module")
def eval_images() -> list[bytes]:
    out = []
    for i, photo in enumerate(_photos()):
        for j, variant in enumerate(_variants(photo)):
            buffer = io.BytesIO()
            fmt = "JPEG" if (i + j) % 2 else "PNG"
            Image.fromarray(np.ascontiguousarray(variant)).save(buffer, fmt, quality=85)
            out.append(buffer.getvalue())
    return out


@pytest.fixture(scope="module")
def version_dir(efficientnet_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the export, so the IR cache written beside it touches no shared fixture."""
    target = tmp_path_factory.mktemp("openvino") / "efficientnet-lite0" / "1"
    shutil.copytree(efficientnet_base / "1", target)
    return target


@pytest.fixture(scope="module")
def reference(version_dir: Path, eval_images: list[bytes]) -> dict[str, np.ndarray]:
    serve = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    parts = [serve(image_bytes=tf.constant(eval_images[i : i + 16])) for i in range(0, len(eval_images), 16)]
    return {key: np.concatenate([part[key].numpy() for part in parts]) for key in ("class_ids", "scores")}


@pytest.fixture(scope="module")
def f32_runtime(version_dir: Path) -> OpenVINORuntime:
    return OpenVINORuntime(version_dir, "f32")


def _agreement(runtime: OpenVINORuntime, images: list[bytes], reference: dict[str, np.ndarray]) -> dict:
    parts = [runtime.predict(images[i : i + 16]) for i in range(0, len(images), 16)]
    ids = np.concatenate([part[2] for part in parts])
    scores = np.concatenate([part[1] for part in parts])
    expected_ids = reference["class_ids"]
    figures = {
        "images": len(images),
        "top1": float(np.mean(ids[:, 0] == expected_ids[:, 0])),
        "top1_disagreements": int(np.sum(ids[:, 0] != expected_ids[:, 0])),
        "top5_overlap": float(
            np.mean([len(set(a) & set(b)) / 5 for a, b in zip(ids, expected_ids, strict=True)])
        ),
        "max_top5_score_diff": float(np.abs(scores - reference["scores"]).max()),
    }
    print(f"{runtime.precision}: {json.dumps(figures)}")
    return figures


def test_f32_agrees_with_tensorflow(
    f32_runtime: OpenVINORuntime, eval_images: list[bytes], reference: dict[str, np.ndarray]
) -> None:
    assert f32_runtime.info["inference_precision"] == "f32"
    figures = _agreement(f32_runtime, eval_images, reference)
    assert figures["images"] >= 100
    assert figures["top1"] == 1.0
    assert figures["max_top5_score_diff"] <= 1e-3


def test_int8_from_the_cli_agrees_with_tensorflow(
    version_dir: Path,
    f32_runtime: OpenVINORuntime,
    eval_images: list[bytes],
    reference: dict[str, np.ndarray],
) -> None:
    command = [PYTHON, "-m", "serving.openvino_runtime.quantize", "--model-dir", str(version_dir)]
    cli = Service(command, version_dir.parent / "quantize.log")
    try:
        assert cli.proc.wait(timeout=600) == 0, cli.log_text()[-3000:]
    finally:
        cli.stop()
    info = json.loads((version_dir / "assets.extra/openvino/int8/runtime.json").read_text())
    assert info["calibration"]["images"] >= 200
    assert "skimage.data.astronaut" in info["calibration"]["photos"]
    runtime = OpenVINORuntime(version_dir, "int8")
    assert runtime.info["inference_precision"] == "f32"  # the layers left unquantized, not a silent bf16
    figures = _agreement(runtime, eval_images, reference)
    # NOT the 99 %: on this export even weight-only int8, or Gaussian noise of 0.5 grey level on
    # the f32 input, moves top-1 on ~8 % of these images (measured; see the OpenVINO report). This floor
    # catches a broken quantization (random agreement is ~0 %), it does not claim the target is met.
    assert figures["top1"] >= INT8_TOP1_FLOOR
    assert figures["top5_overlap"] >= INT8_TOP1_FLOOR


@pytest.mark.skipif(not BF16_CAPABLE, reason="this CPU has neither AVX512-BF16 nor AMX")
def test_bf16_agrees_with_tensorflow(
    version_dir: Path,
    f32_runtime: OpenVINORuntime,
    eval_images: list[bytes],
    reference: dict[str, np.ndarray],
) -> None:
    runtime = OpenVINORuntime(version_dir, "bf16")
    assert runtime.info["inference_precision"] == "bf16"
    assert _agreement(runtime, eval_images, reference)["top1"] >= 0.99


@pytest.mark.skipif(BF16_CAPABLE, reason="this CPU runs bf16")
def test_bf16_is_refused_where_the_cpu_cannot_run_it(version_dir: Path, f32_runtime: OpenVINORuntime) -> None:
    with pytest.raises(UnsupportedPrecisionError, match="bf16 needs a CPU with AVX512-BF16 or AMX"):
        OpenVINORuntime(version_dir, "bf16")


def test_unknown_precision_is_refused(version_dir: Path) -> None:
    with pytest.raises(ValueError, match="precision must be one of f32, bf16, int8"):
        OpenVINORuntime(version_dir, "fp16")  # type: ignore[arg-type]


def test_output_contract(f32_runtime: OpenVINORuntime, eval_images: list[bytes]) -> None:
    labels, scores, class_ids = f32_runtime.predict(eval_images[:3])
    assert labels.shape == scores.shape == class_ids.shape == (3, 5)
    assert scores.dtype == np.float32
    assert class_ids.dtype == np.int64
    assert np.all(np.diff(scores, axis=1) <= 0)
    assert labels[0, 0] == f32_runtime.labels[class_ids[0, 0]]
    assert all(isinstance(label, str) for label in labels.ravel())
    outputs = f32_runtime.signature_outputs(eval_images[:3])
    assert outputs["labels"][0, 0] == labels[0, 0].encode()
    np.testing.assert_array_equal(outputs["class_ids"], class_ids)
    empty = f32_runtime.predict([])
    assert [part.shape for part in empty] == [(0, 5)] * 3


def test_undecodable_image_is_named_by_index(f32_runtime: OpenVINORuntime, eval_images: list[bytes]) -> None:
    batch = [eval_images[0], b"not an image", eval_images[1], eval_images[2][:100]]
    with pytest.raises(ValueError, match=r"image_bytes\[1\] is not a decodable image.*elements: \[1, 3\]"):
        f32_runtime.predict(batch)
    # the runtime is still usable and the good images still answer the same
    alone = f32_runtime.predict([eval_images[0]])
    assert alone[2][0, 0] == f32_runtime.predict(eval_images[:2])[2][0, 0]


def test_concurrent_calls_give_the_sequential_answers(
    f32_runtime: OpenVINORuntime, eval_images: list[bytes]
) -> None:
    batches = [eval_images[i : i + 3] for i in range(0, 24, 3)]
    expected = [f32_runtime.predict(batch)[1] for batch in batches]
    results: dict[int, np.ndarray] = {}

    def work(index: int) -> None:
        results[index] = f32_runtime.predict(batches[index])[1]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == list(range(len(batches)))
    for index, scores in results.items():
        np.testing.assert_allclose(scores, expected[index], rtol=0, atol=1e-6)


def test_cached_ir_serves_without_tensorflow(
    version_dir: Path, f32_runtime: OpenVINORuntime, eval_images: list[bytes], tmp_path: Path
) -> None:
    image = tmp_path / "image.bin"
    image.write_bytes(eval_images[5])
    script = (
        "import json, sys\n"
        "from serving.openvino_runtime.runtime import OpenVINORuntime\n"
        f"runtime = OpenVINORuntime({str(version_dir)!r}, 'f32')\n"
        f"labels, scores, ids = runtime.predict([open({str(image)!r}, 'rb').read()])\n"
        "print(json.dumps({'tf': 'tensorflow' in sys.modules, 'ids': ids.tolist()}))\n"
    )
    child = Service([PYTHON, "-c", script], tmp_path / "child.log")
    try:
        assert child.proc.wait(timeout=120) == 0, child.log_text()
    finally:
        child.stop()
    answer = json.loads(child.log_text().strip().splitlines()[-1])
    assert answer["tf"] is False
    assert answer["ids"] == f32_runtime.predict([eval_images[5]])[2].tolist()


def test_cache_is_fingerprinted_and_written_atomically(
    version_dir: Path, f32_runtime: OpenVINORuntime
) -> None:
    cache = version_dir / "assets.extra" / "openvino"
    assert not [p.name for p in cache.iterdir() if p.name.startswith(".")]  # no staging left behind
    found = artefacts.find(version_dir, "f32")
    assert found is not None
    assert found.directory == cache / "f32"
    info_file = cache / "f32" / artefacts.INFO_FILE
    original = info_file.read_text()
    try:
        info_file.write_text(original.replace(found.info["source_fingerprint"], "0" * 64))
        assert artefacts.find(version_dir, "f32") is None  # a changed export is converted again
    finally:
        info_file.write_text(original)
