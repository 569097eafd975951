from __future__ import annotations

import pytest

from export_model import labels


@pytest.mark.parametrize(
    ("class_id", "name"),
    [
        (0, "tench"),
        (2, "great_white_shark"),
        (248, "Eskimo_dog"),
        (281, "tabby"),
        (285, "Egyptian_cat"),
        (967, "espresso"),
        (999, "toilet_tissue"),
    ],
)
def test_known_entries(class_id: int, name: str) -> None:
    assert labels.load()[class_id] == name


def test_thousand_names_without_spaces() -> None:
    names = labels.load()
    assert len(names) == 1000
    assert all(name and " " not in name and "," not in name for name in names)


def test_committed_file_matches_the_package() -> None:
    assert labels.load() == labels.generate()


def test_keras_name_takes_the_first_synonym() -> None:
    assert labels.keras_name("great white shark, white shark, man-eater") == "great_white_shark"
