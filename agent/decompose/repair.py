"""ControlLLM-style resource-type repair: make a drafted decomposition refer only to what exists.

A language model's draft (ControlLLM's shape: ``description, task, id, dep, args:[{type, value}],
returns:[{type}]``) may name a file the user never gave, give an argument the wrong type, point
``<GENERATED>-k`` at a subtask that comes later or does not exist, or list deps that do not match
its references. :func:`repair` fixes what has exactly one sensible fix and refuses the rest:

* An argument naming a given resource of its type is kept (its value becomes the resource's value).
* ``<GENERATED>-k`` of an earlier subtask (earlier in the list) that returns the argument's type is
  kept. Any other ``<GENERATED>`` reference (to a later, missing or wrongly typed subtask) becomes the
  latest earlier subtask output of that type.
* A literal (a question, a count: types whose values are plain strings, numbers or booleans) that
  names no resource is kept; numbers and booleans written as text are converted.
* Anything else (a name of no resource, a resource of another type, a file or structured type given
  as text) becomes the latest given resource of the argument's type, else the latest earlier
  subtask output of that type.
* With nothing of that type to use, :class:`DecompositionError` names the subtask, the argument and
  the missing type. A resource is never invented.
* ``dep`` becomes the producers the arguments refer to, plus the listed deps that are earlier
  subtasks; deps on later, unknown or the same subtask are dropped (they cannot run).

Everything else, such as duplicate ids or an empty description, is left for :meth:`Plan.parse` to report.

    >>> from agent.decompose.base import Resource
    >>> fixed = repair("caption it", [{"description": "caption the photo", "id": 0, "dep": [-1],
    ...     "args": [{"type": "image", "value": "picture.png"}], "returns": [{"type": "text"}]}],
    ...     [Resource(name="photo.jpg", type="image", value="/data/photo.jpg")])
    >>> fixed.plan.subtasks[0].inputs[0].value, len(fixed.fixes)
    ('/data/photo.jpg', 1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from agent.decompose.base import DecompositionError, Resource
from graph.errors import UnknownTypeError
from graph.plan import GENERATED, Plan
from graph.types import ResourceType, resolve_type, type_info

_GENERATED_PREFIX = "<GENERATED>"


def literal_types() -> frozenset[ResourceType]:
    """Types a subtask may be given as a literal: non-file types whose values are plain scalars."""
    return frozenset(
        rt
        for rt in ResourceType
        if not (info := type_info(rt)).is_file and info.value_schema.get("type") in ("string", "number", "boolean")
    )


_LITERAL_TYPES = literal_types()


@dataclass
class Repaired:
    """The repaired plan and one line per change made, for logs and for the model's feedback."""

    plan: Plan
    fixes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Output:
    subtask: int
    type: ResourceType

    @property
    def value(self) -> str:
        return f"{_GENERATED_PREFIX}-{self.subtask}"


def repair(request: str, items: Sequence[Mapping[str, Any]], resources: Sequence[Resource] = ()) -> Repaired:
    """Repair ``items`` (ControlLLM decomposition entries) against the ``resources`` given, in order
    (the last of a type is the latest), and validate the result as a :class:`Plan`."""
    given = list(resources)
    fixes: list[str] = []
    made: list[_Output] = []
    returns_of: dict[int, set[ResourceType]] = {}
    repaired: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        sid = item.get("id")
        if not isinstance(sid, int) or isinstance(sid, bool):
            raise DecompositionError(f"subtask {position} has no integer id (got {sid!r})", subtask=position)
        returns = [
            _type(r.get("type") if isinstance(r, Mapping) else r, f"subtask {sid}: a return")
            for r in _list(item, "returns")
        ]
        deps: set[int] = set()
        args = [
            _repair_arg(sid, index, arg, given, made, returns_of, deps, fixes)
            for index, arg in enumerate(_list(item, "args"))
        ]
        deps |= _kept_deps(sid, item, returns_of, fixes)
        repaired.append(
            {
                "description": item.get("description", ""),
                "task": item.get("task", []),
                "id": sid,
                "dep": sorted(deps),
                "args": args,
                "returns": [{"type": t.value} for t in returns],
            }
        )
        returns_of.setdefault(sid, set()).update(returns)
        made.extend(_Output(sid, t) for t in returns)
    return Repaired(Plan.from_controlllm(request, repaired), fixes)


def _list(item: Mapping[str, Any], key: str) -> list[Any]:
    value = item.get(key) or []
    if not isinstance(value, list):
        raise DecompositionError(f"subtask {item.get('id')}: {key} must be a list, not {value!r}", field=key)
    return value


def _type(name: Any, where: str) -> ResourceType:
    try:
        return resolve_type(name)
    except UnknownTypeError as exc:
        raise DecompositionError(f"{where} has an unknown type: {exc.message}", type_name=str(name)) from None


