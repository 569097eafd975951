"""In-process throughput, start-up time and memory: TensorFlow's SavedModel vs OpenVINO per precision.

    python -m serving.openvino_runtime.bench --model-dir models/resnet50/1 [--batch-sizes 1 8]
        [--seconds 10] [--runtimes tf f32 bf16 int8]

Each runtime is measured in a fresh child process (so start-up and RSS are its own): start-up is from
before the first import of the runtime to a loaded model that has answered one batch (OpenVINO from its
cached IR, which is built first); img/s is `predict` on encoded JPEGs
(scikit-image photos, made by the parent so the child imports only its runtime), decode included, one
caller, for `--seconds` per batch size; CPU ms per image (all threads) is the figure that survives a
machine shared with other work. RSS is the child's VmRSS at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_PREPARE = "from serving.openvino_runtime import build; build.ensure({model_dir!r}, {precision!r})"


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _images(count: int) -> list[bytes]:
    import numpy as np
    import skimage.data
    from PIL import Image

    photos = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut(), skimage.data.rocket()]
    out = []
    for index in range(count):
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(photos[index % len(photos)])).save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def _child(
    runtime: str, model_dir: Path, batch_sizes: list[int], seconds: float, images_dir: Path
) -> dict[str, Any]:
    images = [path.read_bytes() for path in sorted(images_dir.glob("*.jpg"))][: max(batch_sizes)]
    started = time.perf_counter()
    if runtime == "tf":
        import tensorflow as tf

        function = tf.saved_model.load(str(model_dir)).signatures["serving_default"]

        def predict(batch: list[bytes]) -> object:
            return function(image_bytes=tf.constant(batch))
    else:
        from serving.openvino_runtime.runtime import OpenVINORuntime

        predict = OpenVINORuntime(model_dir, runtime).predict  # type: ignore[arg-type, assignment]
    predict(images[:1])
    result: dict[str, Any] = {"runtime": runtime, "startup_s": round(time.perf_counter() - started, 2)}
    for size in batch_sizes:
        batch = images[:size]
        predict(batch)  # warm this shape
        done, begin, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - begin < seconds:
            predict(batch)
            done += size
        result[f"img_s_b{size}"] = round(done / (time.perf_counter() - begin), 1)
        result[f"cpu_ms_per_img_b{size}"] = round(1000 * (time.process_time() - cpu) / done)
    result["rss_mib"] = round(_rss_mib())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.openvino_runtime.bench")
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runtimes", nargs="+", default=["tf", "f32", "bf16", "int8"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--images-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from model_repository import resolve_version_dir
    from serving.precisions import IR_KIND

    model_dir = resolve_version_dir(args.model_dir)
    if args.child:
        print(json.dumps(_child(args.child, model_dir, args.batch_sizes, args.seconds, args.images_dir)))
        return 0
    images_dir = Path(tempfile.mkdtemp(prefix="bench-images-"))
    for index, data in enumerate(_images(max(args.batch_sizes))):
        (images_dir / f"{index:03d}.jpg").write_bytes(data)
    for precision in sorted({IR_KIND[r] for r in args.runtimes if r in IR_KIND}):
        # build the IRs first, so that start-up is measured from the cache
        subprocess.run(
            [sys.executable, "-c", _PREPARE.format(model_dir=str(model_dir), precision=precision)], check=True
        )
    rows = []
    for runtime in args.runtimes:
        command = [sys.executable, "-m", "serving.openvino_runtime.bench", "--child", runtime]
        command += [
            "--images-dir",
            str(images_dir),
            "--model-dir",
            str(model_dir),
            "--seconds",
            str(args.seconds),
            "--batch-sizes",
        ]
        command += [str(size) for size in args.batch_sizes]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["?"])[-1]
            rows.append({"runtime": runtime, "error": reason})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    shutil.rmtree(images_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
