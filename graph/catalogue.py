"""Load tool catalogues from JSON so people can plan over tools that have no Python behind them.

Three shapes are recognised, per entry, by the keys they use:

- ToG's own: ``ToolSpec.model_dump(mode="json")`` dicts (``dump_catalogue`` writes them);
- ControlLLM's ``tools.json``: ``{name, description, domain, args:[{name,type,description}], returns:[...]}``;
- TaskBench's ``tool_desc.json``: ``{"nodes": [{id, desc, input-type:[...], output-type:[...]}]}`` or the
  bare list of nodes. Arguments have no names there, so they are named after their types
  (``image``, ``image_2``, ...). Its API domains (dailylifeapis) describe tools by named, typed
  ``parameters: [{name, type, desc}]`` instead; see "Declared rules" below.

Declared rules for what a foreign catalogue leaves unsaid (the same for every foreign shape, visible on the
spec, never a silent drop; ToG's own shape must say everything):

- **Parameters are inputs.** Each ``parameters`` entry becomes a required input of that name. Its type
  goes through :data:`PARAMETER_TYPES` (``string`` and ``date`` are text: a user writes a date in words,
  and the request's own words are what fills the parameter), then through the resource-type aliases; the
  original type name is kept in the input's description.
- **No declared output means a text answer.** A tool whose output list is empty or absent (an API that
  books a flight, ``Sentence Similarity`` in TaskBench's huggingface catalogue) gets one ``text`` output
  named ``result`` — what the tool reports back — described as inferred.

Foreign type names go through :func:`graph.types.resolve_type` plus the caller's alias table. A catalogue
is loaded whole or not at all, and every problem in it is reported in one :class:`CatalogueError`, so a
user fixes a file in one pass instead of one error per run.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from graph.errors import CatalogueError, UnknownTypeError
from graph.plan import format_validation_errors
from graph.spec import ToolSpec
from graph.types import TYPE_ALIASES, ResourceType, resolve_type

CatalogueSource = str | Path | list[Any] | dict[str, Any]


class CatalogueShape(StrEnum):
    """The JSON layouts :func:`load_catalogue` understands."""

    TOG = "tog"
    CONTROLLLM = "controlllm"
    TASKBENCH = "taskbench"


# Keys that only one shape uses ("name"/"description" are shared, so they decide nothing).
_MARKERS: dict[CatalogueShape, frozenset[str]] = {
    CatalogueShape.TOG: frozenset({"domains", "inputs", "outputs", "device", "expected_seconds"}),
    CatalogueShape.CONTROLLLM: frozenset({"domain", "args", "returns"}),
    CatalogueShape.TASKBENCH: frozenset({"id", "desc", "input-type", "output-type", "parameters"}),
}

#: Parameter type names of API catalogues and the resource type each becomes (before the type aliases).
PARAMETER_TYPES: Mapping[str, ResourceType] = {
    "string": ResourceType.TEXT,
    "str": ResourceType.TEXT,
    "text": ResourceType.TEXT,
    "date": ResourceType.TEXT,
    "datetime": ResourceType.TEXT,
    "time": ResourceType.TEXT,
}

#: The output a tool without declared outputs gets (see the module's "Declared rules").
INFERRED_OUTPUT = {
    "name": "result",
    "type": ResourceType.TEXT,
    "description": "what the tool reports back (inferred: the catalogue declares no output)",
}

_SHAPES_HELP = (
    "expected a list of ToG tool specs ({name, description, inputs, outputs}), ControlLLM tools "
    "({name, description, domain, args, returns}) or TaskBench nodes ({id, desc, input-type, output-type} "
    'or {id, desc, parameters}), or {"nodes": [...]}'
)


class _Problems:
    """Collects every problem of one load, so all of them reach the user together."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.unknown_types = False
        self.fields: set[str] = set()  # top-level fields of the current entry reported missing or malformed

    def add(self, text: str) -> None:
        self.items.append(text)

    def __len__(self) -> int:
        return len(self.items)


