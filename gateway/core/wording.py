"""Sizes as a person reads them in a refusal: "25 MB", "50 megapixels" (no variable names, no raw counts)."""

from __future__ import annotations

MIB = 1024 * 1024


def _short(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def file_size(n_bytes: int) -> str:
    """`26214400` → "25 MB", `200000` → "195 KB" (binary units, as file managers round them)."""
    if n_bytes >= MIB:
        return f"{_short(n_bytes / MIB)} MB"
    return f"{max(1, round(n_bytes / 1024))} KB"


def megapixels(pixels: int) -> str:
    """`50_000_000` → "50 megapixels", `12_500_000` → "12.5 megapixels"."""
    return f"{_short(pixels / 1e6)} megapixels"


def too_large_file(max_bytes: int) -> str:
    return f"The file is too large: the limit is {file_size(max_bytes)}."
