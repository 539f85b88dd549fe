"""LLM-backed text tools: summarise, translate, answer a question from a text.

They ask the process's text model (:func:`tools.models.get_llm`): an OpenAI-compatible LLM server
(``TOG_LLM_URL``) or :func:`~tools.models.configure_llm`'s backend, else the InternVL model itself,
asked without images. With neither, ``available()`` is ``(False, reason)`` and the registry leaves
the tools out of the tool graph. Decoding is greedy; an empty answer is a
:class:`~tools.models.ModelOutputError`, blank or oversized input a :class:`ToolInputError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from tools.annotations import Language, Text
from tools.base import Tool
from tools.errors import ToolInputError
from tools.models import get_llm, llm_status, model_errors, non_empty, required_text

if TYPE_CHECKING:
    from vlm.backends.base import VLMBackend

__all__ = ["MAX_TEXT_CHARS", "SUMMARY_PROMPT", "TOOLS", "TRANSLATE_PROMPT", "TEXT_QA_PROMPT"]

#: Longest input text, in characters: beyond this it no longer fits an ordinary model context.
MAX_TEXT_CHARS = 100_000

SUMMARY_PROMPT = (
    "Summarise the following text in a few sentences, keeping its key facts. Reply with the summary only.\n\n"
    "Text:\n{text}"
)
TRANSLATE_PROMPT = (
    "Translate the following text into {language}. Keep its meaning, tone and formatting. "
    "Reply with the translation only.\n\nText:\n{text}"
)
TEXT_QA_PROMPT = (
    "Answer the question using only the text below. If the text does not contain the answer, say so.\n\n"
    "Text:\n{text}\n\nQuestion: {question}"
)

_NLP = ("natural-language-processing",)


class LLMTool(Tool):
    """Base of the text tools: availability from the provider, one greedy text-only question."""

    domains: ClassVar[Sequence[str]] = _NLP
    device = "gpu"
    expected_seconds = 2.0
    max_new_tokens: ClassVar[int] = 512

    def available(self) -> tuple[bool, str]:
        return llm_status()

    def ask(self, backend: VLMBackend, prompt: str, max_new_tokens: int | None = None) -> str:
        with model_errors(text="text"):
            answer = backend.chat(None, prompt, generation={"max_new_tokens": max_new_tokens or self.max_new_tokens})
        return non_empty(answer)


def source_text(value: str, argument: str = "text") -> str:
    """Input text, stripped: not blank and at most :data:`MAX_TEXT_CHARS` characters."""
    text = required_text(value, argument)
    if len(text) > MAX_TEXT_CHARS:
        raise ToolInputError(
            f"{argument} has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}", argument=argument
        )
    return text


class SummarizeText(LLMTool):
    name = "summarize_text"

    def forward(self, text: Text) -> Text:
        """Summarise a text: a short summary of an article, a transcript, a document's text or a long answer.

        Args:
            text: the text to summarise.

        Returns:
            summary: a few sentences with its key facts.
        """
        return self.ask(get_llm(), SUMMARY_PROMPT.format(text=source_text(text)))


class TranslateText(LLMTool):
    name = "translate_text"

    def forward(self, text: Text, target_language: Language = "English") -> Text:
        """Translate a text into another language, e.g. from Chinese to English or English to French.

        Args:
            text: the text to translate.
            target_language: the language to translate into, e.g. "French" or "Chinese".

        Returns:
            translation: the text in the target language.
        """
        source = source_text(text)
        language = required_text(target_language, "target_language")
        if len(language) > 64 or "\n" in language:
            raise ToolInputError(
                f"target_language should name a language, got {language[:64]!r}", argument="target_language"
            )
        # A translation is about as long as its source; a token is at most about one character.
        budget = min(8192, 64 + 2 * len(source))
        return self.ask(get_llm(), TRANSLATE_PROMPT.format(language=language, text=source), budget)


class AnswerTextQuestion(LLMTool):
    name = "answer_text_question"
    domains = ("natural-language-processing", "question-answering")
    groups = ("question-answering",)
    conflicts_with = ("question-answering",)  # one answer per chain: answering an answer is no plan
    from_subtask = ("question",)  # the user's question, not another tool's text

    def forward(self, text: Text, question: Text) -> Text:
        """Answer a question from a given text (reading comprehension): find the answer in an article,
        a transcript or text read from a document.

        Args:
            text: the text that holds the answer.
            question: the question to answer from it.

        Returns:
            answer: the answer, taken from the text.
        """
        prompt = TEXT_QA_PROMPT.format(text=source_text(text), question=source_text(question, "question"))
        return self.ask(get_llm(), prompt)


TOOLS: tuple[Tool, ...] = (SummarizeText(), TranslateText(), AnswerTextQuestion())
