"""Whether this CPU runs a precision (serving/precisions.py names them), and what OpenVINO is asked for.

OpenVINO silently runs f32 where the CPU lacks native bf16 (AVX512-BF16 or AMX), so bf16 is refused up
front instead.
"""

from __future__ import annotations

import openvino as ov

from serving.precisions import NATIVE_BF16, PRECISIONS, Precision

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
            f"precision bf16 needs a CPU with {NATIVE_BF16} (OpenVINO reports "
            f"{' '.join(cpu_capabilities(core))}); use f32 or int8"
        )
    return checked
