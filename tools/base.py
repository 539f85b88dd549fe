"""The tool protocol: :class:`Tool`, the ``@tool`` decorator, and the checks around every call.

A tool is a callable with a :class:`~graph.spec.ToolSpec`. Calling it with keyword arguments checks them
against the spec, fills defaults, runs :meth:`Tool.setup` once, calls :meth:`Tool.forward`, checks what it
returned, and gives back ``{output_name: value}``. Everything that can go wrong becomes a typed
:class:`~tools.errors.ToolError`, so the engine can tell "fix the argument" from "retry" from "fail".

Function tools get their spec from type hints and a Google-style docstring, checked when defined::

    >>> from tools.base import tool
    >>> @tool(domains=["general"])
    ... def shout(text: str, times: int = 1) -> str:
    ...     '''Repeat text in capitals.
    ...
    ...     Args:
    ...         text: what to shout.
    ...         times: how often.
    ...     '''
    ...     return " ".join([text.upper()] * times)
    >>> shout(text="hi", times=2)
    {'result': 'HI HI'}
    >>> [(i.name, i.type.value, i.required) for i in shout.spec.inputs]
    [('text', 'text', True), ('times', 'number', False)]

Class tools (for models) set ``name`` and write a typed ``forward``; ``setup`` loads the model once::

    class Captioner(Tool):
        name = "caption"
        device = "gpu"

        def setup(self) -> None:
            self.model = load_model()

        def forward(self, image: Image) -> Text:
            '''Describe an image in one sentence.'''
            return self.model.caption(image)

A class may instead set ``spec`` to a :class:`ToolSpec` (or a property returning one), with a generic
``forward(**kwargs)``; its values are then checked by resource type alone.

Return convention: a tool with one output returns the bare value; a tool with several returns a mapping
with exactly its output names (function tools declare them with a ``TypedDict`` return hint).
"""

from __future__ import annotations

import copy
import inspect
import json
import sys
import threading
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import update_wrapper
from typing import Any, ClassVar, overload

from pydantic import ValidationError

from graph.spec import Device, InputSpec, OutputSpec, ToolSpec
from tools.annotations import (
    AnnotationProblem,
    ValueCheck,
    ValueProblem,
    check_for_annotation,
    check_for_type,
)
from tools.docstrings import DocstringError, parse_docstring
from tools.errors import ToolDefinitionError, ToolError, ToolExecutionError, ToolInputError, ToolUnavailableError

__all__ = ["FunctionTool", "Tool", "availability", "tool"]


#: Planning rules a tool may declare, copied into its spec (see :class:`~graph.spec.ToolSpec`).
_RULES = ("groups", "conflicts_with", "not_after", "not_before")
#: Class attributes that shape a class tool's spec; defining any of them in a subclass rebuilds it.
_SPEC_ATTRIBUTES = ("name", "description", "domains", "device", "expected_seconds", "forward", *_RULES, "from_subtask")


@dataclass(frozen=True)
class _Checks:
    inputs: dict[str, ValueCheck]
    outputs: dict[str, ValueCheck]

    @classmethod
    def from_spec(cls, spec: ToolSpec) -> _Checks:
        return cls(
            inputs={i.name: check_for_type(i.type, nullable=not i.required and i.default is None) for i in spec.inputs},
            outputs={o.name: check_for_type(o.type) for o in spec.outputs},
        )


# --- the protocol ------------------------------------------------------------------------------------


