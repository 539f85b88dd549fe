"""The LLM decomposer with scripted backends, a fake OpenAI-compatible server and the tiny random
InternVL under constrained decoding."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.decompose.base import DecompositionError, Resource
from agent.decompose.llm import MAX_NEW_TOKENS, LLMDecomposer
from agent.decompose.prompt import DraftLimits, draft_model, output_schema, tool_domains
from agent.decompose.repair import literal_types
from graph.errors import EmptyRequestError
from graph.plan import Plan
from graph.spec import ToolSpec
from graph.types import ResourceType
from vlm.backends.base import ChatRequest, VLMBackend
from vlm.constrained import check_schema, json_token_budget

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "vlm"))
from fake_openai_server import FakeOpenAIServer, image_parts, user_text

PHOTO = Resource(name="photo.jpg", type="image", value="/data/photo.jpg")
TALK = Resource(name="talk.wav", type="audio", value="/data/talk.wav")
DOMAINS = ["image-perception", "visual-question-answering", "audio-generation"]

CAPTION_THEN_SPEAK = {
    "subtasks": [
        {"description": "caption photo.jpg", "task": ["visual-question-answering"], "id": 0, "dep": [-1],
         "args": [{"type": "image", "value": "photo.jpg"}, {"type": "text", "value": "Describe the photo."}],
         "returns": [{"type": "text"}]},
        {"description": "read the caption aloud", "task": ["audio-generation"], "id": 1, "dep": [0],
         "args": [{"type": "text", "value": "<GENERATED>-0"}], "returns": [{"type": "audio"}]},
    ]
}  # fmt: skip


class ScriptedBackend(VLMBackend):
    """Answers each request with the next scripted text (the last one repeats); keeps every request."""

    name = "scripted"

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.requests: list[ChatRequest] = []

    def batch_chat(self, requests: Sequence[ChatRequest]) -> list[str]:
        out = []
        for request in requests:
            self.requests.append(request)
            out.append(self.answers[min(len(self.requests), len(self.answers)) - 1])
        return out

    def stream(self, request: ChatRequest) -> Iterator[str]:
        return iter(self.batch_chat([request]))


def decomposer(backend: VLMBackend, **options: Any) -> LLMDecomposer:
    return LLMDecomposer(backend, domains=DOMAINS, **options)


def test_a_valid_answer_becomes_the_plan_asked_for_in_one_text_only_call() -> None:
    backend = ScriptedBackend(json.dumps(CAPTION_THEN_SPEAK))
    llm = decomposer(backend)
    plan = llm.decompose("Caption photo.jpg and read it aloud", [PHOTO, TALK])
    assert plan == Plan.from_controlllm("Caption photo.jpg and read it aloud", [
        {**CAPTION_THEN_SPEAK["subtasks"][0], "args": [{"type": "image", "value": "/data/photo.jpg"},
                                                       {"type": "text", "value": "Describe the photo."}]},
        CAPTION_THEN_SPEAK["subtasks"][1],
    ])  # fmt: skip
    (request,) = backend.requests
    assert request.images == [] and request.history == [] and request.video is None
    assert request.generation.json_schema == llm.schema and not request.generation.do_sample
    assert request.question.startswith("Request: Caption photo.jpg and read it aloud\n")
    assert "- photo.jpg: image\n- talk.wav: audio" in request.question
    assert "/data/" not in request.question + (request.system_message or "")  # paths stay out of the prompt


def test_the_instructions_list_domains_every_type_and_examples() -> None:
    backend = ScriptedBackend(json.dumps(CAPTION_THEN_SPEAK))
    decomposer(backend).decompose("Caption photo.jpg", [PHOTO])
    system = backend.requests[0].system_message or ""
    assert "audio-generation, general, image-perception, visual-question-answering." in system
    for rtype in ResourceType:
        assert f"\n- {rtype.value}: " in system
    examples = [line.removeprefix("Answer: ") for line in system.splitlines() if line.startswith("Answer: ")]
    assert len(examples) == 2
    model = draft_model(DOMAINS)
    for example in examples:
        model.model_validate_json(example)  # the examples obey the contract they teach


def test_an_invalid_answer_is_shown_again_with_its_problem_then_the_valid_one_is_used() -> None:
    bad = '{"subtasks": [{"description": "caption", "id": 0, "args": [], "returns": [{"type": "picture-ish"}]}]}'
    backend = ScriptedBackend(bad, json.dumps(CAPTION_THEN_SPEAK))
    plan = decomposer(backend).decompose("Caption photo.jpg and read it aloud", [PHOTO])
    assert [s.id for s in plan.subtasks] == [0, 1]
    first, second = backend.requests
    assert second.history[0].question == first.question and second.history[0].answer == bad
    assert second.question.startswith("That answer cannot be used: the JSON does not fit the schema: ")
    assert "subtasks.0.returns.0.type" in second.question and "picture-ish" in second.question
    assert second.system_message == first.system_message and second.generation == first.generation


def test_every_kind_of_problem_is_fed_back() -> None:
    answers = [
        "I would caption the photo.",  # no JSON
        '{"subtasks": [',  # broken JSON
        json.dumps({"subtasks": [{**CAPTION_THEN_SPEAK["subtasks"][1], "id": 0, "dep": [-1]}]}),  # nothing to speak
        json.dumps({"subtasks": [CAPTION_THEN_SPEAK["subtasks"][0]] * 2}),  # duplicate ids
    ]
    backend = ScriptedBackend(*answers)
    with pytest.raises(DecompositionError) as caught:
        decomposer(backend, max_attempts=4).decompose("Caption photo.jpg", [PHOTO])
    problems = caught.value.details["problems"]
    assert problems[0] == "the answer holds no JSON object"
    assert problems[1].startswith("the answer is not valid JSON")
    assert "subtask 0 argument 0 (text)" in problems[2] and "no text was made by an earlier subtask" in problems[2]
    assert problems[3] == "the plan is invalid: duplicate subtask ids: [0]"
    fed_back = [r.question for r in backend.requests[1:]]
    assert [q.removeprefix("That answer cannot be used: ").split("\n")[0] for q in fed_back] == problems[:3]
    assert [r.history[0].answer for r in backend.requests[1:]] == answers[:3]  # only the last answer is shown


def test_always_invalid_answers_end_in_a_decomposition_error_with_the_raw_text() -> None:
    backend = ScriptedBackend("not json at all", "still no json")
    with pytest.raises(DecompositionError) as caught:
        decomposer(backend).decompose("Caption photo.jpg", [PHOTO])
    error = caught.value
    assert len(backend.requests) == 3
    assert error.raw == "still no json" and error.details["raw"] == "still no json"
    assert error.details["attempts"] == 3 and len(error.details["problems"]) == 3
    assert "no usable plan in 3 attempt(s)" in error.message and "holds no JSON object" in error.message


def test_a_missing_resource_type_ends_naming_the_argument_and_the_type() -> None:
    speak_audio = {
        "subtasks": [
            {
                "description": "transcribe talk.wav",
                "task": ["general"],
                "id": 0,
                "dep": [-1],
                "args": [{"type": "audio", "value": "talk.wav"}],
                "returns": [{"type": "text"}],
            }
        ]
    }
    backend = ScriptedBackend(json.dumps(speak_audio))
    with pytest.raises(DecompositionError) as caught:
        decomposer(backend, max_attempts=2).decompose("Transcribe talk.wav", [PHOTO])
    error = caught.value
    assert error.details["missing_type"] == "audio" and error.details["argument"] == 0 and error.details["subtask"] == 0
    assert "subtask 0 argument 0 (audio)" in error.message
    assert error.raw == json.dumps(speak_audio)


def test_repair_is_applied_to_the_answer() -> None:
    answer = json.loads(json.dumps(CAPTION_THEN_SPEAK))
    answer["subtasks"][0]["args"][0]["value"] = "image_1.png"  # a hallucinated file
    answer["subtasks"][1]["dep"] = [-1]  # a dep the reference needs, missing
    plan = decomposer(ScriptedBackend(json.dumps(answer))).decompose("Caption it and read it aloud", [PHOTO])
    assert plan.subtask(0).inputs[0].value == "/data/photo.jpg"
    assert plan.subtask(1).deps == [0]


def test_unconstrained_answers_are_read_leniently() -> None:
    listed = [dict(s) for s in CAPTION_THEN_SPEAK["subtasks"]]
    listed[0] = {**listed[0], "args": [{"type": "photo", "value": "photo.jpg"}, {"type": "str", "value": 42}]}
    listed[1] = {**listed[1], "returns": [{"type": "speech", "value": "<GENERATED>-1"}], "task": ["Audio-Generation"]}
    del listed[0]["task"]
    text = "Sure! Here is the plan:\n```json\n" + json.dumps(listed, indent=2) + "\n```\nAnything else?"
    plan = decomposer(ScriptedBackend(text)).decompose("Caption photo.jpg and read it aloud", [PHOTO])
    assert [(r.type.value, r.value) for r in plan.subtask(0).inputs] == [("image", "/data/photo.jpg"), ("text", "42")]
    assert plan.subtask(1).target_types == [ResourceType.AUDIO] and plan.subtask(1).domains == ["audio-generation"]
    assert plan.subtask(0).domains == []


def test_limits_are_enforced_on_unconstrained_answers_too() -> None:
    long = json.loads(json.dumps(CAPTION_THEN_SPEAK))
    long["subtasks"][0]["description"] = "x" * 200
    backend = ScriptedBackend(json.dumps(long), json.dumps(CAPTION_THEN_SPEAK))
    decomposer(backend).decompose("Caption photo.jpg and read it aloud", [PHOTO])
    assert "at most 160 characters" in backend.requests[1].question


def test_empty_requests_fail_before_the_model_is_asked() -> None:
    backend = ScriptedBackend("{}")
    for request in ("", "   \n"):
        with pytest.raises(EmptyRequestError):
            decomposer(backend).decompose(request, [PHOTO])
    assert backend.requests == []


def test_options_are_checked_and_shape_the_request() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        decomposer(ScriptedBackend("{}"), max_attempts=0)
    llm = decomposer(ScriptedBackend("{}"), constrained=False, max_new_tokens=300)
    assert llm.generation.json_schema is None and llm.generation.max_new_tokens == 300
    assert decomposer(ScriptedBackend("{}")).max_new_tokens == MAX_NEW_TOKENS  # the default limits' budget is larger
    small = DraftLimits(max_subtasks=2, max_description=20, max_value=16, max_args=1, max_returns=1, max_domains=1)
    assert decomposer(ScriptedBackend("{}"), limits=small).max_new_tokens == json_token_budget(
        output_schema(draft_model(DOMAINS, small))
    )


def test_the_schema_is_closed_bounded_and_enforceable() -> None:
    schema = decomposer(ScriptedBackend("{}")).schema
    check_schema(schema)
    assert "$defs" not in json.dumps(schema) and "$ref" not in json.dumps(schema)
    subtask = schema["properties"]["subtasks"]["items"]
    assert subtask["required"] == ["description", "task", "id", "dep", "args", "returns"]
    assert subtask["additionalProperties"] is False
    assert subtask["properties"]["args"]["items"]["properties"]["type"]["enum"] == [t.value for t in ResourceType]
    assert subtask["properties"]["task"]["items"]["enum"] == sorted({*DOMAINS, "general"})
    assert subtask["properties"]["id"]["enum"] == [0, 1, 2, 3, 4, 5]
    assert subtask["properties"]["dep"]["items"]["enum"] == [-1, 0, 1, 2, 3, 4, 5]


def test_default_domains_are_the_builtin_toolboxes() -> None:
    from tools.registry import default_registry

    specs = default_registry().specs()
    assert LLMDecomposer(ScriptedBackend("{}")).domains == tool_domains(specs)
    spec = ToolSpec(name="t", description="d", domains=["b", "a"], inputs=[], outputs=[{"name": "o", "type": "text"}])
    assert tool_domains([spec]) == ["a", "b", "general"]


# --- a served model -------------------------------------------------------------------------------


def test_a_served_model_gets_the_schema_as_response_format_and_no_images() -> None:
    from vlm.backends.openai_compat import OpenAICompatibleBackend

    def responder(body: dict[str, Any]) -> str:
        assert "Request: Caption photo.jpg and read it aloud" in user_text(body)
        return json.dumps(CAPTION_THEN_SPEAK)

    with FakeOpenAIServer(responder=responder) as server, OpenAICompatibleBackend(server.url, model="llm") as client:
        llm = decomposer(client)
        plan = llm.decompose("Caption photo.jpg and read it aloud", [PHOTO])
        (body,) = server.chat_bodies
    assert [s.id for s in plan.subtasks] == [0, 1]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "decomposition", "schema": llm.schema, "strict": True},
    }
    assert body["max_tokens"] == llm.max_new_tokens and body["temperature"] == 0.0
    assert image_parts(body) == [] and body["messages"][0] == {"role": "system", "content": llm.system}


def test_a_served_model_that_keeps_failing_ends_in_the_same_error() -> None:
    from vlm.backends.openai_compat import OpenAICompatibleBackend

    with (
        FakeOpenAIServer(responder=lambda body: "[{]") as server,
        OpenAICompatibleBackend(server.url, model="llm") as client,
    ):
        with pytest.raises(DecompositionError) as caught:
            decomposer(client, max_attempts=2).decompose("Caption photo.jpg", [PHOTO])
        assert len(server.chat_bodies) == 2
        retry = server.chat_bodies[1]["messages"]
    assert caught.value.raw == "[{]"
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"] and retry[2]["content"] == "[{]"


# --- the tiny random InternVL under constrained decoding -------------------------------------------

#: Small bounds so that a random model's answers, always complete, stay short (its budget, ~1.6k tokens).
TINY_LIMITS = DraftLimits(max_subtasks=2, max_description=32, max_value=24, max_args=2, max_returns=1, max_domains=1)


class Recorder(VLMBackend):
    """Passes requests to ``inner`` and keeps every raw answer."""

    name = "recorder"

    def __init__(self, inner: VLMBackend) -> None:
        self.inner = inner
        self.answers: list[str] = []

    def batch_chat(self, requests: Sequence[ChatRequest]) -> list[str]:
        answers = self.inner.batch_chat(requests)
        self.answers.extend(answers)
        return answers

    def stream(self, request: ChatRequest) -> Iterator[str]:
        raise NotImplementedError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLMBackend]:
    """The tiny random InternVL, built for this module, on one thread (tests/conftest.py)."""
    pytest.importorskip("lmformatenforcer")
    pytest.importorskip("torch")
    from vlm.backends import TransformersBackend
    from vlm.testing import tiny_internvl

    with TransformersBackend(tiny_internvl(tmp_path_factory.mktemp("tiny-internvl")), device="cpu") as backend:
        yield backend


@pytest.mark.parametrize(
    ("request_text", "resources"),
    [
        ("Caption photo.jpg and read the caption aloud.", [PHOTO]),
        ("Transcribe talk.wav, then find the speaker in photo.jpg.", [PHOTO, TALK]),
        ("How many dogs are there?", []),
    ],
)
def test_tiny_model_answers_are_always_schema_valid_and_end_as_a_plan_or_a_typed_error(
    tiny: VLMBackend, request_text: str, resources: list[Resource]
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    recorder = Recorder(tiny)
    llm = LLMDecomposer(recorder, max_attempts=2, domains=DOMAINS, limits=TINY_LIMITS)
    assert llm.max_new_tokens == json_token_budget(llm.schema)  # not capped: every answer can finish
    try:
        plan = llm.decompose(request_text, resources)
    except DecompositionError as error:  # random content may be unrepairable or an invalid plan
        assert error.raw == recorder.answers[-1] and len(recorder.answers) == 2
    else:
        allowed = {r.ref().value for r in resources}
        literal = literal_types()
        assert all(ref.value in allowed or ref.generated_by is not None or ref.type in literal
                   for s in plan.subtasks for ref in s.inputs)  # fmt: skip  # nothing invented
    for answer in recorder.answers:
        jsonschema.validate(json.loads(answer), llm.schema)
        draft_model(DOMAINS, TINY_LIMITS).model_validate_json(answer)


def test_tiny_model_text_only_chat_sends_no_pixels(tiny: VLMBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    model = tiny.model  # type: ignore[attr-defined]
    generate: Callable[..., Any] = model.generate

    def spy(**kwargs: Any) -> Any:
        seen.append(kwargs)
        return generate(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    small = DraftLimits(max_subtasks=1, max_description=8, max_value=8, max_args=1, max_returns=1, max_domains=1)
    try:
        LLMDecomposer(tiny, max_attempts=1, domains=DOMAINS, limits=small).decompose("Caption photo.jpg", [PHOTO])
    except DecompositionError:
        pass
    (call,) = seen
    assert "pixel_values" not in call and "logits_processor" in call
