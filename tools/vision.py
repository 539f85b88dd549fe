"""InternVL tools: captions, visual question answering, grounding and detection, counting, reading
text, documents and charts, comparing two images, and video questions and captions.

Every tool asks the process's shared InternVL backend (:func:`tools.models.get_vlm`): a local
checkpoint, an lmdeploy / vLLM server, or whatever a test configured. With none configured each
tool's ``available()`` is ``(False, "no InternVL model configured (set TOG_VLM_MODEL or TOG_VLM_URL)")``
and the registry leaves it out of the tool graph; nothing is ever answered without a model.

Decoding is greedy, so the same input gets the same answer. Prompts are the ones InternVL was trained
and evaluated with where such exist (captions, grounding, detection). Answers are checked, not trusted:

- boxes come from InternVL's ``<ref>…</ref><box>[[x1, y1, x2, y2]]</box>`` (0–1000 of the original
  image), scaled to pixels of the image the tool was given and clamped to it; an answer without a
  well-formed box is a :class:`~tools.models.ModelOutputError` keeping the raw text, never ``[]``;
- a count must be one whole number (digits or a word up to twenty), else ``ModelOutputError``;
- an empty answer is a ``ModelOutputError``.

Box tools give the model the pixels exactly as stored, without applying an EXIF orientation tag, so
their boxes fit the image that :mod:`tools.image_ops` crops and draws on; tools that answer in words
let the backend turn photos upright, which reads better.

Counting is asked of InternVL directly ("How many … ? Answer with a single number."), not derived
from detection boxes: InternVL is trained on counting questions, while its grounding answers merge or
miss instances in crowded scenes. Counting by boxes remains one plan away (``detect_objects`` →
``count_boxes``) for when the boxes themselves are wanted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from graph.spec import Device
from graph.types import BBox
from tools.annotations import BBoxes, Image, Text, Video
from tools.base import Tool
from tools.errors import ToolInputError
from tools.models import ModelOutputError, get_vlm, model_errors, non_empty, required_text, vlm_status

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from vlm.backends.base import VLMBackend

__all__ = [
    "CAPTION_PROMPT",
    "COMPARE_PROMPT",
    "COUNT_PROMPT",
    "DESCRIBE_PROMPT",
    "DOCUMENT_TILES",
    "IMAGE_TILES",
    "MAX_CATEGORIES",
    "OCR_PROMPT",
    "TOOLS",
    "VIDEO_CAPTION_PROMPT",
    "VIDEO_SEGMENTS",
    "parse_categories",
    "parse_count",
]

#: Tiles per image for photos (InternVL's default ``max_num``).
IMAGE_TILES = 12
#: Tiles per image for documents, charts and text: small print needs resolution (ViT cost is linear).
DOCUMENT_TILES = 24
#: Frames sampled from a video (one 448 tile each), as InternVL's video evaluation does.
VIDEO_SEGMENTS = 8
#: Most categories one detection call asks about (one model request each, sent as one batch).
MAX_CATEGORIES = 20

#: InternVL's caption-benchmark prompt (COCO, Flickr30k, NoCaps).
CAPTION_PROMPT = "Provide a one-sentence caption for the provided image."
DESCRIBE_PROMPT = "Please describe the image in detail."
OCR_PROMPT = (
    "Read all the text in the image and write it out exactly as it appears, line by line, "
    "in reading order. Reply with the text only."
)
COUNT_PROMPT = "How many {category} are there in the image? Answer with a single number."
COMPARE_PROMPT = "What are the similarities and differences between Image-1 and Image-2?"
VIDEO_CAPTION_PROMPT = "Describe what happens in this video in detail."

_EXIF_ORIENTATION = 0x0112
_EXIF_KEYS = ("exif", "xmp", "XML:com.adobe.xmp", "Raw profile type exif")

_PERCEPTION = ("image-perception",)
_VQA = ("image-perception", "visual-question-answering")
_VIDEO = ("video-perception", "visual-question-answering")


# --- shared machinery ---------------------------------------------------------------------------------


class InternVLTool(Tool):
    """Base of the InternVL tools: availability from the provider, one checked question to the model.

    Subclasses set ``name``, a typed ``forward`` and how long an answer may be (``max_new_tokens``).
    """

    device = Device.GPU
    domains: ClassVar[Sequence[str]] = _PERCEPTION
    expected_seconds = 2.0
    max_new_tokens: ClassVar[int] = 256

    def available(self) -> tuple[bool, str]:
        return vlm_status()

    def ask(
        self,
        backend: VLMBackend,
        images: Sequence[PILImage],
        question: str,
        *,
        tiles: int = IMAGE_TILES,
        text: str | None = None,
        image: str | None = "image",
    ) -> str:
        """One greedy question about ``images`` (already checked by :func:`model_image`); the answer,
        stripped and non-empty. ``text`` / ``image`` name the arguments a prompt or image error is about."""
        with model_errors(image=image, text=text):
            answer = backend.chat(
                list(images),
                question,
                max_tiles=tile_budget(backend, tiles),
                generation={"max_new_tokens": self.max_new_tokens},
            )
        return non_empty(answer)

    def locate(self, backend: VLMBackend, picture: PILImage, categories: list[str] | None, *, text: str) -> list[BBox]:
        """Boxes of ``categories`` (all objects for ``None``) in ``picture``, parsed strictly (see the module)."""
        with model_errors(image="image", text=text):
            return backend.detect(
                picture,
                categories,
                max_tiles=tile_budget(backend, IMAGE_TILES),
                generation={"max_new_tokens": self.max_new_tokens},
            )

    def ask_video(self, backend: VLMBackend, video: Path, question: str, *, text: str | None = None) -> str:
        """One greedy question about :data:`VIDEO_SEGMENTS` frames sampled from ``video``."""
        with model_errors(video="video", text=text):
            answer = backend.chat(
                None,
                question,
                video=str(video),
                num_segments=VIDEO_SEGMENTS,
                generation={"max_new_tokens": self.max_new_tokens},
            )
        return non_empty(answer)


def tile_budget(backend: VLMBackend, wanted: int) -> int:
    """``wanted`` tiles, or fewer when the deployment's ceiling (``backend.limits``) is lower."""
    return max(1, min(wanted, backend.limits.max_tiles))