class Tool:
    """Base of every tool. Subclasses set ``name`` and a typed ``forward``, or a ``spec``.

    ``description`` defaults to the first paragraph of ``forward``'s docstring; ``domains``, ``device``
    and ``expected_seconds`` are cost and routing hints copied into the spec; ``groups``, ``conflicts_with``,
    ``not_after``, ``not_before`` and ``from_subtask`` (names of inputs that take only values the subtask
    was given) are planning rules, also copied. Read ``tool.spec`` for the authoritative values.
    """

    name: str = ""
    description: ClassVar[str] = ""
    domains: ClassVar[Sequence[str]] = ("general",)
    device: ClassVar[Device | str] = Device.CPU
    expected_seconds: ClassVar[float] = 0.1
    groups: ClassVar[Sequence[str]] = ()
    conflicts_with: ClassVar[Sequence[str]] = ()
    not_after: ClassVar[Sequence[str]] = ()
    not_before: ClassVar[Sequence[str]] = ()
    from_subtask: ClassVar[Sequence[str]] = ()

    _class_spec: ClassVar[ToolSpec | None] = None
    _class_checks: ClassVar[_Checks | None] = None
    _setup_lock: threading.Lock
    _is_set_up: bool

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "spec" in own:
            if isinstance(own["spec"], ToolSpec):
                cls._class_spec, cls._class_checks = own["spec"], None
            elif not isinstance(own["spec"], property):
                raise ToolDefinitionError(
                    f"{cls.__name__}.spec must be a ToolSpec or a property, got {type(own['spec']).__name__}",
                    tool=cls.name or cls.__name__,
                )
            return
        if cls.name and any(k in own for k in _SPEC_ATTRIBUTES):
            if cls.forward is Tool.forward:
                raise ToolDefinitionError(f"tool {cls.name!r} ({cls.__name__}) defines no forward()", tool=cls.name)
            cls._class_spec, cls._class_checks = build_spec(
                cls.forward,
                name=cls.name,
                description=cls.description or None,
                domains=cls.domains,
                device=cls.device,
                expected_seconds=cls.expected_seconds,
                rules={rule: getattr(cls, rule) for rule in _RULES},
                from_subtask=cls.from_subtask,
                bound=True,
            )

    def __new__(cls, *args: Any, **kwargs: Any) -> Tool:
        if cls._class_spec is None and cls.spec is Tool.__dict__["spec"]:
            raise ToolDefinitionError(
                f"{cls.__name__} is not a complete tool: set `name` and a typed `forward`, or a `spec`",
                tool=cls.__name__,
            )
        self = super().__new__(cls)
        self._setup_lock = threading.Lock()
        self._is_set_up = False
        return self

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the lock (for process pools and Ray); ``setup`` runs again where it lands."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_setup_lock", "_spec_checks")}
        state["_is_set_up"] = False
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup_lock = threading.Lock()

    # --- hooks for subclasses -------------------------------------------------------------------------

    @property
    def spec(self) -> ToolSpec:
        assert self._class_spec is not None  # __new__ refuses classes without one
        return self._class_spec

    def available(self) -> tuple[bool, str]:
        """Whether the backend exists (model configured, package installed), and if not, why not.

        Keep it cheap: the registry asks every time it builds a tool graph.
        """
        return True, ""

    def setup(self) -> None:
        """Load heavy state (a model). Called once, under a lock, before the first call."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Do the work on checked arguments; return the value (one output) or a mapping (several).

        Called with keyword arguments only. The base signature is ``(*args, **kwargs)`` so that a subclass
        may declare its own typed arguments (type checkers accept any override of it).
        """
        raise NotImplementedError

    # --- the call -------------------------------------------------------------------------------------

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        """Check ``kwargs``, run the tool, check and return its outputs as ``{name: value}``."""
        spec = self.spec
        arguments = self._bind(spec, kwargs)
        self._ensure_setup(spec.name)
        try:
            raw = self.forward(**arguments)
        except ToolError as exc:
            _attribute(exc, spec.name)
            raise
        except Exception as exc:
            raise ToolExecutionError(
                f"tool {spec.name!r} failed: {type(exc).__name__}: {exc}", tool=spec.name, retryable=False
            ) from exc
        return self._check_outputs(spec, raw)

    def _value_checks(self) -> _Checks:
        spec = self.spec
        class_checks = type(self)._class_checks
        if spec is type(self)._class_spec and class_checks is not None:
            return class_checks
        cached = self.__dict__.get("_spec_checks")
        if cached is None or cached[0] is not spec:
            cached = (spec, _Checks.from_spec(spec))
            self.__dict__["_spec_checks"] = cached
        return cached[1]

    def _bind(self, spec: ToolSpec, kwargs: dict[str, Any]) -> dict[str, Any]:
        checks = self._value_checks().inputs
        unknown = sorted(set(kwargs) - set(checks))
        if unknown:
            raise ToolInputError(
                f"tool {spec.name!r} has no argument {unknown[0]!r}; its arguments are: "
                + (", ".join(i.name for i in spec.inputs) or "none"),
                argument=unknown[0],
                tool=spec.name,
            )
        arguments: dict[str, Any] = {}
        for inp in spec.inputs:
            if inp.name in kwargs:
                try:
                    arguments[inp.name] = checks[inp.name].coerce(kwargs[inp.name])
                except ValueProblem as exc:
                    raise ToolInputError(
                        f"tool {spec.name!r}, argument {inp.name!r} ({inp.type.value}): {exc}",
                        argument=inp.name,
                        tool=spec.name,
                    ) from None
            elif inp.required:
                raise ToolInputError(
                    f"tool {spec.name!r} needs argument {inp.name!r} ({inp.type.value})",
                    argument=inp.name,
                    tool=spec.name,
                )
            else:
                arguments[inp.name] = copy.deepcopy(inp.default)
        return arguments

    def _ensure_setup(self, name: str) -> None:
        if self._is_set_up:
            return
        with self._setup_lock:
            if self._is_set_up:
                return
            ok, reason = availability(self)
            if not ok:
                raise ToolUnavailableError(reason, tool=name)
            try:
                self.setup()
            except ToolError as exc:
                _attribute(exc, name)
                raise
            except Exception as exc:
                raise ToolUnavailableError(f"setup failed: {type(exc).__name__}: {exc}", tool=name) from exc
            self._is_set_up = True

    def _check_outputs(self, spec: ToolSpec, raw: Any) -> dict[str, Any]:
        checks = self._value_checks().outputs
        names = [o.name for o in spec.outputs]
        if len(names) == 1:
            values = {names[0]: raw}
        elif not isinstance(raw, Mapping):
            raise ToolExecutionError(
                f"tool {spec.name!r} returned {type(raw).__name__}; it must return a mapping with keys "
                + ", ".join(names),
                tool=spec.name,
            )
        elif set(raw) != set(names):
            missing, extra = sorted(set(names) - set(raw)), sorted(set(raw) - set(names))
            raise ToolExecutionError(
                f"tool {spec.name!r} returned the wrong outputs (missing: {', '.join(missing) or 'none'}; "
                f"unexpected: {', '.join(map(str, extra)) or 'none'})",
                tool=spec.name,
            )
        else:
            values = dict(raw)
        result: dict[str, Any] = {}
        for out in spec.outputs:
            try:
                result[out.name] = checks[out.name].coerce(values[out.name])
            except ValueProblem as exc:
                hint = ""
                if len(names) == 1 and isinstance(raw, Mapping) and set(raw) == {out.name}:
                    hint = " (a tool with one output returns the bare value, not a mapping)"
                raise ToolExecutionError(
                    f"tool {spec.name!r} returned a bad {out.name!r} ({out.type.value}): {exc}{hint}",
                    tool=spec.name,
                ) from None
        return result

    def __repr__(self) -> str:
        spec = self.spec
        ins = ", ".join(f"{i.name}: {i.type.value}" for i in spec.inputs)
        outs = ", ".join(f"{o.name}: {o.type.value}" for o in spec.outputs)
        return f"<{type(self).__name__} {spec.name}({ins}) -> {outs}>"


