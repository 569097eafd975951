"""Which runtimes and precisions exist, and whether this CPU runs a precision: the one owner that the flags,
the loader, `auto`, the accuracy report and the benchmarks read. Importable without TensorFlow or OpenVINO
(the command line parses it first; the CPU check imports OpenVINO only when it runs).

bf16 is an execution precision of OpenVINO's CPU plugin (the f32 IR run with bf16 arithmetic) and needs
native bf16 in the CPU: OpenVINO silently runs f32 where the CPU lacks it, so bf16 is refused up front
instead. int8 is a different, quantized IR.
"""

from __future__ import annotations

from typing import Literal, get_args

Runtime = Literal["auto", "tensorflow", "openvino"]
RUNTIMES: tuple[Runtime, ...] = get_args(Runtime)
Precision = Literal["f32", "bf16", "int8"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
IR_KIND: dict[Precision, Literal["f32", "int8"]] = {"f32": "f32", "bf16": "f32", "int8": "int8"}
# what `--runtime auto` chooses from unless --auto_candidates says otherwise (int8 only when named)
AUTO_CANDIDATES = "tensorflow,openvino-f32,openvino-bf16"
NATIVE_BF16 = "AVX512-BF16 or AMX"
NO_NATIVE_BF16 = "this CPU has neither AVX512-BF16 nor AMX"


class UnsupportedPrecisionError(ValueError):
    """An unknown precision, or one this CPU cannot run natively."""


def parse(precision: str) -> Precision:
    for known in PRECISIONS:
        if precision == known:
            return known
    raise UnsupportedPrecisionError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def cpu_capabilities() -> list[str]:
    """What OpenVINO's CPU plugin reports it can run natively (`FP32 BF16 INT8 …`)."""
    import openvino as ov

    return list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def runs_natively(precision: Precision) -> bool:
    return precision != "bf16" or "BF16" in cpu_capabilities()


def check(precision: str) -> Precision:
    """`precision` as a `Precision`, or UnsupportedPrecisionError saying why it cannot run here."""
    checked = parse(precision)
    if not runs_natively(checked):
        raise UnsupportedPrecisionError(
            f"bf16 needs a CPU with {NATIVE_BF16} (OpenVINO reports "
            f"{' '.join(cpu_capabilities())}); use f32 or int8"
        )
    return checked
