"""InternVL tools: end to end on the tiny InternVL (answers are noise, so prompts, types and parsing are
checked), box and count parsing on scripted answers, bad input, and tools left out when no model is set."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image as PILImage
from skimage import data

from graph.types import BBox, ResourceType
from tools import vision
from tools.errors import ToolExecutionError, ToolInputError, ToolUnavailableError
from tools.models import VLM_UNCONFIGURED, ModelOutputError
from tools.registry import ToolRegistry, default_registry
from vlm.errors import BackendError, BackendTimeoutError, GroundingParseError
from vlm.grounding import DETECT_ALL_PROMPT, format_grounding, parse_grounding, referring_prompt
from vlm.images import ImageLimits

if TYPE_CHECKING:
    from conftest import RecordingBackend, Script

TOOLS = {t.spec.name: t for t in vision.TOOLS}

# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo() -> PILImage.Image:
    """The astronaut at 112 x 112: square and small, so one 448 tile whatever the tile budget."""
    return PILImage.fromarray(data.astronaut()).resize((112, 112))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-frame GIF whose frames differ (a bright square moving right)."""
    frames = []
    for k in range(12):
        pixels = np.zeros((64, 96, 3), dtype=np.uint8)
        pixels[20:44, 4 + 6 * k : 28 + 6 * k] = (250, 200, 30)
        frames.append(PILImage.fromarray(pixels))
    path = tmp_path_factory.mktemp("video") / "clip.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80)
    return path


# --- specs --------------------------------------------------------------------------------------------


def test_specs_are_gpu_tools_with_the_types_the_planner_connects() -> None:
    signatures = {
        name: ([(i.name, i.type.value, i.required) for i in t.spec.inputs], [o.type.value for o in t.spec.outputs])
        for name, t in TOOLS.items()
    }
    assert signatures == {
        "caption_image": ([("image", "image", True)], ["text"]),
        "describe_image": ([("image", "image", True)], ["text"]),
        "answer_image_question": ([("image", "image", True), ("question", "text", True)], ["text"]),
        "transcribe_image_text": ([("image", "image", True)], ["text"]),
        "answer_document_question": ([("image", "image", True), ("question", "text", True)], ["text"]),
        "compare_images": (
            [("first_image", "image", True), ("second_image", "image", True), ("question", "text", False)],
            ["text"],
        ),
        "count_objects": ([("image", "image", True), ("category", "text", True)], ["number"]),
        "ground_phrase": ([("image", "image", True), ("phrase", "text", True)], ["bboxes"]),
        "detect_objects": ([("image", "image", True), ("categories", "text", False)], ["bboxes"]),
        "answer_video_question": ([("video", "video", True), ("question", "text", True)], ["text"]),
        "caption_video": ([("video", "video", True)], ["text"]),
    }
    assert all(t.spec.device.value == "gpu" for t in TOOLS.values())
    assert len({t.spec.description for t in TOOLS.values()}) == len(TOOLS)


def test_embedding_assessor_picks_the_right_tool_from_its_description(embedder: Any) -> None:
    from graph.assessors import EmbeddingAssessor
    from tools import image_ops, text

    specs = [t.spec for t in (*vision.TOOLS, *text.TOOLS, *image_ops.TOOLS)]
    assessor = EmbeddingAssessor(embedder)
    cases = {
        "write a caption for this photo": {"caption_image"},
        "describe the picture in detail": {"describe_image"},
        "what colour is the woman's dress?": {"answer_image_question"},
        "read the text on the sign": {"transcribe_image_text"},
        "what is the total amount on this receipt": {"answer_document_question"},
        "which month had the highest sales in the chart": {"answer_document_question"},
        "what is different between these two photos": {"compare_images"},
        "how many people are in the photo": {"count_objects"},
        "find the man in the red shirt": {"ground_phrase"},
        "locate the dog in the image": {"ground_phrase", "detect_objects"},
        "detect all cars and pedestrians": {"detect_objects"},
        "what happens in this video": {"caption_video", "answer_video_question"},
    }
    for request, wanted in cases.items():
        scores = assessor.score(request, specs)
        best = max(scores, key=lambda name: scores[name])
        assert best in wanted, (request, best)