class _TypeTable:
    """The built-in aliases plus the user's table, resolving names and reporting unknown ones."""

    def __init__(self, aliases: Mapping[str, ResourceType | str] | None, problems: _Problems) -> None:
        self.aliases: dict[str, ResourceType] = {}
        self.problems = problems
        for key, value in sorted((aliases or {}).items(), key=lambda kv: str(kv[0])):
            if not isinstance(key, str) or not key.strip():
                problems.add(f"alias table: alias names must be non-empty strings, got {key!r}")
                continue
            try:
                self.aliases[key.strip()] = resolve_type(value)
            except UnknownTypeError:
                problems.add(f"alias table: {key!r} maps to unknown resource type {value!r}")

    def resolve(self, name: Any, where: str) -> ResourceType | None:
        if not isinstance(name, str) or not name.strip():
            self.problems.add(f"{where}: resource type must be a non-empty string, got {name!r}")
            return None
        try:
            return resolve_type(name, self.aliases)
        except UnknownTypeError:
            hint = self._suggest(name)
            suggestion = f" (did you mean {hint!r}?)" if hint else ""
            self.problems.add(f"{where}: unknown resource type {name!r}{suggestion}")
            self.problems.unknown_types = True
            return None

    def _suggest(self, name: str) -> str | None:
        known = [rt.value for rt in ResourceType] + [k.lower() for k in {**TYPE_ALIASES, **self.aliases}]
        close = difflib.get_close_matches(name.strip().lower().rsplit(".", 1)[-1], known, n=1)
        return close[0] if close else None


# --- public API ---------------------------------------------------------------------------------


def load_catalogue(source: CatalogueSource, aliases: Mapping[str, ResourceType | str] | None = None) -> list[ToolSpec]:
    """Read a catalogue file (or already-parsed JSON) into specs, in the catalogue's order.

    >>> specs = load_catalogue([{"id": "Image Stitcher", "desc": "stitch two images",
    ...     "input-type": ["image", "image"], "output-type": ["image"]}])
    >>> [(i.name, i.type.value) for i in specs[0].inputs]
    [('image', 'image'), ('image_2', 'image')]
    >>> load_catalogue([{"id": "Weird", "desc": "d", "input-type": ["sketch"], "output-type": ["image"]}],
    ...                aliases={"sketch": "scribble"})[0].inputs[0].type.value
    'scribble'

    Raises :class:`~graph.errors.CatalogueError` listing every problem (unknown type names, missing
    fields, duplicate tool names, unreadable JSON, an unrecognised layout) when anything is wrong.
    """
    where = str(source) if isinstance(source, (str, Path)) else "(in-memory data)"
    data = _read(source) if isinstance(source, (str, Path)) else source
    problems = _Problems()
    types = _TypeTable(aliases, problems)
    entries = _entries(data, where)
    shape = _detect(entries, where)
    specs = _convert_all(entries, shape, types, problems)
    if problems.items:
        message = f"cannot load tool catalogue {where}: {len(problems)} problem(s)"
        if problems.unknown_types:
            known = ", ".join(rt.value for rt in ResourceType)
            message += f" (known types: {known}; map other names with an alias table)"
        raise CatalogueError(message, problems=problems.items, source=where, shape=shape.value)
    return specs