def availability(tool: Tool) -> tuple[bool, str]:
    """Ask a tool whether it can run; a check that itself fails counts as "unavailable", with the reason."""
    try:
        result = tool.available()
    except Exception as exc:  # a broken check must not take the registry down
        return False, f"availability check failed: {type(exc).__name__}: {exc}"
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bool)):
        return False, f"available() must return (bool, reason), got {result!r}"
    ok, reason = result
    return ok, "" if ok else (str(reason) or "no reason given")


def _attribute(exc: ToolError, name: str) -> None:
    """Name the tool in an error raised from inside it without the tool's own name."""
    if exc.tool is None:
        exc.tool = name
        exc.details["tool"] = name


# --- function tools ---------------------------------------------------------------------------------


class FunctionTool(Tool):
    """A tool made by ``@tool`` from a function; ``func`` is the undecorated function."""

    def __init__(self, func: Callable[..., Any], spec: ToolSpec, checks: _Checks) -> None:
        self.func = func
        self.name = spec.name
        self._spec = spec
        self._checks = checks
        update_wrapper(self, func)

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    def _value_checks(self) -> _Checks:
        return self._checks

    def forward(self, **kwargs: Any) -> Any:
        return self.func(**kwargs)

    def __reduce__(self) -> str | tuple[Any, ...]:
        # A module-level @tool replaces its function under the same name, so pickle it by reference.
        module = sys.modules.get(self.func.__module__)
        qualname: str = self.func.__qualname__  # typed Any on a Callable
        if module is not None and getattr(module, qualname, None) is self:
            return qualname
        return super().__reduce__()