# --- end to end on the tiny InternVL ----------------------------------------------------------------


WORD_TOOLS = [
    ("caption_image", {}, vision.CAPTION_PROMPT, vision.IMAGE_TILES, 64),
    ("describe_image", {}, vision.DESCRIBE_PROMPT, vision.IMAGE_TILES, 512),
    (
        "answer_image_question",
        {"question": "What is the person holding?"},
        "What is the person holding?",
        vision.IMAGE_TILES,
        256,
    ),
    ("transcribe_image_text", {}, vision.OCR_PROMPT, vision.DOCUMENT_TILES, 1024),
    (
        "answer_document_question",
        {"question": " What is the total? "},
        "What is the total?",
        vision.DOCUMENT_TILES,
        512,
    ),
]


@pytest.mark.parametrize(("name", "extra", "prompt", "tiles", "tokens"), WORD_TOOLS, ids=[w[0] for w in WORD_TOOLS])
def test_image_tools_ask_the_tiny_model_their_prompt(
    recorded: RecordingBackend,
    photo: PILImage.Image,
    name: str,
    extra: dict[str, str],
    prompt: str,
    tiles: int,
    tokens: int,
) -> None:
    result = TOOLS[name](image=photo, **extra)
    (output,) = result.values()
    assert isinstance(output, str) and output and output == output.strip()
    (request,) = recorded.requests
    assert request.question == prompt
    assert [im.size for im in request.images] == [(112, 112)]
    assert request.max_tiles == tiles and request.generation.max_new_tokens == tokens
    assert request.generation.do_sample is False
    again = TOOLS[name](image=photo, **extra)
    assert again == result  # greedy: the same input, the same answer


def test_compare_images_sends_both_images_in_order(recorded: RecordingBackend, photo: PILImage.Image) -> None:
    other = PILImage.fromarray(data.coffee()).resize((80, 80))
    answer = TOOLS["compare_images"](first_image=photo, second_image=other)["answer"]
    assert isinstance(answer, str) and answer
    asked = TOOLS["compare_images"](first_image=photo, second_image=other, question="Which one is a drink?")
    assert isinstance(asked["answer"], str)
    default, question = recorded.requests
    assert default.question == vision.COMPARE_PROMPT and question.question == "Which one is a drink?"
    assert [im.size for im in default.images] == [(112, 112), (80, 80)]


def test_video_tools_sample_eight_frames_of_the_file(recorded: RecordingBackend, clip: Path) -> None:
    answer = TOOLS["answer_video_question"](video=clip, question="Where does the square move?")["answer"]
    caption = TOOLS["caption_video"](video=str(clip))["caption"]
    assert isinstance(answer, str) and answer and isinstance(caption, str) and caption
    ask, describe = recorded.requests
    assert (ask.question, describe.question) == ("Where does the square move?", vision.VIDEO_CAPTION_PROMPT)
    assert Path(ask.video) == clip and ask.num_segments == vision.VIDEO_SEGMENTS == 8 and not ask.images


BOX_CALLS = [
    ("ground_phrase", {"phrase": "the cat's left ear"}, ["the cat's left ear"]),
    ("detect_objects", {"categories": "cat, ear"}, ["cat", "ear"]),
    ("detect_objects", {}, [None]),
]


@pytest.mark.parametrize(("name", "extra", "labels"), BOX_CALLS, ids=["ground", "detect", "detect-all"])
def test_box_tools_parse_exactly_what_the_tiny_model_said(
    recorded: RecordingBackend, name: str, extra: dict[str, str], labels: list[str | None]
) -> None:
    """The tiny model's noise either parses into boxes or is a ModelOutputError carrying it; never a crash."""
    image = PILImage.fromarray(data.chelsea()).resize((96, 96))
    try:
        outcome: Any = TOOLS[name](image=image, **extra)
    except ModelOutputError as exc:
        outcome = exc
    assert [r.question for r in recorded.requests] == [
        DETECT_ALL_PROMPT if label is None else referring_prompt(label) for label in labels
    ]
    raws = recorded.replay()
    try:
        expected = {"boxes": [b for raw, label in zip(raws, labels) for b in parse_grounding(raw, 96, 96, label)]}
    except GroundingParseError:
        assert isinstance(outcome, ModelOutputError) and outcome.tool == name and outcome.raw in raws
    else:
        assert outcome == expected


