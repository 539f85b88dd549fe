"""The tool protocol: specs built from hints and docstrings, definition errors, call checks, setup."""

from __future__ import annotations

import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

import pytest
from PIL import Image as PILImage

from graph.spec import Device, InputSpec, OutputSpec, ToolSpec
from graph.types import BBox, Label, ResourceType
from tools.annotations import Audio, BBoxes, Image, Mask, Text
from tools.base import FunctionTool, Tool, tool
from tools.errors import (
    ToolDefinitionError,
    ToolError,
    ToolExecutionError,
    ToolInputError,
    ToolUnavailableError,
)


class Found(TypedDict):
    boxes: BBoxes
    count: int


class MaybeFound(TypedDict, total=False):
    boxes: BBoxes


# --- spec building -------------------------------------------------------------------------------------


def test_spec_from_hints_and_docstring() -> None:
    @tool(domains=["image-editing"], device="gpu", expected_seconds=2.5)
    def highlight(image: Image, boxes: list[BBox], mask: Mask, colour: str = "red", width: int = 3) -> Image:
        """Draw boxes on an image.

        Longer notes that are not part of the description.

        Args:
            image: the picture.
            boxes (bboxes): where to draw,
                one rectangle each.
            mask: where drawing is allowed.
            colour: line colour.

        Returns:
            highlighted: the picture with boxes.
        """
        return image

    spec = highlight.spec
    assert isinstance(highlight, FunctionTool) and isinstance(highlight, Tool)
    assert spec.name == "highlight"
    assert spec.description == "Draw boxes on an image."
    assert spec.domains == ("image-editing",)
    assert spec.device is Device.GPU and spec.expected_seconds == 2.5
    assert [(i.name, i.type, i.required, i.default) for i in spec.inputs] == [
        ("image", ResourceType.IMAGE, True, None),
        ("boxes", ResourceType.BBOXES, True, None),
        ("mask", ResourceType.MASK, True, None),
        ("colour", ResourceType.TEXT, False, "red"),
        ("width", ResourceType.NUMBER, False, 3),
    ]
    assert spec.inputs[1].description == "where to draw, one rectangle each."
    assert spec.inputs[4].description == ""  # undocumented arguments are allowed
    assert [(o.name, o.type, o.description) for o in spec.outputs] == [
        ("highlighted", ResourceType.IMAGE, "the picture with boxes.")
    ]


def test_unnamed_return_is_called_result_and_name_override() -> None:
    @tool(name="echo-text", description="Give the text back.")
    def echo(text: Text) -> str:
        """Ignored because description is given.

        Returns:
            The same text, unchanged.
        """
        return text

    assert echo.spec.name == "echo-text"
    assert echo.spec.description == "Give the text back."
    assert echo.spec.outputs == (OutputSpec(name="result", type="text", description="The same text, unchanged."),)
    assert echo(text="hi") == {"result": "hi"}


def test_typeddict_return_gives_several_outputs() -> None:
    @tool
    def find(image: Image) -> Found:
        """Find things.

        Returns:
            boxes: where they are.
            count: how many.
        """
        return {"boxes": [{"x1": 0, "y1": 0, "x2": 2, "y2": 2}], "count": 1}

    assert [(o.name, o.type, o.description) for o in find.spec.outputs] == [
        ("boxes", ResourceType.BBOXES, "where they are."),
        ("count", ResourceType.NUMBER, "how many."),
    ]
    result = find(image=PILImage.new("RGB", (4, 4)))
    assert result == {"boxes": [BBox(x1=0, y1=0, x2=2, y2=2)], "count": 1}


def test_literal_optional_and_alias_hints() -> None:
    @tool
    def pick(mode: Literal["fast", "slow"] = "fast", limit: int | None = None, clip: Audio | None = None) -> Text:
        """Pick a mode."""
        return mode

    inputs = {i.name: i for i in pick.spec.inputs}
    assert inputs["mode"].type is ResourceType.TEXT and "'fast', 'slow'" in inputs["mode"].description
    assert inputs["limit"].type is ResourceType.NUMBER and not inputs["limit"].required
    assert inputs["clip"].type is ResourceType.AUDIO
    assert pick() == {"result": "fast"}
    with pytest.raises(ToolInputError) as err:
        pick(mode="medium")
    assert err.value.argument == "mode" and "'fast', 'slow'" in str(err.value)


