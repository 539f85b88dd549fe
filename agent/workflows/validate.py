"""Checking a workflow's meaning against a tool registry, before anything runs, with every problem at once.

Reported (each with the file position of the node at fault):

* ``unknown_tool`` — a step names a tool the registry does not have (with the closest names);
* ``unknown_argument`` / ``missing_argument`` — an argument the tool does not take, a required one not given;
* ``unknown_reference`` — ``${inputs.x}`` with no such input, ``${steps.s.outputs.y}`` with no such step or
  output, ``${item}`` outside ``foreach``, or malformed reference text;
* ``type_mismatch`` — a reference whose type is not the argument's (a foreach step's outputs are lists,
  usable by another ``foreach`` or as workflow outputs), a literal that does not fit, a comparison of a
  value with a literal of another kind, ``foreach`` over something that is not a list;
* ``bad_condition`` — a ``when:`` that does not parse;
* ``cycle`` — steps that need each other's outputs;
* ``unused_output`` — a step nothing uses: no step, condition or workflow output reads any of its
  outputs, so it would run for nothing (tools have no side effects).

Tools that exist but cannot run here (no model configured) are *warnings*: the file is right, the
machine is not ready; running it refuses to start (see :mod:`agent.workflows.run`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from agent.workflows.condition import Compare, Condition, ConditionSyntaxError, parse_condition, references
from agent.workflows.errors import Problem, WorkflowValidationError
from agent.workflows.model import InputDecl, StepDecl, WorkflowSpec
from agent.workflows.parse import SourceMap
from agent.workflows.refs import FORMS_HINT, Ref, RefSyntaxError, looks_like_ref, parse_ref
from graph.spec import InputSpec, ToolSpec
from graph.types import FILE_TYPES, ResourceType
from tools.annotations import ValueProblem, check_for_type
from tools.base import availability
from tools.registry import ToolRegistry

#: List-valued types ``foreach`` can iterate; each item is a one-element list of the same type (a box
#: is ``bboxes`` holding one box), so it feeds the same tool arguments a whole list does.
ITERABLE_TYPES: frozenset[ResourceType] = frozenset(
    {
        ResourceType.BBOXES,
        ResourceType.LABELS,
        ResourceType.TAGS,
        ResourceType.POINTS,
        ResourceType.POLYGONS,
        ResourceType.TRANSCRIPT,
        ResourceType.TABLE,
    }
)
_TEXT_TYPES = frozenset(
    {
        ResourceType.TEXT,
        ResourceType.TITLE,
        ResourceType.LOCATION,
        ResourceType.TIME,
        ResourceType.URL,
        ResourceType.CODE,
        ResourceType.LANGUAGE,
    }
)


@dataclass(frozen=True)
class ValueType:
    """The type of a value in a workflow: a resource type, or a list of them (one per foreach item)."""

    type: ResourceType
    many: bool = False

    def __str__(self) -> str:
        return f"a list of {self.type.value} (one per item)" if self.many else self.type.value


@dataclass(frozen=True)
class Literal:
    """A literal argument, already checked and converted for its argument (file paths made absolute)."""

    value: Any


Binding = Ref | Literal


@dataclass
class CheckedStep:
    decl: StepDecl
    index: int
    spec: ToolSpec
    args: dict[str, Binding]
    outputs: dict[str, ValueType]
    foreach: Ref | None = None
    condition: Condition | None = None
    deps: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        return self.decl.id

    @property
    def tool(self) -> str:
        return self.decl.tool

    def refs(self) -> list[Ref]:
        """Every reference the step reads: arguments, foreach source, condition operands."""
        found = [b for b in self.args.values() if isinstance(b, Ref)]
        if self.foreach is not None:
            found.append(self.foreach)
        if self.condition is not None:
            found.extend(r.ref for r in references(self.condition))
        return found

    def first_of_type(self, output: str) -> bool:
        """Whether ``output`` is the first of its type among the tool's outputs: only those can be wired
        between steps compiled into the same engine run (the engine binds upstream outputs by type)."""
        rtype = self.outputs[output].type
        return next(o.name for o in self.spec.outputs if o.type == rtype) == output


@dataclass
class CheckedWorkflow:
    """A workflow that passed validation: steps in a topological order, every binding resolved and typed."""

    spec: WorkflowSpec
    steps: list[CheckedStep]
    outputs: dict[str, tuple[Ref, ValueType]]
    base_dir: Path | None = None
    warnings: list[Problem] = field(default_factory=list)
    source: SourceMap = field(default_factory=SourceMap)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def inputs(self) -> dict[str, InputDecl]:
        return self.spec.inputs

    def step(self, step_id: str) -> CheckedStep:
        return next(s for s in self.steps if s.id == step_id)


def validate(
    spec: WorkflowSpec,
    registry: ToolRegistry,
    where: SourceMap | None = None,
    base_dir: Path | None = None,
    *,
    allow_paths: bool = True,
) -> CheckedWorkflow:
    """Check ``spec`` against ``registry``; raise :class:`WorkflowValidationError` listing every problem.
    Without ``allow_paths`` a literal file argument is a problem (not looked up: a client of a service
    learns nothing about the server's files)."""
    return _Checker(spec, registry, where or SourceMap(), base_dir, allow_paths).check()


class _Checker:
    def __init__(
        self,
        spec: WorkflowSpec,
        registry: ToolRegistry,
        where: SourceMap,
        base_dir: Path | None,
        allow_paths: bool = True,
    ) -> None:
        self.spec, self.registry, self.where, self.base_dir = spec, registry, where, base_dir
        self.allow_paths = allow_paths
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.step_specs: dict[str, ToolSpec | None] = {}
        self.step_index: dict[str, int] = {}
        self.edges: set[tuple[str, str]] = set()

    def fail(self, code: str, message: str, *path: str | int, at_key: bool = False, offset: int = 0) -> None:
        self.problems.append(self.where.problem(code, message, path, at_key=at_key, offset=offset))

    def check(self) -> CheckedWorkflow:
        self._index_steps()
        self._check_defaults()
        steps = [self._step(i, decl) for i, decl in enumerate(self.spec.steps)]
        outputs = self._outputs()
        order = self._order([s for s in steps if s is not None])
        if order is not None:
            self._unused(order, outputs)
        self.problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        if self.problems:
            n = len(self.problems)
            raise WorkflowValidationError(
                f"the workflow has {n} problem{'s' if n != 1 else ''}; nothing was run", self.problems
            )
        assert order is not None
        return CheckedWorkflow(
            spec=self.spec,
            steps=order,
            outputs=outputs,
            base_dir=self.base_dir,
            warnings=self.warnings,
            source=self.where,
        )

    # --- names ----------------------------------------------------------------------------------------

    def _index_steps(self) -> None:
        for i, decl in enumerate(self.spec.steps):
            if decl.id in self.step_index:
                first = self.step_index[decl.id]
                self.fail(
                    "duplicate_step", f"step id {decl.id!r} is already used by step {first + 1}", "steps", i, "id"
                )
                continue
            self.step_index[decl.id] = i
            if decl.tool in self.registry:
                tool = self.registry.get(decl.tool)
                self.step_specs[decl.id] = tool.spec
                ok, reason = availability(tool)
                if not ok:
                    self.warnings.append(
                        self.where.problem(
                            "unavailable_tool", f"tool {decl.tool!r} cannot run here: {reason}", ("steps", i, "tool")
                        )
                    )
            else:
                self.step_specs[decl.id] = None
                close = difflib.get_close_matches(decl.tool, self.registry.names(), n=3)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else " (see `tog tools`)"
                self.fail("unknown_tool", f"unknown tool {decl.tool!r}{hint}", "steps", i, "tool")

    def _check_defaults(self) -> None:
        for name, decl in self.spec.inputs.items():
            if decl.required or decl.default is None:
                continue
            if decl.type in FILE_TYPES:
                if not isinstance(decl.default, str):
                    self.fail(
                        "type_mismatch",
                        f"the default of input {name!r} ({decl.type.value}) must be a file path",
                        "inputs",
                        name,
                        "default",
                    )
                continue
            try:
                check_for_type(decl.type).coerce(decl.default)
            except ValueProblem as exc:
                self.fail(
                    "type_mismatch",
                    f"the default of input {name!r} ({decl.type.value}) does not fit: {exc}",
                    "inputs",
                    name,
                    "default",
                )

    # --- steps ----------------------------------------------------------------------------------------

    def _step(self, index: int, decl: StepDecl) -> CheckedStep | None:
        if self.step_index.get(decl.id) != index:
            return None  # a duplicate id, reported
        spec = self.step_specs[decl.id]
        foreach, item = self._foreach(index, decl)
        condition = self._condition(index, decl)
        args: dict[str, Binding] = {}
        if spec is None:  # unknown tool: still check what its references point at
            for name, value in decl.args.items():
                if looks_like_ref(value):
                    ref = self._parse(value, "steps", index, "args", name)
                    if ref is not None:
                        self._type_of(ref, item, "steps", index, "args", name, in_foreach=decl.foreach is not None)
                        args[name] = ref
            self._deps(decl, args, foreach, condition)
            return None
        inputs = {i.name: i for i in spec.inputs}
        for name, value in decl.args.items():
            if name not in inputs:
                takes = ", ".join(inputs) or "no arguments"
                self.fail(
                    "unknown_argument",
                    f"tool {decl.tool!r} has no argument {name!r} (it takes {takes})",
                    "steps",
                    index,
                    "args",
                    name,
                    at_key=True,
                )
                continue
            binding = self._argument(index, decl, inputs[name], value, item)
            if binding is not None:
                args[name] = binding
        for inp in spec.inputs:
            if inp.required and inp.name not in decl.args:
                self.fail(
                    "missing_argument",
                    f"tool {decl.tool!r} needs argument {inp.name!r} ({inp.type.value})",
                    *(("steps", index, "args") if decl.args else ("steps", index, "tool")),
                )
        outputs = {o.name: ValueType(o.type, many=foreach is not None) for o in spec.outputs}
        step = CheckedStep(
            decl=decl, index=index, spec=spec, args=args, outputs=outputs, foreach=foreach, condition=condition
        )
        step.deps = self._deps(decl, args, foreach, condition)
        return step

    def _deps(
        self, decl: StepDecl, args: dict[str, Binding], foreach: Ref | None, condition: Condition | None
    ) -> set[str]:
        refs = [b for b in args.values() if isinstance(b, Ref)] + ([foreach] if foreach else [])
        if condition is not None:
            refs.extend(r.ref for r in references(condition))
        deps = {r.name for r in refs if r.kind == "step" and r.name in self.step_index}
        self.edges |= {(d, decl.id) for d in deps}
        return deps

    def _parse(self, text: str, *path: str | int) -> Ref | None:
        try:
            return parse_ref(text)
        except RefSyntaxError as exc:
            self.fail("unknown_reference", str(exc), *path)
            return None

    def _type_of(
        self, ref: Ref, item: ValueType | None, *path: str | int, in_foreach: bool = False
    ) -> ValueType | None:
        """The type a reference has here, or None after reporting why it does not resolve."""
        if ref.kind == "input":
            decl = self.spec.inputs.get(ref.name)
            if decl is None:
                known = ", ".join(self.spec.inputs) or "none"
                self.fail("unknown_reference", f"{ref} names no input (inputs: {known})", *path)
                return None
            return ValueType(decl.type)
        if ref.kind == "item":
            if item is None and not in_foreach:
                self.fail("unknown_reference", "${item} is only defined in a step with foreach", *path)
            return item  # None under a foreach whose list is wrong (reported there)
        if ref.name not in self.step_index:
            close = difflib.get_close_matches(ref.name, list(self.step_index), n=2)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            self.fail("unknown_reference", f"{ref}: there is no step {ref.name!r}{hint}", *path)
            return None
        spec = self.step_specs[ref.name]
        if spec is None:
            return None  # its unknown tool is reported
        outputs = {o.name: o.type for o in spec.outputs}
        if ref.output not in outputs:
            self.fail(
                "unknown_reference",
                f"{ref}: step {ref.name!r} ({spec.name}) has no output {ref.output!r}; "
                f"its outputs: {', '.join(outputs)}",
                *path,
            )
            return None
        producer = self.spec.steps[self.step_index[ref.name]]
        return ValueType(outputs[ref.output], many=producer.foreach is not None)

    def _argument(
        self, index: int, decl: StepDecl, inp: InputSpec, value: Any, item: ValueType | None
    ) -> Binding | None:
        path = ("steps", index, "args", inp.name)
        if looks_like_ref(value):
            ref = self._parse(value, *path)
            if ref is None:
                return None
            vtype = self._type_of(ref, item, *path, in_foreach=decl.foreach is not None)
            if vtype is not None and (vtype.many or vtype.type != inp.type):
                hint = " (iterate over it with foreach and pass ${item})" if vtype.many else ""
                self.fail(
                    "type_mismatch",
                    f"argument {inp.name!r} of {decl.tool} takes {inp.type.value}, but {ref} is {vtype}{hint}",
                    *path,
                )
            if ref.kind == "input" and inp.required and self._optional_without_value(ref.name):
                self.fail(
                    "missing_argument",
                    f"argument {inp.name!r} of {decl.tool} is required, but input "
                    f"{ref.name!r} may be left out (its default is null)",
                    *path,
                )
            return ref
        if value is None:
            return None  # null: the tool's default (a required argument is reported as missing)
        return self._literal(inp, decl, value, path)

    def _optional_without_value(self, name: str) -> bool:
        decl = self.spec.inputs.get(name)
        return decl is not None and not decl.required and decl.default is None

    def _literal(self, inp: InputSpec, decl: StepDecl, value: Any, path: tuple[str | int, ...]) -> Literal | None:
        if inp.type in FILE_TYPES:
            if not isinstance(value, str):
                self.fail(
                    "type_mismatch",
                    f"argument {inp.name!r} of {decl.tool} takes a {inp.type.value} file; give its path or a reference",
                    *path,
                )
                return None
            if not self.allow_paths:
                self.fail(
                    "bad_literal",
                    f"argument {inp.name!r} of {decl.tool}: file paths are not allowed here; "
                    "declare an input and pass an uploaded artifact",
                    *path,
                )
                return None
            file = Path(value).expanduser()
            if not file.is_absolute() and self.base_dir is not None:
                file = self.base_dir / file
            if not file.is_file():
                self.fail("missing_file", f"argument {inp.name!r} of {decl.tool}: no file at {str(file)!r}", *path)
                return None
            return Literal(str(file.resolve()))
        tool = self.registry.get(decl.tool)
        check = tool._value_checks().inputs.get(inp.name) or check_for_type(inp.type)
        try:
            return Literal(check.coerce(value))
        except ValueProblem as exc:
            self.fail("type_mismatch", f"argument {inp.name!r} of {decl.tool} ({inp.type.value}): {exc}", *path)
            return None

    def _foreach(self, index: int, decl: StepDecl) -> tuple[Ref | None, ValueType | None]:
        if decl.foreach is None:
            return None, None
        path = ("steps", index, "foreach")
        ref = self._parse(decl.foreach, *path)
        if ref is None:
            return None, None
        if ref.kind == "item":
            self.fail("unknown_reference", "foreach needs a list to iterate; ${item} is what it yields", *path)
            return None, None
        source = self._type_of(ref, None, *path)
        if source is None:
            return ref, None
        if source.many:
            return ref, ValueType(source.type)
        if source.type in ITERABLE_TYPES:
            return ref, source
        kinds = ", ".join(sorted(t.value for t in ITERABLE_TYPES))
        self.fail(
            "type_mismatch",
            f"foreach iterates over a list ({kinds}, or a foreach step's outputs), but {ref} is {source}",
            *path,
        )
        return ref, None

    def _condition(self, index: int, decl: StepDecl) -> Condition | None:
        if decl.when is None:
            return None
        path = ("steps", index, "when")
        try:
            condition = parse_condition(decl.when)
        except ConditionSyntaxError as exc:
            self.fail("bad_condition", f"when: {exc} (at character {exc.offset + 1})", *path, offset=exc.offset)
            return None
        for test in references(condition):
            if test.ref.kind == "item":
                self.fail(
                    "bad_condition",
                    "when: is decided once per step, so it cannot read ${item}; select the "
                    "items with a list tool before foreach",
                    *path,
                    offset=test.at,
                )
                continue
            vtype = self._type_of(test.ref, None, *path)
            if vtype is not None and isinstance(test, Compare):
                problem = _comparison_problem(test, vtype)
                if problem:
                    self.fail("type_mismatch", f"when: {problem}", *path, offset=test.at)
        return condition

    # --- the whole ------------------------------------------------------------------------------------

    def _outputs(self) -> dict[str, tuple[Ref, ValueType]]:
        outputs = {}
        for name, decl in self.spec.outputs.items():
            path: tuple[str, ...] = ("outputs", name)
            if (*path, "from") in self.where.values:
                path = (*path, "from")
            if not looks_like_ref(decl.from_):
                self.fail("unknown_reference", f"output {name!r} must be a reference: {FORMS_HINT}", *path)
                continue
            ref = self._parse(decl.from_, *path)
            if ref is None:
                continue
            if ref.kind == "item":
                self.fail("unknown_reference", "an output cannot be ${item}; name a step's output", *path)
                continue
            vtype = self._type_of(ref, None, *path)
            if vtype is not None:
                outputs[name] = (ref, vtype)
        return outputs

    def _order(self, steps: list[CheckedStep]) -> list[CheckedStep] | None:
        graph = nx.DiGraph()
        graph.add_nodes_from(self.step_index)
        graph.add_edges_from(self.edges)
        cyclic = False
        for component in sorted(
            nx.strongly_connected_components(graph), key=lambda c: min(self.step_index[s] for s in c)
        ):
            first = min(component, key=lambda s: self.step_index[s])
            if len(component) == 1 and not graph.has_edge(first, first):
                continue
            cyclic = True
            cycle = nx.find_cycle(graph.subgraph(component), source=first)
            loop = " -> ".join([cycle[0][0], *(v for _, v in cycle)])
            self.fail(
                "cycle",
                f"steps form a cycle: {loop} (each needs an output of the next)",
                "steps",
                self.step_index[first],
                "id",
            )
        if cyclic or len(steps) != len(self.step_index) or any(s is None for s in self.step_specs.values()):
            return None
        by_id = {s.id: s for s in steps}
        return [by_id[s] for s in nx.lexicographical_topological_sort(graph, key=lambda s: self.step_index[s])]

    def _unused(self, steps: list[CheckedStep], outputs: dict[str, tuple[Ref, ValueType]]) -> None:
        used = {r.name for s in steps for r in s.refs() if r.kind == "step"}
        used |= {ref.name for ref, _ in outputs.values() if ref.kind == "step"}
        for step in steps:
            if step.id not in used:
                made = ", ".join(f"{n} ({t})" for n, t in step.outputs.items())
                self.fail(
                    "unused_output",
                    f"step {step.id!r} ({step.tool}) makes {made}, which no step, condition or "
                    "output uses: use it, declare it under outputs, or remove the step",
                    "steps",
                    step.index,
                    "id",
                )


def _comparison_problem(test: Compare, vtype: ValueType) -> str | None:
    literal, ref = test.value, test.ref
    if literal is None:
        return None if test.op in ("==", "!=") else f"{ref} {test.op} null: null can only be tested with == or !="
    rtype = vtype.type
    if vtype.many or rtype not in (_TEXT_TYPES | {ResourceType.NUMBER, ResourceType.BOOLEAN}):
        return f"{ref} is {vtype}: test it alone (non-empty?) or count it with a tool first"
    if rtype is ResourceType.NUMBER:
        if isinstance(literal, bool) or not isinstance(literal, (int, float)):
            return f"{ref} is a number, compared with {literal!r}"
        return None
    if rtype is ResourceType.BOOLEAN:
        if not isinstance(literal, bool):
            return f"{ref} is a boolean, compared with {literal!r}"
    elif not isinstance(literal, str):
        return f"{ref} is {rtype.value}, compared with {literal!r} (quote text literals)"
    if test.op not in ("==", "!="):
        return f"{ref} is {rtype.value}: only == and != compare it"
    return None
