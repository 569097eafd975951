"""What a handler returns: plain values per page element, by name, with no Gradio in them.

`frontend.ui` turns these into Gradio updates; the handlers and their tests never import Gradio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MessageKind = Literal["error", "ok", "info"]

Updates = dict[str, Any]
"""Element name -> its new value, a `Message`, or an `Update`; names left out keep their value."""


@dataclass(frozen=True)
class Message:
    """A line of text for the person; hidden when empty. `kind` picks its colour."""

    text: str = ""
    kind: MessageKind = "error"


@dataclass(frozen=True)
class Update:
    """Properties of an element other than (or as well as) its value: visible, interactive, selected…"""

    props: dict[str, Any] = field(default_factory=dict)


def update(**props: Any) -> Update:
    return Update(props)