def _convert_all(entries: list[Any], shape: CatalogueShape, types: _TypeTable, problems: _Problems) -> list[ToolSpec]:
    convert = _CONVERTERS[shape]
    specs: list[ToolSpec] = []
    names: dict[str, list[int]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.add(f"entry {index}: expected an object, got {type(entry).__name__}")
            continue
        label = _label(entry, index)
        other = _entry_shape(entry)
        if other is not None and other != shape:
            problems.add(f"{label}: looks like a {other.value} entry in a {shape.value} catalogue")
            continue
        before = len(problems)
        problems.fields.clear()
        raw = convert(entry, label, types, problems)
        if isinstance(raw.get("name"), str) and raw["name"] != _MISSING:
            names.setdefault(raw["name"].strip(), []).append(index)
        spec = _validate(raw, label, problems, _FOREIGN_FIELDS.get(shape, {}))
        if spec is not None and len(problems) == before:
            specs.append(spec)
    for name, indices in sorted(names.items()):
        if len(indices) > 1:
            problems.add(f"duplicate tool name {name!r} (entries {', '.join(map(str, indices))})")
    return specs


def dump_catalogue(specs: Iterable[ToolSpec]) -> list[dict[str, Any]]:
    """Write specs in ToG's own catalogue shape; :func:`load_catalogue` reads it back unchanged.

    >>> from graph.spec import OutputSpec
    >>> spec = ToolSpec(name="now", description="current time", outputs=[OutputSpec(name="time", type="time")])
    >>> load_catalogue(dump_catalogue([spec])) == [spec]
    True
    """
    return [spec.model_dump(mode="json") for spec in specs]


def detect_shape(data: Any) -> CatalogueShape:
    """Which layout a catalogue uses: the one most of its entries look like.

    >>> detect_shape({"nodes": [{"id": "t", "desc": "d", "input-type": [], "output-type": ["text"]}]}).value
    'taskbench'
    """
    return _detect(_entries(data, "(in-memory data)"), "(in-memory data)")


def _detect(entries: list[Any], where: str) -> CatalogueShape:
    votes = Counter(s for s in map(_entry_shape, entries) if s is not None)
    if not votes:
        keys = ", ".join(sorted({str(k) for e in entries if isinstance(e, dict) for k in e})) or "none"
        raise CatalogueError(
            f"unrecognised catalogue shape in {where}",
            problems=[f"no entry uses the keys of a known shape (keys seen: {keys}); {_SHAPES_HELP}"],
        )
    order = list(CatalogueShape)
    return max(votes, key=lambda s: (votes[s], -order.index(s)))


# --- reading ------------------------------------------------------------------------------------


def _read(source: str | Path) -> Any:
    path = Path(source).expanduser()
    if not path.exists():
        raise CatalogueError(f"tool catalogue {str(path)!r} does not exist", source=str(path))
    if not path.is_file():
        raise CatalogueError(f"tool catalogue {str(path)!r} is not a file", source=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"cannot read tool catalogue {str(path)!r}: {exc}", source=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogueError(
            f"tool catalogue {str(path)!r} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            source=str(path),
        ) from None


def _entries(data: Any, where: str) -> list[Any]:
    entries: list[Any]
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        entries = data["nodes"]
    elif isinstance(data, list):
        entries = data
    else:
        got = type(data).__name__
        if isinstance(data, dict):
            got = f"an object with keys {', '.join(sorted(map(str, data)))}"
        raise CatalogueError(f"unrecognised catalogue shape in {where}", problems=[f"got {got}; {_SHAPES_HELP}"])
    if not entries:
        raise CatalogueError(f"tool catalogue {where} lists no tools")
    return entries


def _entry_shape(entry: Any) -> CatalogueShape | None:
    if not isinstance(entry, dict):
        return None
    hits = {shape: len(markers & entry.keys()) for shape, markers in _MARKERS.items()}
    best = max(hits.values())
    winners = [shape for shape, n in hits.items() if n == best]
    return winners[0] if best and len(winners) == 1 else None


def _label(entry: dict[str, Any], index: int) -> str:
    name = entry.get("name", entry.get("id"))
    return f"tool {name.strip()!r}" if isinstance(name, str) and name.strip() else f"entry {index}"


# Our field names as the foreign shapes spell them, so a problem points at the key the user wrote.
_FOREIGN_FIELDS: dict[CatalogueShape, dict[str, str]] = {
    CatalogueShape.CONTROLLLM: {"inputs": "args", "outputs": "returns", "domains": "domain"},
    CatalogueShape.TASKBENCH: {"name": "id", "description": "desc", "inputs": "input-type", "outputs": "output-type"},
}


def _validate(raw: dict[str, Any], label: str, problems: _Problems, fields: Mapping[str, str]) -> ToolSpec | None:
    try:
        return ToolSpec.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        failed = {err["loc"] for err in errors}
        for err, line in zip(errors, format_validation_errors(exc)):
            loc = err["loc"]
            if err["type"] == "too_short" and any(other[: len(loc)] == loc != other for other in failed):
                continue  # "no outputs left" only because an output itself is invalid: said already
            head = str(loc[0]) if loc else ""
            if fields.get(head, head) in problems.fields:
                continue  # the converter reported this field already, with the user's words
            problems.add(f"{label} {fields.get(head, head)}{line[len(head) :]}")
        return None


# --- one converter per shape: entry -> raw ToolSpec dict -----------------------------------------
# A missing field or unknown type is reported and replaced by a placeholder, so pydantic still reports
# the entry's other problems; an entry with any problem is never returned.

_PLACEHOLDER = ResourceType.TEXT
_MISSING = "<missing>"
_KIND_NAMES: dict[type, str] = {str: "string", list: "list", dict: "object"}


def _require(entry: dict[str, Any], key: str, kind: type, where: str, problems: _Problems, placeholder: Any) -> Any:
    if key not in entry:
        problems.add(f"{where}: missing field {key!r}")
        return placeholder
    value = entry[key]
    if not isinstance(value, kind):
        problems.add(f"{where}: field {key!r} must be a {_KIND_NAMES[kind]}, got {type(value).__name__}")
        return placeholder
    return value


def _field(entry: dict[str, Any], key: str, kind: type, label: str, problems: _Problems, placeholder: Any) -> Any:
    """A top-level field; when it is missing or malformed, pydantic's own complaint about it is dropped."""
    before = len(problems)
    value = _require(entry, key, kind, label, problems, placeholder)
    if len(problems) > before:
        problems.fields.add(key)
    return value


def _domains(entry: dict[str, Any], key: str, label: str, problems: _Problems) -> Any:
    value = entry.get(key, ["general"])
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(d, str) for d in value)):
        return value
    problems.add(f"{label}: field {key!r} must be a string or a list of strings, got {value!r}")
    problems.fields.add(key)
    return ["general"]


