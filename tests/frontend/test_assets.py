"""Label file reading and the locally made example photos."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from frontend.assets import load_labels, make_examples


def test_labels_file_read_in_order_without_blanks_or_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("tench\ngoldfish\n\n  great_white_shark \ngoldfish\n", encoding="utf-8")
    assert load_labels(path) == ["tench", "goldfish", "great_white_shark"]


def test_missing_labels_file_means_free_text(tmp_path: Path) -> None:
    assert load_labels(tmp_path / "absent.txt") == []


def test_examples_are_real_photos(example_photos: list[Path]) -> None:
    assert [p.name for p in example_photos] == ["chelsea.jpg", "coffee.jpg", "astronaut.jpg"]
    for path in example_photos:
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert min(image.size) >= 256


def test_examples_folder_is_created(tmp_path: Path) -> None:
    made = make_examples(tmp_path / "new")
    assert len(made) == 3
    assert all(p.parent == tmp_path / "new" and p.stat().st_size > 10_000 for p in made)
