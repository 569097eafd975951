"""The precisions the OpenVINO runtime offers, which IR each runs, and whether this CPU can run it.

bf16 is an execution precision of the CPU plugin (the f32 IR run with bf16 arithmetic); int8 is a
different, quantized IR. OpenVINO silently runs f32 where the CPU lacks native bf16 (AVX512-BF16 or AMX),
so bf16 is refused up front instead.
"""

from __future__ import annotations

from typing import Literal, get_args

import openvino as ov

Precision = Literal["f32", "bf16", "int8"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
IR_KIND: dict[Precision, Literal["f32", "int8"]] = {"f32": "f32", "bf16": "f32", "int8": "int8"}
INFERENCE_TYPE = {"f32": ov.Type.f32, "bf16": ov.Type.bf16, "int8": ov.Type.f32}  # int8: the rest runs f32


class UnsupportedPrecisionError(ValueError):
    """An unknown precision, or one this CPU cannot run natively."""


def cpu_capabilities(core: ov.Core | None = None) -> list[str]:
    return list((core or ov.Core()).get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def runs_natively(precision: str, core: ov.Core | None = None) -> bool:
    return precision != "bf16" or "BF16" in cpu_capabilities(core)


def parse(precision: str) -> Precision:
    if precision not in PRECISIONS:
        raise UnsupportedPrecisionError(
            f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
        )
    return precision


def check(precision: str, core: ov.Core | None = None) -> Precision:
    """`precision` as a `Precision`, or UnsupportedPrecisionError saying why it cannot run here."""
    checked = parse(precision)
    if not runs_natively(checked, core):
        raise UnsupportedPrecisionError(
            "precision bf16 needs a CPU with AVX512-BF16 or AMX (OpenVINO reports "
            f"{' '.join(cpu_capabilities(core))}); use f32 or int8"
        )
    return checked
