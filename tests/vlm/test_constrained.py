"""Schema-constrained decoding: the schema checks and token budget, the tiny random InternVL decoding
under a schema (always valid JSON, within the budget), and the served-model path (``response_format``).

The tiny model's answers are noise, so only constrained decoding can make them valid JSON; each answer
is checked by ``jsonschema``, independently of the enforcer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("lmformatenforcer")
jsonschema = pytest.importorskip("jsonschema")

from vlm.backends import TransformersBackend  # noqa: E402
from vlm.backends.base import ChatRequest, GenerationConfig  # noqa: E402
from vlm.backends.openai_compat import OpenAICompatibleBackend, response_format  # noqa: E402
from vlm.constrained import (  # noqa: E402
    MAX_WHITESPACE,
    JsonConstrainer,
    JsonLogitsProcessor,
    SchemaError,
    check_schema,
    json_token_budget,
)
from vlm.errors import BackendError  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_openai_server import FakeOpenAIServer, user_text  # noqa: E402

TYPES = ["image", "text", "audio", "bboxes"]

#: A decomposition-like schema: nested objects, string and integer enums, bounded strings and lists.
PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["subtasks"],
    "properties": {
        "subtasks": {
            "type": "array",
            "minItems": 1,
            "maxItems": 2,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["description", "task", "id", "dep", "args", "returns"],
                "properties": {
                    "description": {"type": "string", "minLength": 1, "maxLength": 40},
                    "task": {
                        "type": "array",
                        "maxItems": 2,
                        "items": {"type": "string", "enum": ["vision", "general"]},
                    },
                    "id": {"type": "integer", "enum": [0, 1]},
                    "dep": {"type": "array", "maxItems": 2, "items": {"type": "integer", "enum": [-1, 0, 1]}},
                    "args": {
                        "type": "array",
                        "maxItems": 2,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["type", "value"],
                            "properties": {
                                "type": {"type": "string", "enum": TYPES},
                                "value": {"type": "string", "maxLength": 24},
                            },
                        },
                    },
                    "returns": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 2,
                        "items": {"$ref": "#/$defs/Return"},
                    },
                },
            },
        }
    },
    "$defs": {
        "Return": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {"type": {"type": "string", "enum": TYPES}},
        }
    },
}

#: The other value kinds: booleans, null through anyOf, a float enum, a fixed constant.
SCALARS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ok", "note", "score", "kind", "tags"],
    "properties": {
        "ok": {"type": "boolean"},
        "note": {"anyOf": [{"type": "string", "maxLength": 12}, {"type": "null"}]},
        "score": {"type": "number", "enum": [0.5, 1.5, 10]},
        "kind": {"const": "fixed"},
        "tags": {"type": "array", "maxItems": 3, "items": {"type": "string", "maxLength": 6}},
    },
}


@pytest.fixture(scope="module")
def backend(tiny_internvl_dir: Path) -> Iterator[TransformersBackend]:
    """The tiny model on one thread (the session's setting, tests/conftest.py)."""
    with TransformersBackend(tiny_internvl_dir, device="cpu") as tiny:
        yield tiny


def constrained(schema: dict[str, Any], **options: Any) -> GenerationConfig:
    return GenerationConfig(max_new_tokens=json_token_budget(schema), json_schema=schema, **options)


def new_tokens(backend: TransformersBackend, answer: str) -> int:
    return len(backend.tokenizer(answer, add_special_tokens=False)["input_ids"])


# --- schema checks and the budget ----------------------------------------------------------------


def test_budget_counts_characters_whitespace_runs_and_the_end_token() -> None:
    boolean = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    # {"ok":false}: 12 characters; a run of 2 spaces at the start and after {, "ok", :, false and }.
    assert json_token_budget(boolean) == 12 + 2 * 6 + 1
    assert json_token_budget(boolean, max_whitespace=0) == 13
    # A free string of at most 4 units: every unit may be a six-character escape (\uXXXX).
    assert json_token_budget({"type": "string", "maxLength": 4}, max_whitespace=0) == 2 + 24 + 1
    assert json_token_budget({"type": "string", "enum": ["a", "abc"]}, max_whitespace=0) == 2 + 3 + 1


def test_budget_is_the_longest_document_written_by_hand() -> None:
    numbers = {"type": "array", "maxItems": 2, "items": {"type": "integer", "enum": [7, 123]}}
    schema = {"type": "object", "properties": {"a": numbers}}
    gap = " " * MAX_WHITESPACE  # after every element, numbers included: [123  ,
    longest = gap + gap.join(["{", '"a"', ":", "[", "123", ",", "123", "]", "}"]) + gap
    assert json.loads(longest) == {"a": [123, 123]}
    assert json_token_budget(schema) == len(longest) + 1  # one token per character, then the end token


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"type": "string"}, "without maxLength"),
        ({"type": "array", "items": {"type": "boolean"}}, "without maxItems"),
        ({"type": "integer"}, "without an enum"),
        ({"type": "object"}, "without properties"),
        ({"type": "string", "pattern": "^a+$"}, "a pattern"),
        (
            {
                "$ref": "#/$defs/Node",
                "$defs": {"Node": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/Node"}}},
            },
            "refers to itself",
        ),
    ],
)
def test_unbounded_schemas_have_no_budget_and_say_where(schema: dict[str, Any], reason: str) -> None:
    check_schema(schema)  # enforceable, just unbounded
    with pytest.raises(SchemaError, match=reason):
        json_token_budget(schema)


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "string", "format": "date-time", "maxLength": 30}, "does not enforce format"),
        ({"type": "integer", "minimum": 0, "enum": [1]}, "does not enforce minimum"),
        ({"oneOf": [{"type": "boolean"}, {"type": "null"}]}, "does not enforce oneOf"),
        ({"type": "string", "enum": ["a", 1]}, "only strings or only numbers"),
        ({"type": "array", "items": {"type": "null"}, "maxItems": 1, "enum": [[None]]}, "enum of arrays"),
        ({"type": "integer", "enum": [True, False]}, "only strings or only numbers"),
        ({"$ref": "#/$defs/Missing"}, "cannot resolve"),
        ({"description": "no type at all"}, "needs a type"),
        ({"type": "array", "maxItems": 2}, "one schema for its items"),
        ({"type": "string", "minLength": 5, "maxLength": 2}, "minLength 5 is larger"),
        ({"type": "object", "properties": {"a": {"type": "null"}}, "required": ["b"]}, "unknown properties"),
    ],
)
def test_schemas_the_enforcer_cannot_honour_are_refused(schema: dict[str, Any], words: str) -> None:
    with pytest.raises(SchemaError, match=words):
        check_schema(schema)