def test_spec_arguments_schema_reflects_optional_defaults() -> None:
    @tool
    def scale(factor: float = 2.0) -> float:
        """Return a factor."""
        return factor

    schema = scale.spec.arguments_schema()
    assert schema["required"] == [] and schema["properties"]["factor"]["default"] == 2.0


# --- definition errors ---------------------------------------------------------------------------------


def _define(func: Any, **options: Any) -> FunctionTool:
    return tool(**options)(func)


def _no_return(text: str):  # type: ignore[no-untyped-def]
    """Do it."""


def _no_param_hint(text) -> str:  # type: ignore[no-untyped-def]
    """Do it."""
    return text


def _var_args(*texts: str) -> str:
    """Do it."""
    return ""


def _var_kwargs(**texts: str) -> str:
    """Do it."""
    return ""


def _positional_only(text: str, /) -> str:
    """Do it."""
    return text


def _no_docstring(text: str) -> str:
    return text


def _doc_mismatch(text: str) -> str:
    """Do it.

    Args:
        txt: a misspelt argument.
    """
    return text


def _unknown_type(image: PILImage.Image) -> Any:
    """Do it."""


def _typo_type(image: Annotated[PILImage.Image, "imgae"]) -> str:
    """Do it."""
    return ""


def _wrong_python_type(path: Annotated[str, ResourceType.IMAGE]) -> str:
    """Do it."""
    return ""


def _bytes_param(data: bytes) -> str:
    """Do it."""
    return ""


def _ambiguous_path(clip: Path) -> str:
    """Do it."""
    return ""


def _non_json_default(text: str = object()) -> str:  # type: ignore[assignment]
    """Do it."""
    return text


def _nan_default(x: float = float("nan")) -> str:
    """Do it."""
    return ""


def _default_wrong_type(x: int = "three") -> str:  # type: ignore[assignment]
    """Do it."""
    return ""


def _none_default_not_optional(x: int = None) -> str:  # type: ignore[assignment]
    """Do it."""
    return ""


def _returns_none(text: str) -> None:
    """Do it."""


def _too_many_returns(text: str) -> str:
    """Do it.

    Returns:
        a: one.
        b: two.
    """
    return text


def _optional_typeddict_key(text: str) -> MaybeFound:
    """Do it."""
    return {}


def _returns_doc_mismatch(text: str) -> Found:
    """Do it.

    Returns:
        boxes: found.
        total: not a key.
    """
    return {"boxes": [], "count": 0}


def _bad_args_line(text: str) -> str:
    """Do it.

    Args:
        this line is not an entry
    """
    return text


DEFINITION_ERRORS = [
    (_no_return, "no return type hint"),
    (_no_param_hint, "'text' has no type hint"),
    (_var_args, "*args/**kwargs"),
    (_var_kwargs, "*args/**kwargs"),
    (_positional_only, "positional-only"),
    (_no_docstring, "no description"),
    (_doc_mismatch, "'txt', which the signature does not have"),
    (_unknown_type, "cannot map"),
    (_typo_type, "unknown resource type 'imgae'"),
    (_wrong_python_type, "resource type 'image' holds a PIL.Image.Image, not str"),
    (_bytes_param, "cannot map bytes"),
    (_ambiguous_path, "could be several resource types"),
    (_non_json_default, "not a JSON value"),
    (_nan_default, "not a JSON value"),
    (_default_wrong_type, "does not fit its hint"),
    (_none_default_not_optional, "does not fit its hint"),
    (_returns_none, "returns None"),
    (_too_many_returns, "return a TypedDict"),
    (_optional_typeddict_key, "every output must be produced"),
    (_returns_doc_mismatch, "'total', which the TypedDict does not have"),
    (_bad_args_line, "is not 'name: description'"),
]


