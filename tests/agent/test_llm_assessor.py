"""The LLM assessor: one batched rating call per subtask to a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.config import ToGSettings
from agent.llm_scorer import SYSTEM_PROMPT, LLMScorer, parse_ratings
from agent.planning import ASSESSOR_VARIABLE, AssessorConfigError, assessor_setting, make_assessor
from graph.assessors import AssessmentError, LLMAssessor, UnusableScoresError
from graph.plan import Subtask
from graph.search import ToGPlanner
from graph.spec import InputSpec, OutputSpec, ToolSpec
from graph.toolgraph import ToolGraph
from vlm.backends.openai_compat import OpenAICompatibleBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vlm"))
from fake_openai_server import FakeOpenAIServer, user_text


def tool(name: str, description: str, inp: str, out: str) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=description,
        inputs=[InputSpec(name="x", type=inp)],
        outputs=[OutputSpec(name="y", type=out)],
    )


TOOLS = [
    tool("image_caption", "describe an image in a sentence", "image", "text"),
    tool("ocr", "read the printed text in an image", "image", "text"),
    tool("object_detection", "find objects in an image and return their boxes", "image", "bboxes"),
    tool("text_to_speech", "read text aloud", "text", "audio"),
    tool("summarization", "summarise a long text", "text", "text"),
]


def rating(ratings: dict[str, Any], default: int = 1) -> Callable[[dict[str, Any]], str]:
    """A fake model that rates every tool the request's schema asks about (``default`` if not given)."""

    def answer(body: dict[str, Any]) -> str:
        names = body["response_format"]["json_schema"]["schema"]["required"]
        return json.dumps({name: ratings.get(name, default) for name in names})

    return answer


@pytest.fixture(autouse=True)
def no_models(fresh_install: None) -> None:
    """No model is configured unless a test configures one (the machine's environment must not leak in)."""


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(responder=rating({})) as fake:
        yield fake


@pytest.fixture
def backend(server: FakeOpenAIServer) -> Iterator[OpenAICompatibleBackend]:
    with OpenAICompatibleBackend(server.url, model="llm", backoff=0.0) as client:
        yield client


# --- the scorer -----------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 5])
def test_one_request_rates_every_candidate_of_a_subtask(server, backend, count):
    LLMScorer(backend).score_candidates("read the sign in photo.jpg", TOOLS[:count])

    (body,) = server.chat_bodies
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["required"] == [t.name for t in TOOLS[:count]]
    assert schema["properties"]["ocr" if count > 1 else "image_caption"] == {"type": "integer", "enum": [1, 2, 3, 4, 5]}
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert body["temperature"] == 0.0  # greedy: the same subtask gets the same ratings
    prompt = user_text(body)
    assert prompt.startswith("Subtask: read the sign in photo.jpg\n")
    for spec in TOOLS[:count]:
        assert f"- {spec.name}: {spec.description}." in prompt


def test_ratings_map_to_scores_in_the_candidates_order(server, backend):
    server.responder = rating({"image_caption": 1, "ocr": 5, "object_detection": 3, "text_to_speech": 2})
    scores = LLMScorer(backend).score_candidates("read the sign", TOOLS)
    assert scores == [0.0, 1.0, 0.5, 0.25, 0.0]


def test_the_assessor_asks_once_per_subtask_and_then_answers_from_its_cache(server, backend):
    server.responder = rating({"ocr": 5, "image_caption": 4})
    assessor = LLMAssessor(LLMScorer(backend))

    first = assessor.score("read the sign", TOOLS)
    assert assessor.score("read the sign", TOOLS) == first
    assert first == {"image_caption": 0.75, "ocr": 1.0, "object_detection": 0.0, "text_to_speech": 0.0,
                     "summarization": 0.0}  # fmt: skip
    assert len(server.chat_bodies) == 1
    assessor.score("describe the photo", TOOLS)
    assessor.score("read the sign", TOOLS[:3])  # another candidate set is another question
    assert len(server.chat_bodies) == 3


