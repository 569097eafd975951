"""What the page needs at start: ImageNet label names and a few example photos (made here, not downloaded)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def load_labels(path: Path) -> list[str]:
    """Class names from export_model's labels file, one per line; [] if the file is missing or unreadable."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        log.warning("labels file %s not readable (%s); the right label will be typed freely", path, exc)
        return []
    labels: list[str] = []
    seen: set[str] = set()
    for line in lines:
        label = line.strip()
        if label and label not in seen:
            seen.add(label)
            labels.append(label)
    return labels


def make_examples(folder: Path | None = None) -> list[Path]:
    """JPEGs of scikit-image's bundled sample photos (a cat, a coffee cup, …); [] without scikit-image."""
    try:
        from PIL import Image
        from skimage import data
    except ImportError:
        log.warning("scikit-image or Pillow not installed: no example photos")
        return []
    folder = folder or Path(tempfile.gettempdir()) / "image-classifier-examples"  # rewritten at each start
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("chelsea", "coffee", "astronaut"):
        try:
            pixels = getattr(data, name)()
        except Exception as exc:  # a sample that would need a download is simply left out
            log.warning("example %s unavailable: %s", name, exc)
            continue
        path = folder / f"{name}.jpg"
        Image.fromarray(pixels).convert("RGB").save(path, format="JPEG", quality=90)
        paths.append(path)
    return paths