@pytest.mark.parametrize(("func", "message"), DEFINITION_ERRORS, ids=[f.__name__ for f, _ in DEFINITION_ERRORS])
def test_definition_errors_name_the_tool(func: Any, message: str) -> None:
    with pytest.raises(ToolDefinitionError) as err:
        _define(func)
    assert err.value.tool == func.__name__
    assert func.__name__ in str(err.value)
    assert message in str(err.value)


def test_unresolvable_hint_is_a_definition_error() -> None:
    def local(text: NoSuchType) -> str:  # noqa: F821
        """Do it."""
        return ""

    with pytest.raises(ToolDefinitionError, match="cannot resolve the type hints"):
        tool(local)


def test_invalid_spec_values_are_definition_errors() -> None:
    with pytest.raises(ToolDefinitionError, match="expected_seconds"):
        tool(expected_seconds=-1)(_ok)
    with pytest.raises(ToolDefinitionError, match="device"):
        tool(device="tpu")(_ok)


def _ok(text: str) -> str:
    """Return the text."""
    return text


def test_tool_needs_a_function() -> None:
    with pytest.raises(ToolDefinitionError, match="needs a function"):
        tool(len)  # type: ignore[arg-type]


def test_class_tool_defined_wrongly_fails_at_class_creation() -> None:
    with pytest.raises(ToolDefinitionError, match="defines no forward"):

        class NoForward(Tool):
            name = "no_forward"

    with pytest.raises(ToolDefinitionError) as err:

        class BadHint(Tool):
            name = "bad_hint"

            def forward(self, data: bytes) -> str:
                """Do it."""
                return ""

    assert err.value.tool == "bad_hint" and "cannot map bytes" in str(err.value)


def test_incomplete_class_cannot_be_instantiated() -> None:
    class Base(Tool):
        """An abstract helper base with no name."""

    with pytest.raises(ToolDefinitionError, match="not a complete tool"):
        Base()


# --- calling: inputs -----------------------------------------------------------------------------------


@tool
def describe(image: Image, boxes: BBoxes, count: int = 1, factor: float = 1.0, note: str | None = None) -> Text:
    """Describe boxes on an image."""
    return f"{image.size} {len(boxes)} {count!r} {factor!r} {note}"


IMG = PILImage.new("RGB", (8, 6))


def test_defaults_filled_and_values_coerced() -> None:
    result = describe(image=IMG, boxes=[{"x1": 1, "y1": 1, "x2": 3, "y2": 3, "label": "a"}], count=2.0, factor=2)
    assert result == {"result": "(8, 6) 1 2 2.0 None"}  # 2.0 -> int 2, int 2 -> float 2.0


def test_missing_required_argument_is_named() -> None:
    with pytest.raises(ToolInputError) as err:
        describe(image=IMG)
    assert err.value.argument == "boxes" and err.value.tool == "describe"
    assert "needs argument 'boxes'" in str(err.value)


def test_unknown_argument_is_named() -> None:
    with pytest.raises(ToolInputError) as err:
        describe(image=IMG, boxes=[], colour="red")
    assert err.value.argument == "colour" and "image, boxes, count, factor, note" in str(err.value)


@pytest.mark.parametrize(
    ("argument", "value", "expected"),
    [
        ("image", "photo.png", "PIL.Image.Image"),
        ("boxes", [{"x1": 0, "y1": 0}], "item 0 is not a valid BBox"),
        ("boxes", [{"x1": 0, "y1": 0, "x2": 1, "y2": 1, "score": 3}], "score"),
        ("boxes", [(0, 0, 1, 1)], "expected a BBox or a dict"),
        ("boxes", {"x1": 0, "y1": 0, "x2": 1, "y2": 1}, "list of BBox"),
        ("count", "3", "numeric strings are not converted"),
        ("count", 2.5, "expected an int"),
        ("count", True, "an int"),
        ("factor", float("inf"), "finite"),
        ("note", 5, "a str or None"),
    ],
)
def test_wrong_values_are_named_with_expected_type(argument: str, value: Any, expected: str) -> None:
    arguments: dict[str, Any] = {"image": IMG, "boxes": [], argument: value}
    with pytest.raises(ToolInputError) as err:
        describe(**arguments)
    assert err.value.argument == argument
    assert expected in str(err.value)


