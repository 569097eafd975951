"""The model contract between export_model, serving, the gateway and any TF Serving client: one signature
that takes encoded images and answers the top-K classes, sorted by score (tests/data/ARCHITECTURE.md)."""

from __future__ import annotations

SIGNATURE = "serving_default"
INPUT = "image_bytes"
"""tf.string [batch]: each an encoded JPEG/PNG/GIF/BMP file, decoded and resized inside the graph."""
LABELS = "labels"
"""tf.string [batch, TOP_K]: ImageNet class names as Keras spells them."""
SCORES = "scores"
"""float32 [batch, TOP_K], highest first."""
CLASS_IDS = "class_ids"
"""int64 [batch, TOP_K]: ImageNet class indices of LABELS."""
OUTPUTS = (LABELS, SCORES, CLASS_IDS)
TOP_K = 5
INPUT_SIZE = 224
"""The largest square input of the models the product serves (ResNet50, EfficientNet-Lite0: 224 x 224): the
gateway never reduces a photo it sends to the model below it."""
