"""The one interface every InternVL backend implements, plus what all of them share.

A backend answers chat requests about images (or video frames). Grounding and detection are built
here on top of ``chat`` so that a local model and a served one parse boxes the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from graph.types import BBox
from vlm.grounding import detection_prompt, parse_grounding
from vlm.images import ImageLimits, load_image

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

ImageSource = Union["PILImage", str, Path, bytes]  # PIL is imported lazily


class GenerationConfig(BaseModel):
    """Decoding parameters. Greedy by default so answers are reproducible."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_new_tokens: int = Field(default=256, ge=1, le=16384)
    do_sample: bool = False
    temperature: float = Field(default=1.0, gt=0.0, le=5.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=1)
    repetition_penalty: float = Field(default=1.0, gt=0.0)
    seed: int | None = None
    json_schema: dict[str, Any] | None = None
    """When set, the answer is JSON valid for this schema: constrained decoding in process
    (:mod:`vlm.constrained`), ``response_format`` on a served model."""


class Turn(BaseModel):
    """One earlier exchange of the conversation (InternVL's history is (question, answer) pairs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str
    answer: str


class ChatRequest(BaseModel):
    """One question about zero or more images, or about the frames of one video.

    ``images`` are PIL images, file paths or encoded bytes. With ``kind="video"`` the images are frames
    (each one 448 tile, prompted ``Frame1: <image>``); ``video`` may instead name a file to sample
    ``num_segments`` frames from.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    question: str = Field(min_length=1)
    images: list[Any] = Field(default_factory=list)
    history: list[Turn] = Field(default_factory=list)
    kind: Literal["images", "video"] = "images"
    video: str | Path | None = None
    num_segments: int = Field(default=8, ge=1, le=64)
    max_tiles: int | None = Field(default=None, ge=1, le=40)
    system_message: str | None = None
    generation: GenerationConfig = Field(default_factory=GenerationConfig)


class VLMBackend(ABC):
    """``chat`` / ``batch_chat`` / ``stream`` over InternVL, wherever it runs.

    Subclasses implement :meth:`batch_chat` and :meth:`stream`; :meth:`chat` is one-request batch, and
    :meth:`ground` / :meth:`detect` ask InternVL's grounding prompts through :meth:`batch_chat` and
    parse the boxes the same way for every backend.
    """

    name: str = "backend"
    #: What a request may ask of the image pipeline; subclasses set their own.
    limits: ImageLimits = ImageLimits()

    @abstractmethod
    def batch_chat(self, requests: Sequence[ChatRequest]) -> list[str]:
        """Answer several requests, one answer per request, in order."""

    @abstractmethod
    def stream(self, request: ChatRequest) -> Iterator[str]:
        """Yield the answer of one request piece by piece as it is generated."""

    def chat(
        self,
        images: Sequence[Any] | None,
        question: str,
        history: Sequence[Turn | tuple[str, str]] = (),
        **options: Any,
    ) -> str:
        """Answer ``question`` about ``images`` given earlier ``history`` turns."""
        return self.batch_chat([make_request(images, question, history, **options)])[0]

    def ground(self, image: Any, phrase: str, **options: Any) -> list[BBox]:
        """Pixel boxes of the region(s) ``phrase`` describes in ``image``, labelled with the phrase.

        Raises :class:`vlm.errors.GroundingParseError` (keeping the raw answer) when the model's
        answer holds no well-formed box.
        """
        return self.detect(image, [phrase], **options)

    def detect(self, image: Any, categories: Sequence[str] | None = None, **options: Any) -> list[BBox]:
        """Boxes of every instance of each category (one question per category, asked as one batch),
        or of all objects InternVL finds when ``categories`` is ``None``; labels come from the model's
        ``<ref>`` tags, else the category asked for.

        The image is loaded once, here, so the boxes are scaled to the size the model actually saw.
        """
        picture = load_image(image, self.limits)
        labels: list[str | None] = [None] if categories is None else list(categories)
        requests = [make_request([picture], detection_prompt(label), **options) for label in labels]
        answers = self.batch_chat(requests)
        boxes: list[BBox] = []
        for label, answer in zip(labels, answers):
            boxes.extend(parse_grounding(answer, picture.width, picture.height, default_label=label))
        return boxes

    def close(self) -> None:
        """Release the model or connection; the default holds nothing."""
        return None

    def __enter__(self) -> VLMBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_request(
    images: Sequence[Any] | None, question: str, history: Sequence[Turn | tuple[str, str]] = (), **options: Any
) -> ChatRequest:
    """A :class:`ChatRequest` from ``chat()``-style arguments (history as pairs or :class:`Turn`)."""
    turns = [t if isinstance(t, Turn) else Turn(question=t[0], answer=t[1]) for t in history]
    return ChatRequest(question=question, images=list(images or []), history=turns, **options)
