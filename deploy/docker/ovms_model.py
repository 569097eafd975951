#!/usr/bin/env python
"""`ovms-model`: the OpenVINO Model Server repository built from the exported versions (after `export-job`).

OVMS cannot run the export's `serving_default` itself: the graph decodes and resizes on a string tensor
(`DecodeImage`), which OpenVINO's TensorFlow frontend does not convert. It serves instead the project's
OpenVINO IR of the network (decoded pixels -> probabilities, cached by `serving.openvino_ir` under
`<version>/assets.extra/openvino/f32/`, converted from the SavedModel and checked against TensorFlow),
wrapped here so that it answers the serving contract the gateway uses:

    input   image_bytes  u8 [1, H, W, 3], layout NHWC, BGR. OVMS's "binary input": the request's encoded
                         image (a DT_STRING string_val) is decoded by OVMS with OpenCV and resized to H x W.
    graph   BGR -> RGB, u8 -> the network's input type, the network, top-k (stable: ties keep the lower id)
    outputs scores f32 [1, k], class_ids i64 [1, k], labels string [1, k] (a string constant gathered by id)

Written to `<out>/<model>/<version>/model.xml|bin` for every exported version that has none yet, each under a
temporary name and renamed in one step: OVMS polls the folder and switches to a new version once loaded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset15 as ops
from openvino.preprocess import ColorFormat, PrePostProcessor

import model_repository
from contracts import model as contract

OUTPUT_NAMES = (contract.SCORES, contract.CLASS_IDS, contract.LABELS)  # the wrapper's output order
MODEL_FILE = "model.xml"


@dataclass(frozen=True)
class Network:
    """The project's f32 IR of one exported version and what the wrapper needs around it."""

    xml: Path
    height: int
    width: int
    labels: list[str]
    top_k: int


def network_of(version_dir: Path) -> Network:
    """The cached f32 IR; the serving package converts the SavedModel (with TensorFlow) if it is missing."""
    from serving.openvino_ir.build import ensure

    artefact = ensure(version_dir, "f32")
    return Network(
        xml=artefact.xml,
        height=artefact.front.height,
        width=artefact.front.width,
        labels=list(artefact.labels),
        top_k=artefact.top_k,
    )


def wrap(network: ov.Model, height: int, width: int, labels: list[str], top_k: int) -> ov.Model:
    """The network with OVMS's binary-input tensor in front and the signature's top-k outputs behind."""
    if len(network.inputs) != 1 or len(network.outputs) != 1:
        raise ValueError("expected the network IR: one pixel input, one probability output")
    classes = network.output(0).get_partial_shape()[-1]
    if classes.is_static and classes.get_length() != len(labels):
        raise ValueError(f"{len(labels)} labels for {classes.get_length()} classes")
    ppp = PrePostProcessor(network)
    source = ppp.input()
    source.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_shape(
        [1, height, width, 3]
    ).set_color_format(ColorFormat.BGR)
    source.model().set_layout(ov.Layout("NHWC"))
    source.preprocess().convert_element_type(network.input(0).get_element_type()).convert_color(
        ColorFormat.RGB
    )
    model = ppp.build()
    probabilities = model.get_results()[0].input_value(0)  # the node feeding the Result, not the Result
    top = ops.topk(
        probabilities,
        ops.constant(np.int64(top_k)),
        axis=1,
        mode="max",
        sort="value",
        index_element_type=ov.Type.i64,
        stable=True,
    )
    names = ov.op.Constant(ov.Tensor(np.array(labels, dtype=str)))
    label_node = ops.gather(names, top.output(1), ops.constant(np.int64(0)))
    wrapped = ov.Model(
        [top.output(0), top.output(1), label_node.output(0)], model.get_parameters(), "image-classifier"
    )
    wrapped.input(0).get_tensor().set_names({contract.INPUT})
    for output, name in zip(wrapped.outputs, OUTPUT_NAMES, strict=True):
        output.get_tensor().set_names({name})
    return wrapped


def write_version(model: ov.Model, target: Path) -> None:
    """Save `model` as the version folder `target`, all at once (a hidden staging folder, then a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        ov.save_model(model, staging / MODEL_FILE, compress_to_fp16=False)
        os.chmod(staging, 0o755)
        os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def build(models_dir: Path, model: str, out: Path) -> list[Path]:
    """OVMS versions for every exported version without one; returns the folders written."""
    versions = model_repository.versions(models_dir / model)
    if not versions:
        raise FileNotFoundError(f"no exported version under {models_dir / model} (run export-job first)")
    written = []
    for version in versions:
        target = out / model / str(version)
        if (target / MODEL_FILE).is_file():
            print(f"ovms-model: {target} already holds the OVMS model")
            continue
        network = network_of(models_dir / model / str(version))
        wrapped = wrap(
            ov.Core().read_model(network.xml), network.height, network.width, network.labels, network.top_k
        )
        write_version(wrapped, target)
        print(
            f"ovms-model: wrote {target / MODEL_FILE} ({network.height}x{network.width}, top {network.top_k})"
        )
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path(os.environ.get("MODELS_DIR", "/models")))
    parser.add_argument("--model", default=os.environ.get("MODEL", "resnet50"))
    parser.add_argument("--out", type=Path, help="OVMS repository (default: <models-dir>/ovms)")
    args = parser.parse_args(argv)
    try:
        build(args.models_dir, args.model, args.out or args.models_dir / "ovms")
    except (FileNotFoundError, ValueError) as exc:
        print(f"ovms-model: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
