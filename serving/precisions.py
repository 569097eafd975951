"""Which runtimes and precisions exist: the one list that the flags, the loader, `auto`, the accuracy report
and the benchmarks read. Importable without TensorFlow or OpenVINO (the command line parses it first).

bf16 is an execution precision of OpenVINO's CPU plugin (the f32 IR run with bf16 arithmetic) and needs
native bf16 in the CPU; int8 is a different, quantized IR.
"""

from __future__ import annotations

from typing import Literal, get_args

Runtime = Literal["auto", "tensorflow", "openvino"]
RUNTIMES: tuple[Runtime, ...] = get_args(Runtime)
Precision = Literal["f32", "bf16", "int8"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
IR_KIND: dict[Precision, Literal["f32", "int8"]] = {"f32": "f32", "bf16": "f32", "int8": "int8"}
NATIVE_BF16 = "AVX512-BF16 or AMX"
NO_NATIVE_BF16 = "this CPU has neither AVX512-BF16 nor AMX"
