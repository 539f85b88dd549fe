"""References between a workflow's values: ``${inputs.x}``, ``${steps.s.outputs.y}`` and ``${item}``.

A reference is always a whole argument value (or one operand of a condition), never spliced into text,
so every reference has exactly one type and is checked like a typed wire.

    >>> parse_ref("${steps.faces.outputs.faces}")
    Ref(kind='step', name='faces', output='faces')
    >>> str(parse_ref("${ inputs.image }"))
    '${inputs.image}'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_WHOLE = re.compile(r"^\$\{([^{}]*)\}$")
_FORMS = {
    "input": re.compile(rf"^inputs\.({_NAME})$"),
    "step": re.compile(rf"^steps\.({_NAME})\.outputs\.({_NAME})$"),
    "item": re.compile(r"^item$"),
}
FORMS_HINT = "write ${inputs.NAME}, ${steps.ID.outputs.NAME} or ${item}"


class RefSyntaxError(ValueError):
    """Text that looks like a reference but is not one of the three forms."""


@dataclass(frozen=True)
class Ref:
    kind: Literal["input", "step", "item"]
    name: str = ""
    output: str = ""

    def __str__(self) -> str:
        if self.kind == "input":
            return f"${{inputs.{self.name}}}"
        if self.kind == "step":
            return f"${{steps.{self.name}.outputs.{self.output}}}"
        return "${item}"


def looks_like_ref(value: Any) -> bool:
    """Whether a value is meant as a reference (contains ``${``); literal text never does."""
    return isinstance(value, str) and "${" in value


def parse_ref(text: str) -> Ref:
    """The reference ``text`` is, or :class:`RefSyntaxError` saying what is wrong with it."""
    whole = _WHOLE.match(text.strip())
    if whole is None:
        raise RefSyntaxError(
            f"{text!r} is not a reference: a reference is the whole value, like "
            "'${steps.faces.outputs.faces}' (references are not spliced into text)"
        )
    inner = whole.group(1).strip()
    for kind, pattern in _FORMS.items():
        match = pattern.match(inner)
        if match:
            return Ref(kind, *match.groups())  # type: ignore[arg-type]
    raise RefSyntaxError(f"unknown reference {text!r}: {FORMS_HINT}")
