"""The user-trial suite's format: requests with real inputs, each with the outcome a user rightly expects.

A suite is a YAML file (``tests/data/outcomes/cases.yaml``)::

    cases:
      - id: faces-count-en
        request: how many faces are in this photo
        lang: en
        inputs: [{sample: group, name: photo.png}]
        expect: {outcome: answer, count: 3}
      - id: video-from-image
        request: turn this image into a video of a dancing cat
        lang: en
        inputs: [{sample: chelsea}]
        expect: {outcome: refusal, reason: ["video"]}

``outcome`` is what the user should get: ``answer`` (status succeeded, and every declared check holds),
``refusal`` (status unsupported, its reason naming each of ``reason``) or ``empty`` (status empty, the
answer's reason naming each of ``reason``). A ``reason`` entry may list alternatives, ``"a|b"``; matching
ignores case. Loading checks every case and reports every problem at once.

A suite runs on an agent with no model configured, whatever the environment says; a top-level
``settings`` mapping may set the ``vlm`` and ``llm`` sections instead (a model whose weights cannot load).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.evaluation.trial_inputs import SAMPLES
from graph.errors import ProblemsError
from graph.plan import format_validation_errors
from graph.types import ResourceType

Outcome = Literal["answer", "refusal", "empty"]
#: Image operations a result can be compared against (``like``); ``resize:WxH`` scales to that size.
IMAGE_OPS = ("grey", "rotate_cw", "rotate_ccw", "rotate_180", "flip_horizontal", "flip_vertical")


class OutcomeSuiteError(ProblemsError, ValueError):
    """A suite file that cannot be used; ``problems`` names each bad case."""

    code = "invalid_outcome_suite"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseInput(_Strict):
    """One input: a generated ``sample`` file, or a literal ``value`` of ``type`` (named ``name``)."""

    sample: str | None = None
    value: Any = None
    type: ResourceType | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CaseInput:
        if (self.sample is None) == (self.value is None):
            raise ValueError("give either sample (a generated file) or value (a literal)")
        if self.sample is not None and self.sample not in SAMPLES:
            raise ValueError(f"unknown sample {self.sample!r}; choose one of {', '.join(sorted(SAMPLES))}")
        if self.value is not None and self.type is None:
            raise ValueError("a literal value needs its type")
        return self


class ImageCheck(_Strict):
    """Properties of the result's last image, relative to the case's first image input where needed."""

    grey: bool | None = None
    size: tuple[int, int] | None = None
    width: int | None = None
    same_size: bool | None = None
    smaller: bool | None = None
    brighter: bool | None = None
    like: list[str] | None = Field(
        default=None, description="the output looks like the input after these operations, in order"
    )
    edited: tuple[float, float] | None = Field(
        default=None,
        description="the fraction of pixels that differ from the input (after `like`) lies in this range: "
        "a local edit such as a blur or drawn boxes",
    )

    @model_validator(mode="after")
    def _known_ops(self) -> ImageCheck:
        for op in self.like or []:
            if op not in IMAGE_OPS and not _is_resize(op):
                raise ValueError(f"unknown image operation {op!r}; choose {', '.join(IMAGE_OPS)} or resize:WxH")
        if self.edited is not None and not 0 <= self.edited[0] <= self.edited[1] <= 1:
            raise ValueError("edited is a range of fractions, 0 <= low <= high <= 1")
        return self


def _is_resize(op: str) -> bool:
    name, _, size = op.partition(":")
    width, _, height = size.partition("x")
    return name == "resize" and width.isdigit() and height.isdigit()


class AudioCheck(_Strict):
    """The result's last audio: long enough, and (checked by transcribing it) saying each of ``says``."""

    min_seconds: float = 0.3
    says: list[str] = Field(default_factory=list)