def _from_tog(entry: dict[str, Any], label: str, types: _TypeTable, problems: _Problems) -> dict[str, Any]:
    raw = {**entry, "domains": _domains(entry, "domains", label, problems)}
    for key, role in (("inputs", "input"), ("outputs", "output")):
        items = raw.get(key)
        if not isinstance(items, list):
            continue  # pydantic reports the missing or malformed field
        raw[key] = [
            {**item, "type": types.resolve(item["type"], f"{label} {role} {_arg_name(item, i)}") or _PLACEHOLDER}
            if isinstance(item, dict) and "type" in item
            else item  # pydantic reports the malformed item
            for i, item in enumerate(items)
        ]
    return raw


def _from_controlllm(entry: dict[str, Any], label: str, types: _TypeTable, problems: _Problems) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": _field(entry, "name", str, label, problems, _MISSING),
        "description": _field(entry, "description", str, label, problems, _MISSING),
        "domains": _domains(entry, "domain", label, problems),
    }
    for source_key, key, role in (("args", "inputs", "input"), ("returns", "outputs", "output")):
        kept = ("name", "type", "description") + (("required", "default") if role == "input" else ())
        converted = []
        for i, item in enumerate(_field(entry, source_key, list, label, problems, [])):
            where = f"{label} {role} {_arg_name(item, i)}"
            if not isinstance(item, dict):
                problems.add(f"{where}: expected an object, got {type(item).__name__}")
                continue
            arg = {k: item[k] for k in kept if k in item}
            arg["name"] = _require(item, "name", str, where, problems, f"arg{i}")
            type_name = _require(item, "type", str, where, problems, None)
            arg["type"] = (types.resolve(type_name, where) if type_name is not None else None) or _PLACEHOLDER
            converted.append(arg)
        raw[key] = converted
    if not raw["outputs"] and "returns" not in problems.fields:
        raw["outputs"] = [dict(INFERRED_OUTPUT)]
    return raw