def test_threads_planning_the_same_subtask_share_one_call(server, backend):
    server.delay = 0.3  # the first call is still in flight when the others ask
    assessor = LLMAssessor(LLMScorer(backend))
    results: list[dict[str, float]] = []
    threads = [threading.Thread(target=lambda: results.append(assessor.score("t", TOOLS))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(results) == 4 and all(r == results[0] for r in results)
    assert len(server.chat_bodies) == 1


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("I would pick the OCR tool.", "no JSON object"),
        ('{"ocr": 5, "image_caption": ', "not valid JSON"),
        ('[5, 4]', "no JSON object"),
        ('{"ocr": 5}', "image_caption: no rating"),
        ('{"ocr": 7, "image_caption": "high"}', "ocr: 7 is not a rating from 1 to 5"),
        ('{"ocr": 4.5, "image_caption": true}', "image_caption: True is not a rating"),
    ],
)  # fmt: skip
def test_an_unusable_answer_is_a_typed_error_that_is_not_retried(server, backend, answer, problem):
    server.responder = lambda body: answer
    assessor = LLMAssessor(LLMScorer(backend))
    with pytest.raises(UnusableScoresError, match=problem) as caught:
        assessor.score("read the sign", TOOLS[:2])

    assert caught.value.retryable is False
    assert caught.value.raw == answer
    assert caught.value.to_dict()["code"] == "unusable_scores"
    assert len(server.chat_bodies) == 1  # one call; the planner does not ask again for a greedy answer

    server.responder = rating({"ocr": 5})
    assert assessor.score("read the sign", TOOLS[:2]) == {"image_caption": 0.0, "ocr": 1.0}  # failures not cached


def test_prose_around_the_json_is_skipped():
    assert parse_ratings('Sure!\n```json\n{"a": 2, "b": 3, "c": 9}\n```', ["a", "b"]) == {"a": 2, "b": 3}


def test_backend_failures_keep_their_retryable_verdict(server, backend):
    scorer = LLMScorer(backend)
    server.fail(400, message="context too long")
    with pytest.raises(AssessmentError, match="context too long") as caught:
        scorer.score_candidates("t", TOOLS)
    assert caught.value.retryable is False and not isinstance(caught.value, UnusableScoresError)

    server.fail(503, times=3, message="warming up")
    with pytest.raises(AssessmentError, match="warming up") as caught:
        scorer.score_candidates("t", TOOLS)
    assert caught.value.retryable is True


def test_an_unconstrained_scorer_sends_no_schema_and_checks_the_answer_the_same_way(server, backend):
    server.responder = lambda body: '{"image_caption": 2, "ocr": 4}'
    assert LLMScorer(backend, constrained=False).score_candidates("t", TOOLS[:2]) == [0.25, 0.75]
    assert "response_format" not in server.chat_bodies[0]


# --- planning with it -----------------------------------------------------------------------------


def test_tog_plans_with_the_tool_the_model_rated_highest(server, backend):
    server.responder = rating({"ocr": 5, "image_caption": 2, "object_detection": 2})
    planner = ToGPlanner(ToolGraph(TOOLS), assessor=LLMAssessor(LLMScorer(backend)))
    subtask = Subtask(
        id=0,
        description="read the text on the sign in photo.jpg",
        task=[],
        args=[{"type": "image", "value": "photo.jpg"}],
        returns=[{"type": "text"}],
    )

    result = planner.search(subtask)
    assert result.solutions[0].tools == ["ocr"]
    planner.search(subtask, strategy="beam")
    assert len(server.chat_bodies) == 1  # every strategy looks the scores up

    server.responder = rating({"image_caption": 5, "ocr": 2})
    other = ToGPlanner(ToolGraph(TOOLS), assessor=LLMAssessor(LLMScorer(backend)))
    assert other.search(subtask).solutions[0].tools == ["image_caption"]


# --- chosen from settings -------------------------------------------------------------------------


def test_settings_choose_the_llm_assessor_backed_by_the_configured_llm(server, monkeypatch):
    monkeypatch.setenv(ASSESSOR_VARIABLE, "llm")
    monkeypatch.setenv("TOG_LLM_URL", server.url)
    server.responder = rating({"summarization": 5})
    settings = ToGSettings()
    assert assessor_setting(settings) == "llm"

    assessor = make_assessor(settings)
    assert isinstance(assessor, LLMAssessor)
    assert assessor.score("shorten this article", TOOLS)["summarization"] == 1.0
    assert [r.path for r in server.requests] == ["/v1/models", "/v1/chat/completions"]  # the model id, asked once


def test_the_llm_assessor_without_a_model_is_a_clear_configuration_error(monkeypatch):
    monkeypatch.setenv(ASSESSOR_VARIABLE, "llm")
    with pytest.raises(AssessorConfigError) as caught:
        make_assessor(ToGSettings())

    message = str(caught.value)
    for variable in (ASSESSOR_VARIABLE, "TOG_LLM_URL", "TOG_VLM_MODEL", "TOG_VLM_URL"):
        assert variable in message
    assert caught.value.to_dict()["code"] == "assessor_not_configured"
