"""Grounding and detection, built once on ``batch_chat`` for every backend."""

from __future__ import annotations

import pytest
from PIL import Image

from graph.types import BBox
from vlm.backends.base import VLMBackend
from vlm.errors import GroundingParseError, ImageInputError
from vlm.grounding import DETECT_ALL_PROMPT, format_grounding, referring_prompt


class Scripted(VLMBackend):
    """Answers each question from a table and records the batches it was asked."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.batches: list[list[tuple[str, tuple[int, int]]]] = []

    def batch_chat(self, requests):
        self.batches.append([(r.question, r.images[0].size) for r in requests])
        return [self.answers[r.question] for r in requests]

    def stream(self, request):
        yield from self.batch_chat([request])


def test_ground_asks_the_referring_prompt_and_scales_boxes_to_the_image() -> None:
    prompt = referring_prompt("the red car")
    backend = Scripted({prompt: format_grounding([(None, [[100, 0, 600, 500]])])})
    boxes = backend.ground(Image.new("RGB", (200, 100)), "the red car", max_tiles=6)
    assert boxes == [BBox(x1=20.0, y1=0.0, x2=120.0, y2=50.0, label="the red car")]
    assert backend.batches == [[(prompt, (200, 100))]]


def test_detect_asks_every_category_in_one_batch() -> None:
    answers = {
        referring_prompt("cat"): format_grounding([("cat", [[0, 0, 500, 500], [500, 500, 1000, 1000]])]),
        referring_prompt("dog"): "Sure: " + format_grounding([(None, [[0, 0, 1000, 1000]])]),
    }
    backend = Scripted(answers)
    boxes = backend.detect(Image.new("RGB", (10, 20)), ["cat", "dog"])
    assert [(b.label, b.x2, b.y2) for b in boxes] == [("cat", 5.0, 10.0), ("cat", 10.0, 20.0), ("dog", 10.0, 20.0)]
    assert len(backend.batches) == 1 and len(backend.batches[0]) == 2


def test_detect_all_objects_uses_the_models_labels() -> None:
    backend = Scripted(
        {DETECT_ALL_PROMPT: format_grounding([("person", [[0, 0, 100, 100]]), ("kite", [[900, 0, 1000, 100]])])}
    )
    boxes = backend.detect(Image.new("RGB", (1000, 1000)))
    assert [b.label for b in boxes] == ["person", "kite"]


def test_answers_without_boxes_and_bad_images_are_typed_errors() -> None:
    backend = Scripted({referring_prompt("cat"): "I see no cat."})
    with pytest.raises(GroundingParseError) as info:
        backend.ground(Image.new("RGB", (10, 10)), "cat")
    assert info.value.raw == "I see no cat."
    with pytest.raises(ImageInputError):
        backend.ground(b"not an image", "cat")
    assert len(backend.batches) == 1