def _from_taskbench(entry: dict[str, Any], label: str, types: _TypeTable, problems: _Problems) -> dict[str, Any]:
    name_key = "id" if "id" in entry or "name" not in entry else "name"
    desc_key = "desc" if "desc" in entry or "description" not in entry else "description"
    raw: dict[str, Any] = {
        "name": _field(entry, name_key, str, label, problems, _MISSING),
        "description": _field(entry, desc_key, str, label, problems, _MISSING),
        "domains": _domains(entry, "domains" if "domains" in entry else "domain", label, problems),
    }
    if "parameters" in entry and "input-type" not in entry:
        raw["inputs"] = _parameters(entry, label, types, problems)
    else:
        type_names = _field(entry, "input-type", list, label, problems, [])
        raw["inputs"] = _typed_list(type_names, label, "input", types)
    if "output-type" in entry or "parameters" not in entry:
        type_names = _field(entry, "output-type", list, label, problems, [])
        raw["outputs"] = _typed_list(type_names, label, "output", types)
    if not raw.get("outputs") and "outputs" not in problems.fields and "output-type" not in problems.fields:
        raw["outputs"] = [dict(INFERRED_OUTPUT)]
    return raw


def _typed_list(type_names: list[Any], label: str, role: str, types: _TypeTable) -> list[dict[str, Any]]:
    """TaskBench's unnamed ``input-type``/``output-type`` lists: arguments named after their types."""
    resolved = [types.resolve(t, f"{label} {role} {i}") for i, t in enumerate(type_names)]
    bases = [rt.value if rt else _identifier(t) for rt, t in zip(resolved, type_names)]
    return [{"name": n, "type": rt or _PLACEHOLDER} for n, rt in zip(_numbered(bases), resolved)]


def _parameters(entry: dict[str, Any], label: str, types: _TypeTable, problems: _Problems) -> list[dict[str, Any]]:
    """Named, typed API parameters as required inputs, by the declared :data:`PARAMETER_TYPES` rule."""
    inputs: list[dict[str, Any]] = []
    for i, item in enumerate(_field(entry, "parameters", list, label, problems, [])):
        where = f"{label} parameter {_arg_name(item, i)}"
        if not isinstance(item, dict):
            problems.add(f"{where}: expected an object, got {type(item).__name__}")
            continue
        name = _require(item, "name", str, where, problems, f"arg{i}")
        type_name = _require(item, "type", str, where, problems, None)
        rtype = None
        if type_name is not None:
            rtype = PARAMETER_TYPES.get(type_name.strip().lower()) or types.resolve(type_name, where)
        description = str(item.get("desc", item.get("description", "")) or "").strip()
        if type_name is not None:
            description = f"{description} ({type_name})".strip()
        inputs.append({"name": _identifier(name), "type": rtype or _PLACEHOLDER, "description": description})
    names = _numbered([arg["name"] for arg in inputs])
    return [{**arg, "name": n} for arg, n in zip(inputs, names)]


_CONVERTERS: dict[CatalogueShape, Callable[[dict[str, Any], str, _TypeTable, _Problems], dict[str, Any]]] = {
    CatalogueShape.TOG: _from_tog,
    CatalogueShape.CONTROLLLM: _from_controlllm,
    CatalogueShape.TASKBENCH: _from_taskbench,
}


def _arg_name(item: Any, index: int) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return repr(name) if isinstance(name, str) else str(index)


def _identifier(text: Any) -> str:
    cleaned = re.sub(r"\W+", "_", str(text).strip().lower()).strip("_")
    return cleaned if cleaned and not cleaned[0].isdigit() else f"arg_{cleaned}"


def _numbered(bases: list[str]) -> list[str]:
    """Unique names from possibly repeated bases: image, image -> image, image_2."""
    names: list[str] = []
    for base in bases:
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names
