"""In-process throughput, start-up time and memory of each engine: TensorFlow vs OpenVINO per precision.

    python -m serving.engines.bench --model-dir models/resnet50/1 [--batch-sizes 1 8]
        [--seconds 10] [--engines tensorflow openvino-f32 openvino-bf16 openvino-int8]

Each engine is measured in a fresh child process (so start-up and RSS are its own): start-up is from
before the engine loads to its first answer (OpenVINO from its cached IR, which is built first); img/s
is one caller (serving/engines/timing.py) on encoded JPEGs (scikit-image photos, made by the parent so the
child imports only its engine), decode included, for `--seconds` per batch size; CPU ms per image (all
threads) is the figure that survives a machine shared with other work. RSS is the child's VmRSS at the end.
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

_PREPARE = "from serving.openvino_ir import build; build.ensure({model_dir!r}, {precision!r})"


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
    name: str, model_dir: Path, batch_sizes: list[int], seconds: float, images_dir: Path
) -> dict[str, Any]:
    from serving import engines
    from serving.engines import EngineSpec
    from serving.engines.timing import throughput

    images = [path.read_bytes() for path in sorted(images_dir.glob("*.jpg"))][: max(batch_sizes)]
    started = time.perf_counter()
    classify = engines.classifier(engines.load(EngineSpec.parse(name), model_dir))
    classify(images[:1])
    result: dict[str, Any] = {"engine": name, "startup_s": round(time.perf_counter() - started, 2)}
    for size in batch_sizes:
        measured = throughput(classify, [images[:size]], threads=1, seconds=seconds)
        result[f"img_s_b{size}"] = round(measured.images_per_second, 1)
        result[f"cpu_ms_per_img_b{size}"] = round(measured.cpu_ms_per_image)
    result["rss_mib"] = round(_rss_mib())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.engines.bench")
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--engines", nargs="+", default=["tensorflow", "openvino-f32", "openvino-bf16", "openvino-int8"]
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--images-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from model_repository import resolve_version_dir
    from serving.engines import EngineSpec
    from serving.precisions import IR_KIND

    model_dir = resolve_version_dir(args.model_dir)
    if args.child:
        print(json.dumps(_child(args.child, model_dir, args.batch_sizes, args.seconds, args.images_dir)))
        return 0
    images_dir = Path(tempfile.mkdtemp(prefix="bench-images-"))
    for index, data in enumerate(_images(max(args.batch_sizes))):
        (images_dir / f"{index:03d}.jpg").write_bytes(data)
    specs = [EngineSpec.parse(name) for name in args.engines]
    for precision in sorted({IR_KIND[s.precision] for s in specs if s.runtime == "openvino"}):
        # build the IRs first, so that start-up is measured from the cache
        subprocess.run(
            [sys.executable, "-c", _PREPARE.format(model_dir=str(model_dir), precision=precision)], check=True
        )
    rows = []
    for spec in specs:
        command = [sys.executable, "-m", "serving.engines.bench", "--child", spec.name]
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
            rows.append({"engine": spec.name, "error": reason})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    shutil.rmtree(images_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