def test_count_parses_exactly_what_the_tiny_model_said(recorded: RecordingBackend) -> None:
    image = PILImage.fromarray(data.chelsea()).resize((96, 96))
    try:
        outcome: Any = TOOLS["count_objects"](image=image, category="cats")
    except ModelOutputError as exc:
        outcome = exc
    (request,) = recorded.requests
    assert request.question == vision.COUNT_PROMPT.format(category="cats")
    assert request.generation.max_new_tokens == 16
    (raw,) = recorded.replay()
    try:
        expected = {"count": vision.parse_count(raw)}
    except ModelOutputError:
        assert isinstance(outcome, ModelOutputError) and outcome.raw == raw
    else:
        assert outcome == expected


def test_image_placeholders_smuggled_into_a_question_are_input_errors(
    recorded: RecordingBackend, photo: PILImage.Image
) -> None:
    with pytest.raises(ToolInputError) as info:
        TOOLS["answer_image_question"](image=photo, question="Compare <image> with <image>")
    assert info.value.argument == "question"


def test_a_file_that_is_not_a_video_names_the_argument(recorded: RecordingBackend, tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"this is not a video at all\n" * 20)
    with pytest.raises(ToolInputError) as info:
        TOOLS["caption_video"](video=fake)
    assert info.value.argument == "video" and "cannot decode video" in str(info.value)


# --- parsing scripted answers --------------------------------------------------------------------------


def test_grounding_boxes_are_scaled_to_the_original_image_and_clamped(scripted: Script) -> None:
    backend = scripted(format_grounding([("the red car", [[100, 250, 600, 1100]])]))
    image = PILImage.new("RGB", (640, 480), "white")
    boxes = TOOLS["ground_phrase"](image=image, phrase="  the red   car ")["boxes"]
    assert boxes == [BBox(x1=64.0, y1=120.0, x2=384.0, y2=480.0, label="the red car")]
    (request,) = backend.requests
    assert request.question == referring_prompt("the red car") and request.images[0].size == (640, 480)
    assert request.max_tiles == vision.IMAGE_TILES


def test_detection_labels_every_category_and_falls_back_to_the_name_asked(scripted: Script) -> None:
    answers = {
        referring_prompt("dog"): format_grounding([("dog", [[0, 0, 500, 500], [-20, 500, 1000, 1000]])]),
        referring_prompt("cat"): "Here it is: " + format_grounding([(None, [[250, 250, 750, 750]])]),
    }
    backend = scripted(lambda r: answers[r.question])
    boxes = TOOLS["detect_objects"](image=PILImage.new("RGB", (200, 100)), categories="dog; cat, Dog")["boxes"]
    assert [(b.label, b.x1, b.y1, b.x2, b.y2) for b in boxes] == [
        ("dog", 0.0, 0.0, 100.0, 50.0),
        ("dog", 0.0, 50.0, 200.0, 100.0),
        ("cat", 50.0, 25.0, 150.0, 75.0),
    ]
    assert [r.question for r in backend.requests] == [referring_prompt("dog"), referring_prompt("cat")]


def test_detection_without_categories_detects_everything_with_the_models_labels(scripted: Script) -> None:
    backend = scripted(format_grounding([("person", [[0, 0, 100, 100]]), ("kite", [[900, 0, 1000, 100]])]))
    boxes = TOOLS["detect_objects"](image=PILImage.new("RGB", (1000, 500)))["boxes"]
    assert [(b.label, b.x1, b.y2) for b in boxes] == [("person", 0.0, 50.0), ("kite", 900.0, 50.0)]
    assert backend.requests[0].question == DETECT_ALL_PROMPT


