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


TEXT = Artifact(id="b" * 32, type="text", mime="application/json", subtask=0)
BOXES = Artifact(id="c" * 32, type="bboxes", mime="application/json", subtask=0)


def test_an_empty_result_is_said_with_its_reason() -> None:
    from tools.registry import default_registry

    read = [SubtaskOutcome(id=0, description="read the text", status="succeeded", tools=["read_text"], outputs=[TEXT])]
    find = [SubtaskOutcome(id=0, description="find faces", status="succeeded", tools=["detect_faces"], outputs=[BOXES])]
    template = TemplateResponder(default_registry())
    assert template.respond("read", read, {0: ["  "]}) == (
        "1. read the text (read_text): no text was found in the image (read_text returned nothing)"
    )
    assert template.respond("find", find, {0: [[]]}).endswith(
        ": nothing was detected in the image (detect_faces returned nothing)"
    )
    assert (
        TemplateResponder()
        .respond("read", read, {0: [""]})
        .endswith(": no text was found (read_text returned nothing)")
    )


def test_a_count_of_zero_is_no_empty_result() -> None:
    assert TemplateResponder().respond("count", DONE[:1], {0: [0]}) == "1. count the faces (count_boxes): 0"


def test_the_llm_is_shown_why_a_result_is_empty() -> None:
    model = Said("No text was found.")
    read = [SubtaskOutcome(id=0, description="read the text", status="succeeded", tools=["read_text"], outputs=[TEXT])]
    LLMResponder(model).respond("read", read, {0: [""]})
    assert "no text was found (read_text returned nothing)" in model.prompts[0]
