"""The 1000 ImageNet class names as Keras spells them (`Eskimo_dog`, `tabby`, ...), in class-id order: what
every exported model answers, what feedback may name as the right label, what the page offers to pick."""

from __future__ import annotations

from functools import cache
from importlib import resources

LABELS_FILE = "imagenet_labels.txt"
NUM_CLASSES = 1000


@cache
def imagenet_labels() -> tuple[str, ...]:
    text = resources.files("contracts").joinpath(LABELS_FILE).read_text(encoding="utf-8")
    names = tuple(text.splitlines())
    if len(names) != NUM_CLASSES or not all(names):
        raise RuntimeError(f"{LABELS_FILE} must hold {NUM_CLASSES} non-empty lines, found {len(names)}")
    return names