@pytest.mark.parametrize(
    "answer",
    [
        "I can't see a car.",
        "<ref>car</ref><box>[[1, 2, 3]]</box>",
        "<box>[[10, 20, 30, 40]]",
        "<box>[[1, 2, eval(3), 4]]</box>",
    ],
)
def test_malformed_grounding_output_is_a_typed_error_keeping_the_answer(answer: str, scripted: Script) -> None:
    scripted(answer)
    for name, extra in (("ground_phrase", {"phrase": "car"}), ("detect_objects", {"categories": "car"})):
        with pytest.raises(ModelOutputError) as info:
            TOOLS[name](image=PILImage.new("RGB", (50, 50)), **extra)
        assert info.value.raw == answer and info.value.tool == name and info.value.retryable is False
        assert isinstance(info.value, ToolExecutionError)


@pytest.mark.parametrize(
    ("answer", "count"),
    [
        ("3", 3),
        ("3.", 3),
        (" There are 4 dogs. ", 4),
        ("Twelve", 12),
        ("none", 0),
        ("0", 0),
        ("1,024", 1024),
        ("7 cats, 7 in all", 7),
    ],
)
def test_counts_are_read_from_the_models_answer(answer: str, count: int, scripted: Script) -> None:
    backend = scripted(answer)
    result = TOOLS["count_objects"](image=PILImage.new("RGB", (64, 64)), category=" red  cars ")
    assert result == {"count": count} and type(result["count"]) is int
    assert backend.requests[0].question == "How many red cars are there in the image? Answer with a single number."


@pytest.mark.parametrize("answer", ["many", "2 or 3", "2.5", "-1", "There are no dogs here.", "   "])
def test_a_count_that_is_not_one_whole_number_is_a_typed_error(answer: str, scripted: Script) -> None:
    scripted(answer)
    with pytest.raises(ModelOutputError) as info:
        TOOLS["count_objects"](image=PILImage.new("RGB", (64, 64)), category="dogs")
    assert info.value.raw == answer and info.value.tool == "count_objects"


def test_an_empty_answer_is_a_typed_error(scripted: Script) -> None:
    scripted(" \n ")
    with pytest.raises(ModelOutputError, match="empty answer"):
        TOOLS["caption_image"](image=PILImage.new("RGB", (32, 32)))


def test_document_tools_ask_for_more_tiles_up_to_the_deployments_ceiling(scripted: Script) -> None:
    image = PILImage.new("RGB", (300, 200))
    for ceiling, doc_tiles, photo_tiles in ((40, 24, 12), (12, 12, 12), (6, 6, 6)):
        backend = scripted("42", limits=ImageLimits(max_tiles=ceiling))
        TOOLS["answer_document_question"](image=image, question="What is the total?")
        TOOLS["transcribe_image_text"](image=image)
        TOOLS["answer_image_question"](image=image, question="What is it?")
        assert [r.max_tiles for r in backend.requests] == [doc_tiles, doc_tiles, photo_tiles]


def exif_rotated_jpeg() -> PILImage.Image:
    """A 60 x 30 JPEG whose EXIF says "rotate 90 degrees clockwise to view" (orientation 6)."""
    exif = PILImage.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    PILImage.new("RGB", (60, 30), "navy").save(buffer, format="JPEG", exif=exif.tobytes())
    return PILImage.open(io.BytesIO(buffer.getvalue()))


def test_boxes_fit_the_stored_pixels_while_words_see_the_photo_upright(scripted: Script) -> None:
    backend = scripted(lambda r: format_grounding([(None, [[0, 0, 500, 1000]])]) if "<ref>" in r.question else "a boat")
    image = exif_rotated_jpeg()
    boxes = TOOLS["ground_phrase"](image=image, phrase="the boat")["boxes"]
    assert boxes == [BBox(x1=0.0, y1=0.0, x2=30.0, y2=30.0, label="the boat")]  # half of 60 x 30, as stored
    TOOLS["caption_image"](image=image)
    grounding, caption = backend.requests
    assert grounding.images[0].size == (60, 30) and caption.images[0].size == (30, 60)
    assert image.getexif().get(0x0112) == 6  # the caller's image is left as it was


# --- bad input and backend trouble ----------------------------------------------------------------------