def _repair_arg(
    sid: int,
    index: int,
    arg: Any,
    given: list[Resource],
    made: list[_Output],
    returns_of: dict[int, set[ResourceType]],
    deps: set[int],
    fixes: list[str],
) -> dict[str, Any]:
    where = f"subtask {sid} argument {index}"
    if not isinstance(arg, Mapping):
        raise DecompositionError(
            f"{where} must be an object with a type and a value, not {arg!r}", subtask=sid, argument=index
        )
    rtype = _type(arg.get("type"), where)
    value = arg.get("value")
    text = value.strip() if isinstance(value, str) else None
    if text is not None and text.startswith(_GENERATED_PREFIX):
        match = GENERATED.match(text)
        producer = int(match.group(1)) if match else None
        if producer is not None and rtype in returns_of.get(producer, ()):
            deps.add(producer)
            return {"type": rtype.value, "value": text}
        why = _generated_problem(text, producer, rtype, returns_of)
        return _replace(where, rtype, value, why, [], made, deps, fixes, sid, index)
    named = _named(value, given)
    if named is not None and named.type is rtype:
        return {"type": rtype.value, "value": named.ref().value}
    if named is None and rtype in _LITERAL_TYPES:
        literal = _literal(rtype, value)
        if literal is not None:
            return {"type": rtype.value, "value": literal}
    if named is not None:
        why = f"names {named.name!r}, which is a {named.type.value}, not a {rtype.value}"
    elif value is None or text == "":
        why = "has no value"
    else:
        why = f"{value!r} names no resource that was given"
    return _replace(where, rtype, value, why, given, made, deps, fixes, sid, index)


def _generated_problem(
    text: str, producer: int | None, rtype: ResourceType, returns_of: dict[int, set[ResourceType]]
) -> str:
    if producer is None:
        return f"{text!r} is not a <GENERATED>-k reference"
    if producer not in returns_of:
        return f"{text!r} refers to subtask {producer}, which does not come before it"
    made = ", ".join(sorted(t.value for t in returns_of[producer])) or "nothing"
    return f"{text!r} refers to subtask {producer}, which returns {made}, not {rtype.value}"


def _replace(
    where: str,
    rtype: ResourceType,
    value: Any,
    why: str,
    given: list[Resource],
    made: list[_Output],
    deps: set[int],
    fixes: list[str],
    sid: int,
    index: int,
) -> dict[str, Any]:
    """The argument bound to the latest given resource of its type, else the latest earlier output of it."""
    resource = next((r for r in reversed(given) if r.type is rtype), None)
    if resource is not None:
        fixes.append(f"{where} {why}; using {resource.name!r}, the latest {rtype.value} given")
        return {"type": rtype.value, "value": resource.ref().value}
    output = next((o for o in reversed(made) if o.type is rtype), None)
    if output is not None:
        deps.add(output.subtask)
        fixes.append(f"{where} {why}; using {output.value}, the latest {rtype.value} made before it")
        return {"type": rtype.value, "value": output.value}
    sources = "given or made by an earlier subtask" if given else "made by an earlier subtask"
    raise DecompositionError(
        f"{where} ({rtype.value}) {why}, and no {rtype.value} was {sources}",
        subtask=sid,
        argument=index,
        value=value if isinstance(value, (str, int, float, bool)) or value is None else str(value),
        missing_type=rtype.value,
    )


def _named(value: Any, given: list[Resource]) -> Resource | None:
    """The given resource ``value`` names: by name or value, exactly, else by file name ignoring case."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for resource in reversed(given):
        if text in (resource.name, resource.value):
            return resource
    key = PurePath(text).name.casefold()
    for resource in reversed(given):
        names = (resource.name, resource.value if isinstance(resource.value, str) else "")
        if any(n and PurePath(n).name.casefold() == key for n in names):
            return resource
    return None


def _literal(rtype: ResourceType, value: Any) -> Any:
    """``value`` as a literal of ``rtype``, or ``None`` when it is not one."""
    kind = type_info(rtype).value_schema.get("type")
    if kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        try:
            number = float(str(value).strip())
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        return {"true": True, "yes": True, "false": False, "no": False}.get(str(value).strip().lower())
    return value.strip() if isinstance(value, str) and value.strip() else None


def _kept_deps(
    sid: int, item: Mapping[str, Any], returns_of: dict[int, set[ResourceType]], fixes: list[str]
) -> set[int]:
    """The listed deps on earlier subtasks; the others are dropped, and said so."""
    listed = item.get("dep") or []
    if isinstance(listed, int):
        listed = [listed]
    kept: set[int] = set()
    for dep in listed:
        if dep == -1:
            continue
        if isinstance(dep, int) and not isinstance(dep, bool) and dep in returns_of:
            kept.add(dep)
        else:
            fixes.append(f"subtask {sid}: dropped dep {dep!r}, which is not an earlier subtask")
    return kept
