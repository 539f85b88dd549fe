"""Reading workflow YAML with the line and column of every node, so each problem can say where it is.

``yaml.safe_load`` forgets positions; here the document is *composed* (nodes keep their start marks) and
turned into plain Python values while recording, for every path (``("steps", 1, "args", "boxes")``),
where its value and its key start. Duplicate keys, which YAML silently resolves to the last one, are
reported instead.

    >>> data, where = load_yaml("name: w\\nsteps:\\n  - id: a\\n    tool: flip_image\\n", "w.yaml")
    >>> data["steps"][0]["tool"], where.value(("steps", 0, "tool"))
    ('flip_image', (4, 11))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent.workflows.errors import Problem, WorkflowValidationError
from agent.workflows.model import WorkflowSpec

PathKey = tuple[str | int, ...]
Position = tuple[int, int]


@dataclass
class SourceMap:
    """Positions (1-based line, column) of a document's values and mapping keys, by path."""

    file: str | None = None
    values: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)

    def value(self, path: Sequence[str | int]) -> Position | None:
        """Where the value at ``path`` starts, or its nearest enclosing node that has a position."""
        key = tuple(path)
        while key:
            if key in self.values:
                return self.values[key]
            key = key[:-1]
        return self.values.get(())

    def key(self, path: Sequence[str | int]) -> Position | None:
        """Where the key naming ``path`` starts (falls back to the value's position)."""
        return self.keys.get(tuple(path)) or self.value(path)

    def problem(
        self, code: str, message: str, path: Sequence[str | int], *, at_key: bool = False, offset: int = 0
    ) -> Problem:
        """A :class:`Problem` placed at ``path`` (``offset`` columns into the value, for conditions)."""
        position = self.key(path) if at_key else self.value(path)
        line, column = position if position else (None, None)
        if column is not None and offset and tuple(path) in self.values:
            column += offset
        return Problem(
            code=code, message=message, file=self.file, line=line, column=column, path=".".join(str(p) for p in path)
        )


def _mark(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def load_yaml(text: str, file: str | None = None) -> tuple[Any, SourceMap]:
    """Parse YAML text into Python values and their positions; malformed YAML is a
    :class:`WorkflowValidationError` with the position the parser stopped at."""
    where = SourceMap(file=file)
    try:
        loader = yaml.SafeLoader(text)  # the reader checks every character here, before parsing
    except yaml.YAMLError as exc:
        raise WorkflowValidationError(
            "the workflow is not valid YAML", [Problem(code="syntax", message=f"malformed YAML: {exc}", file=file)]
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise WorkflowValidationError(
                "the workflow is empty",
                [Problem(code="syntax", message="the file is empty", file=file, line=1, column=1)],
            )
        problems: list[Problem] = []
        data = _build(loader, node, (), where, problems, set())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "malformed YAML"
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise WorkflowValidationError(
            "the workflow is not valid YAML",
            [Problem(code="syntax", message=f"malformed YAML: {message}", file=file, line=line, column=column)],
        ) from None
    except yaml.YAMLError as exc:
        raise WorkflowValidationError(
            "the workflow is not valid YAML", [Problem(code="syntax", message=f"malformed YAML: {exc}", file=file)]
        ) from None
    finally:
        loader.dispose()
    if problems:
        raise WorkflowValidationError(_count("problem", problems), problems)
    return data, where


def _build(
    loader: yaml.SafeLoader, node: yaml.Node, path: PathKey, where: SourceMap, problems: list[Problem], active: set[int]
) -> Any:
    where.values[path] = _mark(node)
    if id(node) in active:
        problems.append(where.problem("syntax", "a YAML alias refers to itself", path))
        return None
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node, deep=True)
    active = active | {id(node)}
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), where, problems, active) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.MappingNode)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True) if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            key = str(key) if isinstance(key, (int, float, bool)) else None
        if key is None:
            problems.append(
                Problem(
                    code="syntax",
                    message="a mapping key must be a name",
                    file=where.file,
                    line=_mark(key_node)[0],
                    column=_mark(key_node)[1],
                )
            )
            continue
        child = (*path, key)
        if key in result:
            first = where.keys[child]
            problems.append(
                Problem(
                    code="duplicate_key",
                    message=f"duplicate key {key!r} (first at line {first[0]})",
                    file=where.file,
                    line=_mark(key_node)[0],
                    column=_mark(key_node)[1],
                    path=".".join(str(p) for p in child),
                )
            )
            continue
        where.keys[child] = _mark(key_node)
        result[key] = _build(loader, value_node, child, where, problems, active)
    return result


def parse_spec(data: Any, where: SourceMap | None = None) -> WorkflowSpec:
    """Check the shape of a workflow document; every schema error becomes a positioned problem."""
    where = where or SourceMap()
    if not isinstance(data, dict):
        raise WorkflowValidationError(
            "the workflow is not a mapping",
            [
                where.problem(
                    "schema",
                    f"a workflow is a mapping with name, inputs, steps and outputs, not a {type(data).__name__}",
                    (),
                )
            ],
        )
    try:
        return WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        problems = [_schema_problem(err, where) for err in exc.errors()]
        raise WorkflowValidationError(_count("problem", problems), problems) from None


def _schema_problem(err: Any, where: SourceMap) -> Problem:
    path = tuple(err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "string_pattern_mismatch":
        message = f"{err['input']!r} is not a name (letters, digits and _, not starting with a digit)"
    if err["type"] == "extra_forbidden":
        return where.problem("schema", f"unknown field {path[-1]!r}", path, at_key=True)
    if err["type"] == "missing":
        return where.problem("schema", f"missing field {path[-1]!r}", path[:-1])
    label = ".".join(str(p) for p in path) or "workflow"
    return where.problem("schema", f"{label}: {message}", path)


def load_spec(text: str, file: str | None = None) -> tuple[WorkflowSpec, SourceMap]:
    """YAML text -> a shape-checked :class:`WorkflowSpec` and the positions of its nodes."""
    data, where = load_yaml(text, file)
    return parse_spec(data, where), where


def read_spec(path: str | Path) -> tuple[WorkflowSpec, SourceMap]:
    """A workflow file -> spec and positions (problems name the file as given)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise WorkflowValidationError(
            f"cannot read workflow {str(file)!r}",
            [Problem(code="unreadable", message=f"cannot read the file: {reason}", file=str(file))],
        ) from None
    return load_spec(text, str(path))


def _count(noun: str, items: Sequence[Any]) -> str:
    return f"the workflow has {len(items)} {noun}{'s' if len(items) != 1 else ''}"
