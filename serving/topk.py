"""The top-k of a batch of class probabilities, as the export's `tf.math.top_k(sorted=True)` computes it."""

from __future__ import annotations

import numpy as np

from contracts import model as contract


def top_k(probabilities: np.ndarray, k: int = contract.TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """(class ids int64 [b, k], scores float32 [b, k]), highest first; ties keep the lower class id first."""
    ids = np.argsort(-probabilities, axis=1, kind="stable")[:, :k].astype(np.int64)
    return ids, np.take_along_axis(probabilities, ids, axis=1).astype(np.float32)