def test_none_only_where_the_hint_allows_it() -> None:
    assert describe(image=IMG, boxes=[], note=None)["result"].endswith("None")
    with pytest.raises(ToolInputError, match="got None") as err:
        describe(image=IMG, boxes=None)
    assert err.value.argument == "boxes"


def test_file_arguments_must_exist(tmp_path: Path) -> None:
    @tool
    def size_of(clip: Audio) -> int:
        """Size of an audio file in bytes."""
        return clip.stat().st_size

    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF1234")
    assert size_of(clip=str(wav)) == {"result": 8}
    with pytest.raises(ToolInputError, match="is not a file") as err:
        size_of(clip=tmp_path / "missing.wav")
    assert err.value.argument == "clip"


def test_default_values_are_not_shared_between_calls() -> None:
    @tool
    def grow(tags: list[str] = ["a"]) -> list[str]:  # noqa: B006 - the point of the test
        """Append to a list."""
        tags.append("x")
        return tags

    assert grow() == {"result": ["a", "x"]}
    assert grow() == {"result": ["a", "x"]}


# --- calling: outputs and failures ---------------------------------------------------------------------


def test_wrong_output_type_is_an_execution_error() -> None:
    @tool
    def liar(text: str) -> int:
        """Claim a number, return text."""
        return "seven"  # type: ignore[return-value]

    with pytest.raises(ToolExecutionError, match="returned a bad 'result'") as err:
        liar(text="x")
    assert err.value.retryable is False and err.value.tool == "liar"


def test_single_output_returned_as_mapping_gets_a_hint() -> None:
    @tool
    def wrapped(text: str) -> str:
        """Return a mapping by mistake.

        Returns:
            answer: the answer.
        """
        return {"answer": text}  # type: ignore[return-value]

    with pytest.raises(ToolExecutionError, match="returns the bare value"):
        wrapped(text="x")


def test_multi_output_keys_are_checked() -> None:
    @tool
    def partial(image: Image) -> Found:
        """Forget an output."""
        return {"boxes": []}  # type: ignore[typeddict-item]

    with pytest.raises(ToolExecutionError, match="missing: count"):
        partial(image=IMG)

    @tool
    def not_a_mapping(image: Image) -> Found:
        """Return a list."""
        return [[], 0]  # type: ignore[return-value]

    with pytest.raises(ToolExecutionError, match="must return a mapping with keys boxes, count"):
        not_a_mapping(image=IMG)


def test_unexpected_exceptions_are_wrapped_with_cause() -> None:
    @tool
    def broken(text: str) -> str:
        """Fail."""
        raise ZeroDivisionError("boom")

    with pytest.raises(ToolExecutionError) as err:
        broken(text="x")
    assert isinstance(err.value.__cause__, ZeroDivisionError)
    assert err.value.retryable is False and "ZeroDivisionError: boom" in str(err.value)


def test_tool_errors_pass_through_and_get_the_tool_name() -> None:
    @tool
    def picky(text: str) -> str:
        """Reject some text."""
        if text == "retry":
            raise ToolExecutionError("busy", retryable=True)
        raise ToolInputError("too short", argument="text")

    with pytest.raises(ToolInputError) as err:
        picky(text="x")
    assert err.value.argument == "text" and err.value.tool == "picky"
    assert err.value.to_dict()["details"]["tool"] == "picky"
    with pytest.raises(ToolExecutionError) as err2:
        picky(text="retry")
    assert err2.value.retryable is True


# --- class tools, setup and availability ---------------------------------------------------------------