def truncated_png() -> PILImage.Image:
    buffer = io.BytesIO()
    PILImage.fromarray(data.astronaut()[:60, :60]).save(buffer, format="PNG")
    return PILImage.open(io.BytesIO(buffer.getvalue()[:300]))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (truncated_png, "decode"),
        (lambda: PILImage.new("RGB", (0, 0)), "no pixels"),
        (lambda: PILImage.new("RGB", (64, 64)), "limit"),
        (lambda: b"\x89PNG not really", "PIL.Image.Image"),
    ],
    ids=["truncated", "empty", "too-large", "bytes"],
)
def test_bad_images_are_input_errors_naming_the_argument(
    value: Callable[[], Any], problem: str, scripted: Script
) -> None:
    backend = scripted("a picture", limits=ImageLimits(max_pixels=64 * 63))
    for name, extra in (("caption_image", {}), ("ground_phrase", {"phrase": "a cat"}), ("detect_objects", {})):
        with pytest.raises(ToolInputError, match=problem) as info:
            TOOLS[name](image=value(), **extra)
        assert info.value.argument == "image"
    with pytest.raises(ToolInputError) as info:
        TOOLS["compare_images"](first_image=PILImage.new("RGB", (8, 8)), second_image=value())
    assert info.value.argument == "second_image"
    assert backend.requests == []


@pytest.mark.parametrize(
    ("name", "extra", "argument"),
    [
        ("answer_image_question", {"question": "  \n"}, "question"),
        ("answer_document_question", {"question": ""}, "question"),
        ("compare_images", {"second_image": None, "question": " "}, "question"),
        ("ground_phrase", {"phrase": " "}, "phrase"),
        ("ground_phrase", {"phrase": "the <box>cat</box>"}, "phrase"),
        ("count_objects", {"category": ""}, "category"),
        ("detect_objects", {"categories": " , ;\n"}, "categories"),
        ("detect_objects", {"categories": ", ".join(f"thing {k}" for k in range(21))}, "categories"),
    ],
)
def test_bad_text_is_an_input_error_naming_the_argument(
    name: str, extra: dict[str, Any], argument: str, scripted: Script
) -> None:
    scripted("an answer")
    image = PILImage.new("RGB", (32, 32))
    args = {"first_image": image, "second_image": image} if name == "compare_images" else {"image": image}
    args.update({k: v for k, v in extra.items() if v is not None})
    with pytest.raises(ToolInputError) as info:
        TOOLS[name](**args)
    assert info.value.argument == argument and info.value.tool == name


def test_backend_failures_keep_their_retry_verdict(scripted: Script) -> None:
    image = PILImage.new("RGB", (32, 32))
    scripted(BackendTimeoutError("the server took too long"))
    with pytest.raises(ToolExecutionError, match="took too long") as info:
        TOOLS["caption_image"](image=image)
    assert info.value.retryable is True and not isinstance(info.value, ToolInputError)
    scripted(BackendError("HTTP 400: bad request", retryable=False))
    with pytest.raises(ToolExecutionError) as info:
        TOOLS["ground_phrase"](image=image, phrase="x")
    assert info.value.retryable is False


# --- availability -----------------------------------------------------------------------------------


def test_without_a_model_the_tools_say_why_and_stay_out_of_the_graph() -> None:
    for item in TOOLS.values():
        assert item.available() == (False, VLM_UNCONFIGURED)
    with pytest.raises(ToolUnavailableError) as info:
        vision.CaptionImage()(image=PILImage.new("RGB", (8, 8)))
    assert info.value.reason == VLM_UNCONFIGURED
    registry = default_registry()
    assert set(TOOLS) <= set(registry.names())
    assert {name: registry.unavailable().get(name) for name in TOOLS} == dict.fromkeys(TOOLS, VLM_UNCONFIGURED)
    graph = registry.tool_graph()
    assert not set(TOOLS) & {spec.name for spec in graph.specs}


def test_with_a_model_the_tools_join_the_graph_and_connect_types(scripted: Script) -> None:
    scripted("an answer")
    registry = ToolRegistry(vision.TOOLS)
    assert registry.unavailable() == {}
    graph = registry.tool_graph()
    assert {spec.name for spec in graph.specs} == set(TOOLS)
    assert graph.can_reach({ResourceType.IMAGE, ResourceType.TEXT}, ResourceType.BBOXES)
    assert graph.can_reach({ResourceType.VIDEO}, ResourceType.TEXT)