def model_image(
    image: PILImage, backend: VLMBackend, argument: str = "image", *, stored_frame: bool = False
) -> PILImage:
    """``image`` decoded, checked against the backend's limits and in RGB, or a :class:`ToolInputError`
    naming ``argument`` (truncated data, no pixels, too many pixels, an unconvertible mode).

    With ``stored_frame`` an EXIF orientation tag is dropped instead of applied, so the model sees the
    pixels in the frame the caller's boxes are measured in.
    """
    from vlm.images import load_image

    with model_errors(image=argument):
        checked = load_image(image, backend.limits)  # size first, then decoding: a bomb is never decoded
        if stored_frame and _orientation(image) not in (None, 1):
            raw = image.copy()
            raw.info = {k: v for k, v in image.info.items() if k not in _EXIF_KEYS}
            checked = load_image(raw, backend.limits)
    return checked


def _orientation(image: PILImage) -> Any:
    try:
        return image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:
        return 1


def grounding_phrase(value: str, argument: str) -> str:
    """A phrase fit for InternVL's ``<ref>`` prompt: not blank, no ``<ref>``/``<box>`` tags."""
    from vlm.grounding import referring_prompt

    text = required_text(value, argument)
    try:
        referring_prompt(text)
    except ValueError as exc:
        raise ToolInputError(f"{argument}: {exc}", argument=argument) from None
    return " ".join(text.split())


def parse_categories(text: str) -> list[str]:
    """Category names from ``"dog, cat; red car"`` (commas, semicolons or new lines), duplicates removed.

    >>> parse_categories("dog, Cat;\\n red  car, dog")
    ['dog', 'Cat', 'red car']
    """
    names: dict[str, str] = {}
    for part in re.split(r"[,;\n]", text):
        name = " ".join(part.split())
        if name:
            names.setdefault(name.lower(), name)
    if not names:
        raise ToolInputError("categories names no category; give names like 'dog, person'", argument="categories")
    if len(names) > MAX_CATEGORIES:
        raise ToolInputError(
            f"{len(names)} categories; at most {MAX_CATEGORIES} can be detected at once", argument="categories"
        )
    return [grounding_phrase(name, "categories") for name in names.values()]


_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])-?\d+(?:\.\d+)?(?![\w])|[a-z]+")


def parse_count(answer: str) -> int:
    """The one whole number an answer states, or a :class:`ModelOutputError`.

    Accepted: a bare count (``"3"``, ``"3."``, ``"three"``, ``"1,024"``), a sentence stating exactly one
    count (``"There are 3 dogs."``), or ``"none"`` / ``"no"`` / ``"zero"`` alone (0). Refused: no number,
    two different numbers ("2 or 3"), fractions and negative numbers.

    >>> parse_count("There are 3 dogs."), parse_count("Twelve"), parse_count("none")
    (3, 12, 0)
    """
    text = " ".join(answer.lower().split()).strip(" .!")
    if text in ("no", "none", "zero"):
        return 0
    found: set[float] = set()
    for token in _NUMBER.findall(text):
        if token in _NUMBER_WORDS:
            found.add(_NUMBER_WORDS[token])
        elif token[0].isdigit() or token[0] == "-":
            found.add(float(token.replace(",", "")))
    if len(found) != 1:
        problem = "no number" if not found else f"{len(found)} different numbers"
        raise ModelOutputError(f"the model's count has {problem}: {answer.strip()!r}", raw=answer)
    (value,) = found
    if value < 0 or not float(value).is_integer():
        raise ModelOutputError(f"the model's count {answer.strip()!r} is not a whole number of objects", raw=answer)
    return int(value)