@overload
def tool(func: Callable[..., Any], /) -> FunctionTool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    domains: Sequence[str] = ("general",),
    device: Device | str = Device.CPU,
    expected_seconds: float = 0.1,
    groups: Sequence[str] = (),
    conflicts_with: Sequence[str] = (),
    not_after: Sequence[str] = (),
    not_before: Sequence[str] = (),
    from_subtask: Sequence[str] = (),
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    domains: Sequence[str] = ("general",),
    device: Device | str = Device.CPU,
    expected_seconds: float = 0.1,
    groups: Sequence[str] = (),
    conflicts_with: Sequence[str] = (),
    not_after: Sequence[str] = (),
    not_before: Sequence[str] = (),
    from_subtask: Sequence[str] = (),
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Turn a typed function into a :class:`FunctionTool`; raise :class:`ToolDefinitionError` if it can't be one.

    ``name`` defaults to the function name and ``description`` to the docstring's first paragraph. The
    planning rules (``groups`` … ``not_before``, and ``from_subtask``: parameters that take only values the
    subtask was given) go into the spec as :class:`~graph.spec.ToolSpec` documents them.
    """

    def decorate(f: Callable[..., Any]) -> FunctionTool:
        if not inspect.isfunction(f):
            raise ToolDefinitionError(f"@tool needs a function, got {f!r}", tool=name or repr(f))
        spec, checks = build_spec(
            f,
            name=name or f.__name__,
            description=description,
            domains=domains,
            device=device,
            expected_seconds=expected_seconds,
            rules={
                "groups": groups,
                "conflicts_with": conflicts_with,
                "not_after": not_after,
                "not_before": not_before,
            },
            from_subtask=from_subtask,
            bound=False,
        )
        return FunctionTool(f, spec, checks)

    return decorate(func) if func is not None else decorate


# --- spec building ------------------------------------------------------------------------------------


def build_spec(
    func: Callable[..., Any],
    *,
    name: str,
    description: str | None,
    domains: Sequence[str],
    device: Device | str,
    expected_seconds: float,
    bound: bool,
    rules: Mapping[str, Sequence[str]] | None = None,
    from_subtask: Sequence[str] = (),
) -> tuple[ToolSpec, _Checks]:
    """Build a spec and its value checks from a signature and docstring (``bound``: skip ``self``;
    ``rules`` and ``from_subtask``: the planning rules, :class:`Tool` documents them)."""

    def fail(problem: str) -> ToolDefinitionError:
        return ToolDefinitionError(f"tool {name!r}: {problem}", tool=name)

    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:
        raise fail(f"cannot resolve the type hints of {func.__qualname__}: {type(exc).__name__}: {exc}") from exc
    try:
        doc = parse_docstring(func.__doc__)
    except DocstringError as exc:
        raise fail(f"bad docstring: {exc}") from None
    description = description or doc.description
    if not description or not description.strip():
        raise fail("no description: give a docstring whose first paragraph says what the tool does")

    params = list(inspect.signature(func).parameters.values())[1 if bound else 0 :]
    unknown = sorted(set(from_subtask) - {p.name for p in params})
    if unknown:
        raise fail(f"from_subtask names {', '.join(map(repr, unknown))}, which the signature does not have")
    inputs: list[InputSpec] = []
    input_checks: dict[str, ValueCheck] = {}
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise fail(f"*args/**kwargs ({param}) cannot be typed inputs; list every argument")
        if param.kind is param.POSITIONAL_ONLY:
            raise fail(f"parameter {param.name!r} is positional-only; tools are called by keyword")
        if param.name not in hints:
            raise fail(f"parameter {param.name!r} has no type hint")
        check = _annotation_check(hints[param.name], f"parameter {param.name!r}", fail)
        required = param.default is inspect.Parameter.empty
        if not required:
            _check_default(param.name, param.default, check, fail)
        inputs.append(
            InputSpec(
                name=param.name,
                type=check.rtype,
                description=_with_choices(doc.args.get(param.name, ""), check),
                required=required,
                default=None if required else param.default,
                from_subtask=param.name in from_subtask,
            )
        )
        input_checks[param.name] = check
    stray = sorted(set(doc.args) - {p.name for p in params})
    if stray:
        raise fail(f"docstring Args describe {', '.join(map(repr, stray))}, which the signature does not have")

    outputs, output_checks = _outputs(hints, doc.returns, fail)
    try:
        # Validated from a mapping: ``device`` may be a string (e.g. "gpu"), which the model converts.
        spec = ToolSpec.model_validate(
            {
                "name": name,
                "description": description,
                "domains": tuple(domains),
                "inputs": tuple(inputs),
                "outputs": tuple(outputs),
                "device": device,
                "expected_seconds": expected_seconds,
                **{rule: tuple(names) for rule, names in (rules or {}).items()},
            }
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors())
        raise fail(problems) from None
    return spec, _Checks(inputs=input_checks, outputs=output_checks)


def _annotation_check(annotation: Any, what: str, fail: Callable[[str], ToolDefinitionError]) -> ValueCheck:
    try:
        return check_for_annotation(annotation)
    except AnnotationProblem as exc:
        raise fail(f"{what}: {exc}") from None


def _check_default(param: str, default: Any, check: ValueCheck, fail: Callable[[str], ToolDefinitionError]) -> None:
    try:
        json.dumps(default, allow_nan=False)
    except (TypeError, ValueError):
        raise fail(f"the default of {param!r} ({default!r}) is not a JSON value") from None
    try:
        check.coerce(default)
    except ValueProblem as exc:
        raise fail(f"the default of {param!r} does not fit its hint: {exc}") from None


def _with_choices(description: str, check: ValueCheck) -> str:
    if check.choices is None or all(str(c) in description for c in check.choices):
        return description
    choices = "one of " + ", ".join(repr(c) for c in check.choices)
    return f"{description} ({choices})" if description else choices


def _outputs(
    hints: dict[str, Any], returns: list[tuple[str | None, str]], fail: Callable[[str], ToolDefinitionError]
) -> tuple[list[OutputSpec], dict[str, ValueCheck]]:
    if "return" not in hints:
        raise fail("no return type hint")
    annotation = hints["return"]
    if annotation is None or annotation is type(None):
        raise fail("returns None; a tool must produce at least one typed output")
    if typing.is_typeddict(annotation):
        if annotation.__optional_keys__:
            raise fail(f"every output must be produced; make {sorted(annotation.__optional_keys__)} required")
        fields = typing.get_type_hints(annotation, include_extras=True)
        documented = {n: text for n, text in returns if n is not None}
        stray = sorted(set(documented) - set(fields))
        if stray:
            raise fail(f"docstring Returns describe {', '.join(map(repr, stray))}, which the TypedDict does not have")
        checks = {n: _annotation_check(t, f"output {n!r}", fail) for n, t in fields.items()}
        return [OutputSpec(name=n, type=checks[n].rtype, description=documented.get(n, "")) for n in fields], checks
    check = _annotation_check(annotation, "return hint", fail)
    if len(returns) > 1:
        raise fail(f"docstring Returns describe {len(returns)} outputs; return a TypedDict to have several")
    out_name, text = returns[0] if returns else (None, "")
    out_name = out_name or "result"
    return [OutputSpec(name=out_name, type=check.rtype, description=text)], {out_name: check}