def test_processor_masks_only_constrained_rows_and_skips_finished_ones() -> None:
    class Allow:
        def __init__(self, ids: list[int]) -> None:
            self.allowed_tokens = ids

    class Enforcer:
        def __init__(self) -> None:
            self.seen: list[list[int]] = []

        def get_allowed_tokens(self, generated: list[int]) -> Allow:
            self.seen.append(generated)
            return Allow([1, 3])

    enforcer, finished = Enforcer(), Enforcer()
    processor = JsonLogitsProcessor([enforcer, None, finished], prompt_length=2, stop_ids=[9])
    input_ids = torch.tensor([[5, 5, 4], [5, 5, 4], [5, 5, 9]])
    scores = processor(input_ids, torch.zeros(3, 5))
    assert enforcer.seen == [[4]] and finished.seen == []  # only the new tokens; a stopped row is padding
    assert torch.isinf(scores[0, [0, 2, 4]]).all() and (scores[0, [1, 3]] == 0).all()
    assert (scores[1] == 0).all() and (scores[2] == 0).all()


def test_token_table_leaves_out_special_tokens_and_control_characters(backend: TransformersBackend) -> None:
    constrainer = JsonConstrainer(backend.tokenizer, [backend.tokenizer.convert_tokens_to_ids("<|im_end|>")])
    constrainer.enforcer(PLAN_SCHEMA)  # builds the table
    texts = {token_id: text for token_id, text, _ in constrainer._table().regular_tokens}
    special = set(backend.tokenizer.all_special_ids)
    assert texts and not special & set(texts)
    assert all(text and all(ord(c) >= 0x20 for c in text) for text in texts.values())
    newline = backend.tokenizer.encode("\n", add_special_tokens=False)
    assert len(newline) == 1 and newline[0] not in texts  # so no raw newline can enter a JSON string


# --- the tiny random InternVL under a schema ------------------------------------------------------


def assert_valid(answer: str, schema: dict[str, Any]) -> Any:
    document = json.loads(answer)  # strict JSON: no raw control characters inside strings
    jsonschema.validate(document, schema)
    return document


@pytest.mark.parametrize("seed", range(6))
def test_tiny_model_always_answers_schema_valid_json(backend: TransformersBackend, seed: int) -> None:
    questions = ["Plan: caption photo.jpg", "Split this request into subtasks: find the dogs, then crop them."]
    config = constrained(PLAN_SCHEMA, do_sample=seed % 2 == 1, temperature=1.5, seed=seed)
    answer = backend.chat([], f"{questions[seed % 2]} (request {seed})", generation=config)
    document = assert_valid(answer, PLAN_SCHEMA)
    assert 1 <= len(document["subtasks"]) <= 2
    assert new_tokens(backend, answer) < config.max_new_tokens  # finished inside the budget, not cut off


