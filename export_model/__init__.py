"""Export an ImageNet classifier as a versioned TensorFlow SavedModel for TF Serving.

``export(model, weights=None, out=Path("models"), version=None) -> Path`` is imported lazily so that
``python -m export_model.labels`` does not pay for importing TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from export_model.exporter import export

__all__ = ["export"]


def __getattr__(name: str) -> Any:
    if name == "export":
        from export_model.exporter import export

        return export
    raise AttributeError(f"module 'export_model' has no attribute {name!r}")