# --- images: words ------------------------------------------------------------------------------------


class CaptionImage(InternVLTool):
    name = "caption_image"
    groups = ("image-understanding", "captioning")
    conflicts_with = ("captioning",)  # a caption and a description of one image are alternatives
    expected_seconds = 1.0
    max_new_tokens = 64

    def forward(self, image: Image) -> Text:
        """Caption an image: one short sentence saying what the picture shows, e.g. for alt text or a title.

        Args:
            image: the photo or picture to caption.

        Returns:
            caption: a one-sentence caption.
        """
        backend = get_vlm()
        return self.ask(backend, [model_image(image, backend)], CAPTION_PROMPT)


class DescribeImage(InternVLTool):
    name = "describe_image"
    groups = ("image-understanding", "captioning")
    conflicts_with = ("captioning",)
    expected_seconds = 6.0
    max_new_tokens = 512

    def forward(self, image: Image) -> Text:
        """Describe an image in detail: a paragraph about the scene, objects, people, actions, colours,
        visible text and layout.

        Args:
            image: the photo or picture to describe.

        Returns:
            description: a detailed description of the image.
        """
        backend = get_vlm()
        return self.ask(backend, [model_image(image, backend)], DESCRIBE_PROMPT)


class AnswerImageQuestion(InternVLTool):
    name = "answer_image_question"
    domains = _VQA
    groups = ("image-understanding", "question-answering")
    conflicts_with = ("question-answering",)  # one answer per chain: answering an answer is no plan
    from_subtask = ("question",)  # the user's question, not another tool's text

    def forward(self, image: Image, question: Text) -> Text:
        """Answer a question about an image (visual question answering): what, who, where, which colour,
        is there a …, what is the person doing, why.

        Args:
            image: the picture the question is about.
            question: the question, in natural language.

        Returns:
            answer: the answer in words.
        """
        backend = get_vlm()
        prompt = required_text(question, "question")
        return self.ask(backend, [model_image(image, backend)], prompt, text="question")


class TranscribeImageText(InternVLTool):
    name = "transcribe_image_text"
    groups = ("image-understanding", "text-reading")
    conflicts_with = ("text-reading",)  # two readings of one image are alternatives
    expected_seconds = 8.0
    max_new_tokens = 1024

    def forward(self, image: Image) -> Text:
        """Read all the text written in an image with InternVL (signs, labels, screenshots, handwriting,
        scanned pages) and return it as plain text, line by line.

        Args:
            image: the picture or page whose text to read.

        Returns:
            text: the text in the image, in reading order.
        """
        backend = get_vlm()
        return self.ask(backend, [model_image(image, backend)], OCR_PROMPT, tiles=DOCUMENT_TILES)


class AnswerDocumentQuestion(InternVLTool):
    name = "answer_document_question"
    domains = ("image-perception", "question-answering", "visual-question-answering")
    groups = ("image-understanding", "question-answering")
    conflicts_with = ("question-answering",)
    from_subtask = ("question",)
    expected_seconds = 6.0
    max_new_tokens = 512

    def forward(self, image: Image, question: Text) -> Text:
        """Answer a question about a document, receipt, invoice, form, chart, plot, table, infographic or
        screenshot image: find totals, amounts, dates, names and values in its small print at high resolution.

        Args:
            image: the document page, chart or screenshot as an image.
            question: what to find out, e.g. "What is the total amount?" or "Which year had the most sales?".

        Returns:
            answer: the answer in words.
        """
        backend = get_vlm()
        prompt = required_text(question, "question")
        return self.ask(backend, [model_image(image, backend)], prompt, tiles=DOCUMENT_TILES, text="question")


