"""Responders: the template states the results; the LLM responder words them, and never loses them."""

from __future__ import annotations

from agent.respond import LLMResponder, TemplateResponder, default_responder
from agent.result import Artifact, SubtaskOutcome

COUNT = Artifact(id="a" * 32, type="number", mime="application/json", subtask=0)
DONE = [
    SubtaskOutcome(id=0, description="count the faces", status="succeeded", tools=["count_boxes"], outputs=[COUNT]),
    SubtaskOutcome(
        id=1, description="describe the photo", status="failed", error={"message": "no InternVL model configured"}
    ),
]


class Said:
    def __init__(self, text=None, error=None):
        self.text, self.error, self.prompts = text, error, []

    def chat(self, images, question, history=(), **options):
        self.prompts.append(question)
        if self.error:
            raise self.error
        return self.text


def test_template_says_what_was_found_and_what_failed() -> None:
    text = TemplateResponder().respond("count and describe", DONE, {0: [2], 1: []})
    assert text == (
        "1. count the faces (count_boxes): 2\n2. describe the photo: not done: no InternVL model configured"
    )


def test_the_llm_words_the_results_it_is_shown() -> None:
    model = Said("There are two faces; the photo could not be described.")
    answer = LLMResponder(model).respond("count and describe", DONE, {0: [2], 1: []})
    assert answer.startswith("There are two faces")
    assert "1. count the faces (count_boxes): 2" in answer  # the results stay attached
    assert "count and describe" in model.prompts[0] and "(count_boxes): 2" in model.prompts[0]


def test_a_failing_llm_leaves_the_template_answer() -> None:
    answer = LLMResponder(Said(error=ConnectionError("server down"))).respond("count", DONE[:1], {0: [2]})
    assert answer == "1. count the faces (count_boxes): 2"


def test_without_an_llm_the_template_answers() -> None:
    assert isinstance(default_responder(False), TemplateResponder)
