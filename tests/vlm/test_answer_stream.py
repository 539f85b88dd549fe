"""Streamed answers are cleaned exactly like whole ones, however the text arrives in pieces."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vlm.templates import AnswerStream, clean_answer, get_template

STOPS = ("<|im_end|>", "<|endoftext|>", "<|end|>")
# Text built from stop strings, fragments of them and ordinary words, cut at arbitrary places: so
# stops split across pieces, partial stops that never complete and whitespace at the edges are common.
FRAGMENTS = st.sampled_from([*STOPS, "<|", "im_", "end|>", "<|im_end", " ", "\n", "A", "b c", "<", "|>"])


@st.composite
def pieces_of_text(draw: st.DrawFn) -> list[str]:
    text = "".join(draw(st.lists(FRAGMENTS, max_size=10)))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=8))))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


PIECES = pieces_of_text()


def streamed(pieces: list[str], stops: tuple[str, ...]) -> str:
    stream = AnswerStream(stops)
    return "".join(stream.feed(piece) for piece in pieces) + stream.finish()


@settings(max_examples=400, deadline=None)
@given(PIECES, st.sampled_from([STOPS[:1], STOPS[:2], STOPS, ()]))
def test_concatenated_stream_equals_clean_answer(pieces: list[str], stops: tuple[str, ...]) -> None:
    assert streamed(pieces, stops) == clean_answer("".join(pieces), stops)


def test_nothing_after_a_stop_is_emitted_and_whitespace_is_trimmed() -> None:
    stream = AnswerStream(("<|im_end|>",))
    assert stream.feed("  \n") == ""
    assert stream.feed("Hello ") == "Hello"
    assert stream.feed("world <|im_") == " world"
    assert stream.feed("end|> more") == ""
    assert stream.stopped and stream.feed("ignored") == "" and stream.finish() == ""


def test_a_partial_stop_that_does_not_complete_is_released() -> None:
    stream = AnswerStream(("<|im_end|>",))
    assert stream.feed("a <|im") == "a"
    assert stream.feed("age") == " <|image"
    assert stream.finish() == ""


def test_template_clean_answer_is_the_shared_function() -> None:
    template = get_template("Hermes-2")
    text = " Fine.<|endoftext|><|im_end|>"
    assert template.clean_answer(text) == clean_answer(text, template.stop_strings) == "Fine."