class SlowModel(Tool):
    name = "slow_model"
    domains = ("image-understanding",)
    device = "gpu"

    def __init__(self) -> None:
        self.setups = 0

    def setup(self) -> None:
        time.sleep(0.05)  # long enough for every thread to arrive while the first is inside setup
        self.setups += 1

    def forward(self, image: Image, question: Text) -> Text:
        """Answer a question about an image.

        Args:
            question: what to ask.
        """
        return f"{question} {image.size[0]}"


def test_class_tool_spec_from_forward() -> None:
    spec = SlowModel().spec
    assert spec.name == "slow_model" and spec.device is Device.GPU
    assert spec.description == "Answer a question about an image."
    assert [(i.name, i.type.value) for i in spec.inputs] == [("image", "image"), ("question", "text")]
    assert spec.inputs[1].description == "what to ask."


def test_setup_runs_exactly_once_across_threads() -> None:
    model = SlowModel()
    barrier = threading.Barrier(16)

    def call(i: int) -> dict[str, Any]:
        barrier.wait()
        return model(image=IMG, question=f"q{i}")

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, range(16)))
    assert model.setups == 1
    assert results[3] == {"result": "q3 8"}


def test_failed_setup_is_unavailable_and_retried_next_call() -> None:
    class Flaky(Tool):
        name = "flaky"
        attempts = 0

        def setup(self) -> None:
            type(self).attempts += 1
            if type(self).attempts == 1:
                raise OSError("weights not found")

        def forward(self, text: Text) -> Text:
            """Echo."""
            return text

    flaky = Flaky()
    with pytest.raises(ToolUnavailableError, match="weights not found") as err:
        flaky(text="a")
    assert isinstance(err.value.__cause__, OSError) and err.value.tool == "flaky"
    assert flaky(text="a") == {"result": "a"}


def test_unavailable_tool_refuses_to_run_with_reason() -> None:
    class NoWeights(Tool):
        name = "no_weights"

        def available(self) -> tuple[bool, str]:
            return False, "TOG_VLM_MODEL is not set"

        def forward(self, text: Text) -> Text:
            """Echo."""
            raise AssertionError("must not run")

    with pytest.raises(ToolUnavailableError) as err:
        NoWeights()(text="a")
    assert err.value.reason == "TOG_VLM_MODEL is not set"
    assert "no_weights" in str(err.value)


def test_class_tool_with_explicit_spec_checks_by_resource_type() -> None:
    class FromCatalogue(Tool):
        spec = ToolSpec(
            name="label_it",
            description="label an image",
            inputs=[
                InputSpec(name="image", type="image"),
                InputSpec(name="top", type="number", required=False, default=3),
            ],
            outputs=[OutputSpec(name="labels", type="category")],
        )

        def forward(self, **kwargs: Any) -> Any:
            return [{"name": "cat", "score": 0.9}] * kwargs["top"]

    labeller = FromCatalogue()
    assert labeller(image=IMG, top=1) == {"labels": [Label(name="cat", score=0.9)]}
    assert len(labeller(image=IMG)["labels"]) == 3
    with pytest.raises(ToolInputError) as err:
        labeller(image="x.png")
    assert err.value.argument == "image"


def test_tool_errors_are_tog_errors_with_codes() -> None:
    err = ToolInputError("bad", argument="x", tool="t")
    assert isinstance(err, ToolError)
    assert err.to_dict() == {"code": "tool_input", "message": "bad", "details": {"tool": "t", "argument": "x"}}
    assert ToolUnavailableError("no GPU", tool="t").to_dict()["code"] == "tool_unavailable"


def test_tools_pickle_for_worker_processes() -> None:
    from tools.image_ops import crop_image

    assert pickle.loads(pickle.dumps(crop_image)) is crop_image  # module-level @tool: by reference
    model = SlowModel()
    model(image=IMG, question="q")
    copy = pickle.loads(pickle.dumps(model))
    assert copy is not model and copy.spec is model.spec
    assert copy(image=IMG, question="again") == {"result": "again 8"}
    assert copy.setups == 2  # set up again in its new home