def test_tiny_model_fills_booleans_nulls_number_enums_and_constants(backend: TransformersBackend) -> None:
    answers = [
        backend.chat([], f"Describe item {k}.", generation=constrained(SCALARS_SCHEMA, do_sample=True, seed=k))
        for k in range(3)
    ]
    for answer in answers:
        assert assert_valid(answer, SCALARS_SCHEMA)["kind"] == "fixed"


def test_constrained_and_free_requests_share_a_batch(backend: TransformersBackend) -> None:
    free = ChatRequest(question="Tell me a story.", generation=GenerationConfig(max_new_tokens=12))
    bound = ChatRequest(question="Plan: caption photo.jpg", generation=constrained(PLAN_SCHEMA))
    alone_free = backend.batch_chat([free])[0]
    alone_bound = backend.batch_chat([bound])[0]
    together = backend.batch_chat([bound, free])
    assert together == [alone_bound, alone_free]  # the free row is not masked, the bound one still is
    assert_valid(together[0], PLAN_SCHEMA)
    with pytest.raises(json.JSONDecodeError):
        json.loads(alone_free)  # what the model writes unconstrained: the constraint made the difference


def test_streamed_constrained_answer_equals_the_batched_one(backend: TransformersBackend) -> None:
    request = ChatRequest(question="Plan: read the sign in street.png", generation=constrained(PLAN_SCHEMA))
    streamed = "".join(backend.stream(request))
    assert streamed == backend.batch_chat([request])[0]
    assert_valid(streamed, PLAN_SCHEMA)


def test_an_unenforceable_schema_fails_before_generating(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_generate(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("generate must not run")

    monkeypatch.setattr(backend.model, "generate", no_generate)
    schema = {"type": "string", "format": "email", "maxLength": 40}
    with pytest.raises(SchemaError, match="format"):
        backend.chat([], "Your email?", generation=GenerationConfig(max_new_tokens=8, json_schema=schema))


def test_original_checkpoints_refuse_schemas(
    tmp_path: Path, tiny_internvl_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class RemoteModel:
        calls = 0

        def to(self, device: Any) -> RemoteModel:
            return self

        def eval(self) -> RemoteModel:
            return self

        def chat(self, *args: Any, **kwargs: Any) -> str:
            RemoteModel.calls += 1
            return "free text"

        batch_chat = chat

    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_internvl_dir)
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", lambda source, **kwargs: RemoteModel())
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda source, **kwargs: tokenizer)
    config = {
        "model_type": "internvl_chat",
        "template": "internvl2_5",
        "llm_config": {"architectures": ["Qwen2ForCausalLM"]},
        "vision_config": {"image_size": 448, "patch_size": 14},
        "downsample_ratio": 0.5,
        "force_image_size": 448,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    backend = TransformersBackend(tmp_path, device="cpu", trust_remote_code=True)
    schema_config = GenerationConfig(max_new_tokens=8, json_schema={"type": "boolean"})
    with pytest.raises(BackendError, match="-hf conversion"):
        backend.chat([], "Yes?", generation=schema_config)
    with pytest.raises(BackendError, match="-hf conversion"):
        list(backend.stream(ChatRequest(question="Yes?", generation=schema_config)))
    assert RemoteModel.calls == 0
    assert backend.chat([], "Yes?") == "free text"  # without a schema it still answers


# --- served models --------------------------------------------------------------------------------


def test_module_examples() -> None:
    import doctest

    import vlm.constrained

    assert doctest.testmod(vlm.constrained).failed == 0


def test_served_model_gets_the_schema_as_response_format() -> None:
    answer = json.dumps({"subtasks": []})
    with (
        FakeOpenAIServer(responder=lambda body: answer) as server,
        OpenAICompatibleBackend(server.url, model="m") as client,
    ):
        assert client.chat([], "Plan this.", generation=GenerationConfig(json_schema=PLAN_SCHEMA)) == answer
        client.chat([], "Free text.")
        bound, free = server.chat_bodies
    assert bound["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": PLAN_SCHEMA, "strict": True},
    }
    assert user_text(bound) == "Plan this."
    assert "response_format" not in free


def test_response_format_name_is_a_safe_identifier() -> None:
    assert response_format({"title": "Plan: draft/v2", "type": "object"})["json_schema"]["name"] == "Plan_draft_v2"
    assert response_format({"title": "???"})["json_schema"]["name"] == "answer"
    assert len(response_format({"title": "x" * 200})["json_schema"]["name"]) == 64