class Expect(_Strict):
    """What a user rightly expects; an ``answer`` declares at least one check of it."""

    outcome: Outcome
    contains: list[str] = Field(default_factory=list, description="the answer names each (a|b: either)")
    number: float | None = None
    tolerance: float = 0.005
    count: int | None = None
    boxes: int | None = Field(default=None, description="the last list of boxes holds this many")
    image: ImageCheck | None = None
    audio: AudioCheck | None = None
    reason: list[str] = Field(default_factory=list, description="the refusal or empty reason names each")
    also_empty: bool = Field(
        default=False, description="an honest 'nothing found' (its reason naming each of reason) is right as well"
    )
    also_refused: bool = Field(
        default=False,
        description="an honest refusal (its reason naming each of reason) is right as well: the answer needs a "
        "tool that is unavailable here, though a user could accept a weaker one",
    )

    @model_validator(mode="after")
    def _checkable(self) -> Expect:
        checks = [
            self.contains,
            self.number is not None,
            self.count is not None,
            self.boxes is not None,
            self.image,
            self.audio,
        ]
        if self.outcome == "answer":
            if not any(checks):
                raise ValueError("an expected answer needs a check: contains, number, count, boxes, image or audio")
            if self.also_empty and self.also_refused:
                raise ValueError("give also_empty or also_refused, not both (they share reason)")
            if bool(self.reason) != (self.also_empty or self.also_refused):
                raise ValueError("an answer that may also be empty or refused says what the reason names (reason)")
        else:
            if any(checks):
                raise ValueError(f"an expected {self.outcome} has no answer to check; give reason only")
            if not self.reason:
                raise ValueError(f"an expected {self.outcome} must say what its reason names (reason)")
        if (self.also_empty or self.also_refused) and self.outcome != "answer":
            raise ValueError("also_empty and also_refused are for an expected answer")
        return self


class Case(_Strict):
    id: str = Field(min_length=1)
    request: str = Field(min_length=1)
    lang: Literal["en", "zh"]
    inputs: list[CaseInput] = Field(default_factory=list)
    expect: Expect
    kind: str = Field(default="", description="a grouping for the report: impossible, unconfigured, offline, …")
    note: str = ""


#: Settings sections a suite may set: which models the agent has (none by default).
MODEL_SECTIONS = ("vlm", "llm")


class Suite(_Strict):
    """Cases, and the model settings of the agent they run on (default: none — a fresh install)."""

    cases: list[Case]
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)


def parse_suite(data: Any, source: str = "suite") -> Suite:
    """Validate a parsed suite; every bad case is reported, with its id or position."""
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise OutcomeSuiteError(f"{source} must be a mapping with a list under 'cases'")
    problems: list[str] = []
    settings = data.get("settings") or {}
    if not isinstance(settings, dict) or any(
        k not in MODEL_SECTIONS or not isinstance(v, dict) for k, v in settings.items()
    ):
        problems.append(f"settings may only set the sections {', '.join(MODEL_SECTIONS)}, each a mapping")
        settings = {}
    unknown = sorted(set(data) - {"cases", "settings"})
    if unknown:
        problems.append(f"unknown top-level key(s): {', '.join(unknown)}")
    cases: list[Case] = []
    seen: set[str] = set()
    for number, raw in enumerate(data["cases"], start=1):
        where = f"case {number}" + (f" ({raw.get('id')})" if isinstance(raw, dict) and raw.get("id") else "")
        try:
            case = Case.model_validate(raw)
        except ValidationError as exc:
            problems.extend(f"{where}: {p}" for p in format_validation_errors(exc))
            continue
        if case.id in seen:
            problems.append(f"{where}: id {case.id!r} is used twice")
            continue
        seen.add(case.id)
        cases.append(case)
    if problems:
        raise OutcomeSuiteError(f"{source} has {len(problems)} problem(s)", problems=problems)
    if not cases:
        raise OutcomeSuiteError(f"{source} holds no cases")
    return Suite(cases=cases, settings=settings)


def load_suite(path: str | Path) -> Suite:
    """Read a suite YAML file (see the module docstring)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OutcomeSuiteError(f"no suite at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OutcomeSuiteError(f"cannot read the suite {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OutcomeSuiteError(f"{path} is not YAML: {exc}") from None
    return parse_suite(data, source=str(path))