class CompareImages(InternVLTool):
    name = "compare_images"
    domains = _VQA
    groups = ("image-understanding", "question-answering")
    conflicts_with = ("question-answering",)
    expected_seconds = 5.0
    max_new_tokens = 512

    def forward(self, first_image: Image, second_image: Image, question: Text | None = None) -> Text:
        """Compare two images: what is the same and what differs between them, or answer a question that
        needs both pictures (which one is newer, are they the same place, what changed).

        Args:
            first_image: the first picture (Image-1 to the model).
            second_image: the second picture (Image-2 to the model).
            question: what to compare; by default the similarities and differences.

        Returns:
            answer: the comparison or the answer, in words.
        """
        backend = get_vlm()
        images = [model_image(first_image, backend, "first_image"), model_image(second_image, backend, "second_image")]
        prompt = COMPARE_PROMPT if question is None else required_text(question, "question")
        return self.ask(backend, images, prompt, text="question", image="first_image")


class CountObjects(InternVLTool):
    name = "count_objects"
    groups = ("image-understanding",)
    from_subtask = ("category",)  # what to count is the user's word
    expected_seconds = 1.0
    max_new_tokens = 16

    def forward(self, image: Image, category: Text) -> int:
        """Count how many objects of one kind there are in an image, e.g. how many people, cars or apples,
        answered directly by InternVL.

        Args:
            image: the picture to count in.
            category: what to count, e.g. "people" or "red cars".

        Returns:
            count: how many there are.
        """
        backend = get_vlm()
        name = grounding_phrase(category, "category")
        prompt = COUNT_PROMPT.format(category=name)
        return parse_count(self.ask(backend, [model_image(image, backend)], prompt, text="category"))


# --- images: boxes ------------------------------------------------------------------------------------


class GroundPhrase(InternVLTool):
    name = "ground_phrase"
    groups = ("image-understanding",)
    from_subtask = ("phrase",)  # what to find is the user's phrase, not a caption
    expected_seconds = 1.5
    max_new_tokens = 256

    def forward(self, image: Image, phrase: Text) -> BBoxes:
        """Find where something described in words is in an image (visual grounding, referring
        expressions): bounding boxes of the region a phrase refers to, e.g. "the man in the red shirt".

        Args:
            image: the picture to search.
            phrase: a description of the object or region to locate.

        Returns:
            boxes: its bounding boxes in pixel coordinates of the image, labelled with the phrase.
        """
        backend = get_vlm()
        text = grounding_phrase(phrase, "phrase")
        picture = model_image(image, backend, stored_frame=True)
        return self.locate(backend, picture, [text], text="phrase")


class DetectObjects(InternVLTool):
    name = "detect_objects"
    groups = ("image-understanding",)
    expected_seconds = 3.0
    max_new_tokens = 1024

    def forward(self, image: Image, categories: Text | None = None) -> BBoxes:
        """Detect objects in an image and return labelled bounding boxes: every instance of the named
        categories (open vocabulary, e.g. "dog, person, traffic light"), or all objects when none are named.

        Args:
            image: the picture to detect objects in.
            categories: category names separated by commas; leave out to detect every object.

        Returns:
            boxes: bounding boxes in pixel coordinates of the image, each labelled with its category.
        """
        backend = get_vlm()
        names = None if categories is None else parse_categories(categories)
        picture = model_image(image, backend, stored_frame=True)
        return self.locate(backend, picture, names, text="categories")


# --- video --------------------------------------------------------------------------------------------


class AnswerVideoQuestion(InternVLTool):
    name = "answer_video_question"
    domains = _VIDEO
    groups = ("question-answering",)
    conflicts_with = ("question-answering",)
    from_subtask = ("question",)
    expected_seconds = 4.0

    def forward(self, video: Video, question: Text) -> Text:
        """Answer a question about a video clip: what happens, who does what, in what order, how many
        times, where it takes place.

        Args:
            video: the video file (MP4, WebM, GIF, …); eight frames spread over it are looked at.
            question: the question, in natural language.

        Returns:
            answer: the answer in words.
        """
        backend = get_vlm()
        return self.ask_video(backend, video, required_text(question, "question"), text="question")


class CaptionVideo(InternVLTool):
    name = "caption_video"
    domains = ("video-perception",)
    expected_seconds = 5.0
    max_new_tokens = 384

    def forward(self, video: Video) -> Text:
        """Describe what happens in a video clip (video captioning or summary): the scene, the people or
        objects, and what they do over time.

        Args:
            video: the video file (MP4, WebM, GIF, …); eight frames spread over it are looked at.

        Returns:
            caption: a description of what happens in the video.
        """
        backend = get_vlm()
        return self.ask_video(backend, video, VIDEO_CAPTION_PROMPT)


TOOLS: tuple[Tool, ...] = (
    CaptionImage(),
    DescribeImage(),
    AnswerImageQuestion(),
    TranscribeImageText(),
    AnswerDocumentQuestion(),
    CompareImages(),
    CountObjects(),
    GroundPhrase(),
    DetectObjects(),
    AnswerVideoQuestion(),
    CaptionVideo(),
)
