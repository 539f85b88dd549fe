"""Binding the values a user gives to a workflow's declared inputs, with every mistake reported at once.

Files (paths, or artifact ids when the engine has a store) are opened and decoded here, so a missing or
corrupt image is an error before the first step starts. Values are checked, never guessed: ``"3"`` is not
a number here (the command line converts ``--input k=3`` by the declared type before it gets here).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.engine.resources import ResourceLoader
from agent.outputs import jsonable
from agent.workflows.errors import Problem
from agent.workflows.validate import CheckedWorkflow, Literal
from graph.errors import ToGError
from graph.types import FILE_TYPES, IMAGE_TYPES, ResourceType
from tools.annotations import ValueProblem, check_for_type


@dataclass
class BoundInputs:
    """Loaded values by input name (an optional input left out is absent) and a JSON summary of them."""

    values: dict[str, Any]
    summary: dict[str, Any]


def bind_inputs(
    workflow: CheckedWorkflow,
    given: Mapping[str, Any],
    loader: ResourceLoader,
    problems: list[Problem],
    prefix: str = "",
    allow_paths: bool = True,
) -> BoundInputs:
    """Check and load ``given`` for ``workflow``; problems are appended (``prefix`` names a batch item).

    Without ``allow_paths`` (a service taking workflows from clients) a file input must be an artifact id
    of the loader's store: a client must not make the server read its own files."""
    values: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    declared = workflow.inputs

    def fail(code: str, message: str, name: str = "") -> None:
        problems.append(Problem(code=code, message=prefix + message, path=f"inputs.{name}" if name else "inputs"))

    for name in given:
        if name not in declared:
            known = ", ".join(f"{n} ({d.type.value})" for n, d in declared.items()) or "none"
            fail("unknown_input", f"the workflow has no input {name!r}; it takes: {known}", name)
    for name, decl in declared.items():
        if name in given and given[name] is not None:
            value, base = given[name], None
        elif not decl.required and decl.default is not None:
            value, base = decl.default, workflow.base_dir
        elif decl.required:
            fail(
                "missing_input",
                f"input {name!r} ({decl.type.value}) is required"
                + (f": {decl.description}" if decl.description else ""),
                name,
            )
            continue
        else:
            continue
        if not allow_paths and decl.type in FILE_TYPES and not _is_artifact(value, loader):
            fail(
                "bad_input",
                f"input {name!r} ({decl.type.value}): give the id of an uploaded artifact, not "
                f"{'a path' if isinstance(value, (str, os.PathLike)) else type(value).__name__}",
                name,
            )
            continue
        try:
            values[name], summary[name] = _load(value, decl.type, loader, base)
        except (ValueProblem, ToGError) as exc:
            message = exc.message if isinstance(exc, ToGError) else str(exc)
            fail("bad_input", f"input {name!r} ({decl.type.value}): {message}", name)
    return BoundInputs(values, summary)


def load_literals(
    workflow: CheckedWorkflow, loader: ResourceLoader, problems: list[Problem], allow_paths: bool = True
) -> dict[tuple[str, str], Any]:
    """Literal file arguments of the steps (a watermark, a reference image), loaded once up front."""
    loaded = {}
    for step in workflow.steps:
        for inp in step.spec.inputs:
            binding = step.args.get(inp.name)
            if isinstance(binding, Literal) and inp.type in FILE_TYPES:
                if not allow_paths:
                    problems.append(
                        workflow.source.problem(
                            "bad_literal",
                            f"argument {inp.name!r}: file paths are not allowed here; declare an input "
                            "and pass an uploaded artifact",
                            ("steps", step.index, "args", inp.name),
                        )
                    )
                    continue
                try:
                    loaded[(step.id, inp.name)] = loader.load(binding.value, inp.type)
                except ToGError as exc:
                    problems.append(
                        workflow.source.problem(
                            "bad_literal",
                            f"argument {inp.name!r}: {exc.message}",
                            ("steps", step.index, "args", inp.name),
                        )
                    )
    return loaded


def _is_artifact(value: Any, loader: ResourceLoader) -> bool:
    try:
        return loader.store is not None and isinstance(value, str) and value in loader.store
    except ToGError:
        return False


def _load(value: Any, rtype: ResourceType, loader: ResourceLoader, base: Path | None) -> tuple[Any, Any]:
    if rtype in FILE_TYPES:
        if rtype in IMAGE_TYPES and hasattr(value, "getbands"):  # a PIL image given in Python
            return loader.load(value, rtype), f"<{rtype.value} {value.width}x{value.height}>"
        if not isinstance(value, (str, os.PathLike)):
            raise ValueProblem(f"expected a file path, got {type(value).__name__}")
        path = Path(value).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        return loader.load(str(path), rtype), str(path)
    checked = check_for_type(rtype).coerce(value)
    return checked, jsonable(checked)
