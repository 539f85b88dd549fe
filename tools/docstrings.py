"""Google-style docstring parsing, just enough for tool specs.

The first paragraph becomes the tool description (the embedding assessor matches subtasks against it),
``Args:`` entries describe inputs and ``Returns:`` describes outputs::

    >>> doc = parse_docstring('''Count boxes.
    ...
    ...     Args:
    ...         boxes (bboxes): the boxes
    ...             to count.
    ...
    ...     Returns:
    ...         count: how many there are.
    ...     ''')
    >>> doc.description, doc.args, doc.returns
    ('Count boxes.', {'boxes': 'the boxes to count.'}, [('count', 'how many there are.')])

A ``Returns:`` body that is not ``name: description`` lines is one unnamed description.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_ARGS = frozenset({"args", "arguments", "parameters", "params"})
_RETURNS = frozenset({"returns", "return"})
_OTHER = frozenset(
    {
        "raises",
        "examples",
        "example",
        "note",
        "notes",
        "yields",
        "see also",
        "warning",
        "warnings",
        "todo",
        "attributes",
        "references",
    }
)
_HEADER = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*(.*)$")
_ENTRY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


class DocstringError(ValueError):
    """A docstring section that cannot be read (the caller names the tool)."""


@dataclass(frozen=True)
class Docstring:
    description: str = ""
    args: dict[str, str] = field(default_factory=dict)
    returns: list[tuple[str | None, str]] = field(default_factory=list)


def parse_docstring(doc: str | None) -> Docstring:
    """Split a docstring into description, argument descriptions and return entries."""
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in inspect.cleandoc(doc or "").splitlines():
        header = _HEADER.match(line)
        if header and header.group(1).lower() in _ARGS | _RETURNS | _OTHER:
            current = header.group(1).lower()
            current = "args" if current in _ARGS else "returns" if current in _RETURNS else current
            sections[current] = [f"    {header.group(2)}"] if header.group(2).strip() else []
        else:
            sections.setdefault(current, []).append(line)
    preamble = "\n".join(sections[""]).strip().split("\n\n", 1)[0]
    return Docstring(
        description=" ".join(preamble.split()),
        args=dict(_entries(sections.get("args", []), "Args", strict=True)),
        returns=_returns(sections.get("returns", [])),
    )


def _entries(lines: list[str], section: str, *, strict: bool) -> list[tuple[str, str]]:
    """``name: text`` entries at the section's first indentation; deeper lines continue the previous one."""
    body = [ln for ln in lines if ln.strip()]
    if not body:
        return []
    indent = len(body[0]) - len(body[0].lstrip())
    entries: list[tuple[str, list[str]]] = []
    for line in body:
        depth = len(line) - len(line.lstrip())
        match = _ENTRY.match(line.strip()) if depth <= indent else None
        if match:
            entries.append((match.group(1), [match.group(2)]))
        elif depth > indent and entries:
            entries[-1][1].append(line.strip())
        elif strict:
            raise DocstringError(f"{section} line {line.strip()!r} is not 'name: description'")
        else:
            return []
    return [(name, " ".join(" ".join(parts).split())) for name, parts in entries]


def _returns(lines: list[str]) -> list[tuple[str | None, str]]:
    named = _entries(lines, "Returns", strict=False)
    if named:
        return [(name, text) for name, text in named]
    text = " ".join(" ".join(lines).split())
    return [(None, text)] if text else []
