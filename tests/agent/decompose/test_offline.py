"""The offline decomposer with the real MiniLM model and the built-in tool catalogue, then the ToG planner."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ToGSettings
from agent.decompose.base import DecompositionError, Resource
from agent.decompose.offline import OfflineDecomposer
from agent.planning import build_planner
from graph.embedding import Embedder
from graph.errors import EmptyRequestError
from graph.plan import Plan, ResourceRef, Subtask
from graph.search import ToGPlanner
from graph.spec import ToolSpec
from graph.toolgraph import ToolGraph
from graph.types import ResourceType as T
from tools.registry import default_registry

DEV_SET = Path(__file__).with_name("dev_plans.jsonl")
BLIND_SET = Path(__file__).with_name("blind_plans.jsonl")
PHOTO = [Resource(name="photo.jpg", type=T.IMAGE, value="/data/photo.jpg")]


@pytest.fixture(scope="session")
def specs() -> list[ToolSpec]:
    return default_registry().specs()


@pytest.fixture(scope="session")
def planner(specs: list[ToolSpec], embedder: Embedder) -> ToGPlanner:
    from graph.assessors import EmbeddingAssessor

    tool_graph = ToolGraph(specs)
    planner = build_planner(tool_graph, ToGSettings())
    planner.assessor = EmbeddingAssessor(embedder)
    return planner


@pytest.fixture(scope="session")
def decomposer(specs: list[ToolSpec], embedder: Embedder, planner: ToGPlanner) -> OfflineDecomposer:
    return OfflineDecomposer(embedder=embedder, specs=specs, planner=planner)


def shape(plan: Plan) -> list[tuple[list[str], str, list[int]]]:
    """Per subtask: input kinds (generated ones starred), target kind, deps."""
    return [
        (
            [r.type.value + ("*" if r.generated_by is not None else "") for r in s.inputs],
            s.target_types[0].value,
            s.deps,
        )
        for s in plan.subtasks
    ]


def tools(planner: ToGPlanner, plan: Plan) -> list[list[str]]:
    return [planner.search(s).solutions[0].tools for s in plan.subtasks]


# --- type inference --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_text", "target"),
    [
        ("How many dogs are in the photo?", T.NUMBER),
        ("Where is the red car?", T.BBOXES),
        ("Find all the faces", T.BBOXES),
        ("Describe the picture", T.TEXT),
        ("Read the text on the sign", T.TEXT),
        ("Read the sign aloud", T.AUDIO),
        ("Make the photo black and white", T.IMAGE),
        ("Rotate it by 90 degrees", T.IMAGE),
        ("What resolution is this image?", T.JSON),
        ("What is the man holding?", T.TEXT),
        ("图片里有几只狗？", T.NUMBER),
        ("把照片旋转90度", T.IMAGE),
        ("描述一下这张照片", T.TEXT),
        ("找出图片中的人脸", T.BBOXES),
    ],
)
def test_the_request_decides_the_result_kind(decomposer: OfflineDecomposer, request_text: str, target: T) -> None:
    plan = decomposer.decompose(request_text, PHOTO)
    assert plan.subtasks[-1].target_types == [target]


def test_audio_requests(decomposer: OfflineDecomposer) -> None:
    talk = [Resource(name="talk.wav", type=T.AUDIO)]
    assert shape(decomposer.decompose("Transcribe the recording", talk)) == [(["audio"], "text", [])]
    assert shape(decomposer.decompose("Transcribe it with timestamps", talk)) == [(["audio"], "transcript", [])]


def test_a_question_carries_its_text_to_the_tool(decomposer: OfflineDecomposer) -> None:
    plan = decomposer.decompose("What is the man holding?", PHOTO)
    (sub,) = plan.subtasks
    assert {(r.type, r.value) for r in sub.inputs} == {
        (T.IMAGE, "/data/photo.jpg"),
        (T.TEXT, "What is the man holding?"),
    }
    assert "visual question answering" in sub.description


# --- chaining and binding --------------------------------------------------------------------------


def test_clauses_about_earlier_results_chain_to_them(decomposer: OfflineDecomposer) -> None:
    plan = decomposer.decompose("Find the faces in photo.jpg and blur them, then tell me how many there are", PHOTO)
    assert shape(plan) == [
        (["image"], "bboxes", []),
        (["image", "bboxes*"], "image", [0]),
        (["bboxes*"], "number", [0]),
    ]
    assert plan.subtasks[1].inputs[1].value == "<GENERATED>-0"


def test_chinese_pronouns_chain_too(decomposer: OfflineDecomposer) -> None:
    plan = decomposer.decompose("检测图片中的人脸，然后把它们模糊", PHOTO)
    assert shape(plan) == [(["image"], "bboxes", []), (["image", "bboxes*"], "image", [0])]
    assert "blur" in plan.subtasks[1].description  # glossed for the English-only embedding model


def test_an_edited_image_is_what_later_clauses_see(decomposer: OfflineDecomposer) -> None:
    plan = decomposer.decompose("Rotate the photo by 90 degrees and then caption it", PHOTO)
    assert shape(plan) == [(["image"], "image", []), (["image*"], "text", [0])]


def test_independent_clauses_use_the_given_file(decomposer: OfflineDecomposer) -> None:
    plan = decomposer.decompose("Caption the photo and read the text in it", PHOTO)
    assert shape(plan) == [(["image"], "text", []), (["image"], "text", [])]


def test_a_step_the_best_tool_needs_first_becomes_its_own_subtask(
    decomposer: OfflineDecomposer, planner: ToGPlanner
) -> None:
    plan = decomposer.decompose("Crop the dog out of the photo", PHOTO)
    assert shape(plan) == [(["text", "image"], "bboxes", []), (["image", "bboxes*"], "image", [0])]
    assert plan.subtasks[0].inputs[0].value == "dog"  # what to detect, for the detector's categories
    assert tools(planner, plan) == [["detect_objects"], ["crop_image"]]


def test_a_cue_that_narrows_a_list_adds_a_selecting_step(decomposer: OfflineDecomposer, planner: ToGPlanner) -> None:
    plan = decomposer.decompose("Crop the largest face in photo.jpg", PHOTO)
    assert tools(planner, plan) == [["detect_faces"], ["top_k_boxes"], ["crop_image"]]
    boxes = [Resource(name="detections.json", type=T.BBOXES), Resource(name="yard.jpg", type=T.IMAGE)]
    plan = decomposer.decompose("Only draw the 'dog' boxes from detections.json onto yard.jpg", boxes)
    assert tools(planner, plan) == [["select_boxes"], ["draw_boxes"]]
    assert {r.value for r in plan.subtasks[0].inputs} == {"detections.json", "dog"}


def test_the_next_clause_decides_which_result_a_clause_makes(
    decomposer: OfflineDecomposer, planner: ToGPlanner
) -> None:
    plan = decomposer.decompose("识别图片中的文字，并用方框标出来", PHOTO)  # read the text, then box it
    assert shape(plan)[0][1] == "bboxes"
    assert tools(planner, plan) == [["ocr_text_lines"], ["draw_boxes"]]


def test_steps_beside_each_other_share_their_input(decomposer: OfflineDecomposer) -> None:
    audio = [Resource(name="lecture.wav", type=T.AUDIO)]
    plan = decomposer.decompose("From lecture.wav, give me a summary and tell me when the exam is", audio)
    transcript = plan.subtasks[0]
    assert transcript.target_types == [T.TEXT] and transcript.inputs[0].value == "lecture.wav"
    assert [s.deps for s in plan.subtasks[1:]] == [[0], [0]]  # both work on the transcript


def test_a_named_product_is_the_result_of_the_step_that_made_it(decomposer: OfflineDecomposer) -> None:
    plan = decomposer.decompose(
        "Caption sunset.jpg, translate the caption into Japanese, and also read the original caption aloud",
        [Resource(name="sunset.jpg", type=T.IMAGE)],
    )
    assert [s.deps for s in plan.subtasks] == [[], [0], [0]]


def test_inputs_bind_by_name_then_by_latest_of_their_kind(decomposer: OfflineDecomposer) -> None:
    two = [Resource(name="a.jpg", type=T.IMAGE), Resource(name="b.jpg", type=T.IMAGE)]
    (sub,) = decomposer.decompose("Caption a.jpg", two).subtasks
    assert [r.value for r in sub.inputs] == ["a.jpg"]
    (sub,) = decomposer.decompose("Caption the photo", two).subtasks
    assert [r.value for r in sub.inputs] == ["b.jpg"]
    (sub,) = decomposer.decompose("Put a.jpg and b.jpg side by side", two).subtasks
    assert sorted(r.value for r in sub.inputs) == ["a.jpg", "b.jpg"]


def test_the_original_means_the_given_file(decomposer: OfflineDecomposer) -> None:
    plan = decomposer.decompose("Blur the faces, then compare the result with the original photo", PHOTO)
    last = plan.subtasks[-1]
    assert sorted(str(r.value) for r in last.inputs if r.type is T.IMAGE) == [
        "/data/photo.jpg",
        f"<GENERATED>-{plan.subtasks[-2].id}",
    ]


def test_no_resource_is_ever_invented(decomposer: OfflineDecomposer) -> None:
    plan = decomposer.decompose("Detect the faces, blur them and make the result grayscale", PHOTO)
    for sub in plan.subtasks:
        for ref in sub.inputs:
            assert ref.generated_by is not None or ref.value == "/data/photo.jpg"


def test_subtasks_carry_the_domains_of_their_tools(decomposer: OfflineDecomposer, planner: ToGPlanner) -> None:
    plan = decomposer.decompose("Find the faces in photo.jpg and blur them", PHOTO)
    assert [s.domains for s in plan.subtasks] == [["image-perception"], ["image-editing"]]
    assert tools(planner, plan) == [["detect_faces"], ["blur_regions"]]  # the filter keeps the plan


def test_every_subtask_is_solvable_by_the_planner(decomposer: OfflineDecomposer, planner: ToGPlanner) -> None:
    plan = decomposer.decompose("Read the text in the image, translate it into German and read it aloud", PHOTO)
    assert [t[-1] for t in tools(planner, plan)] == ["read_text", "translate_text", "text_to_speech"]


def test_descriptions_keep_the_parameters_the_filler_reads(decomposer: OfflineDecomposer, planner: ToGPlanner) -> None:
    """Task labels follow the user's words, so the offline parameter filler reads the user, not a label."""
    from agent.params import OfflineParameterFiller

    filler = OfflineParameterFiller(default_registry())
    plan = decomposer.decompose(
        "Detect the faces in photo.jpg, rotate the photo by 90 degrees and tell me how many faces there are", PHOTO
    )
    filled = {}
    for sub in plan.subtasks:
        _, _, values = filler.fill(sub, planner.search(sub).solutions[0])
        filled.update({(v.tool, v.argument): v.value for v in values})
    assert filled.get(("rotate_image", "angle")) == 90
    assert ("count_boxes", "label") not in filled or filled[("count_boxes", "label")] == "faces"


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_text", ["", "   "])
def test_empty_request(decomposer: OfflineDecomposer, request_text: str) -> None:
    with pytest.raises(EmptyRequestError):
        decomposer.decompose(request_text, PHOTO)


def test_a_file_that_was_not_given(decomposer: OfflineDecomposer) -> None:
    with pytest.raises(DecompositionError, match="cat.png"):
        decomposer.decompose("Caption cat.png", PHOTO)


def test_a_kind_of_input_that_was_not_given(decomposer: OfflineDecomposer) -> None:
    with pytest.raises(DecompositionError, match="audio") as info:
        decomposer.decompose("Transcribe the recording", PHOTO)
    assert info.value.details["missing"] == ["audio"]
    with pytest.raises(DecompositionError, match="image"):
        decomposer.decompose("Blur the faces", [])


@pytest.mark.parametrize("request_text", ["xyzzy plugh", "a", "and then"])
def test_nothing_to_do(decomposer: OfflineDecomposer, request_text: str) -> None:
    with pytest.raises(DecompositionError, match="to do"):
        decomposer.decompose(request_text, PHOTO)


def test_a_question_needs_something_to_ask_about(decomposer: OfflineDecomposer) -> None:
    with pytest.raises(DecompositionError, match="image"):
        decomposer.decompose("What is the man holding?", [])


# --- end to end with the planner -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_text", "resources", "expected"),
    [
        ("Find the faces in photo.jpg and blur them", PHOTO, [["detect_faces"], ["blur_regions"]]),
        ("How many faces are in the photo?", PHOTO, [["detect_faces"], ["count_boxes"]]),
        ("Draw boxes around the text in the image", PHOTO, [["ocr_text_lines"], ["draw_boxes"]]),
        (
            "Transcribe talk.wav and then summarise it",
            [Resource(name="talk.wav", type=T.AUDIO)],
            [["speech_to_text"], ["summarize_text"]],
        ),
        ('Say "good morning" out loud', [], [["text_to_speech"]]),
        (
            "Compare a.jpg and b.jpg",
            [Resource(name="a.jpg", type=T.IMAGE), Resource(name="b.jpg", type=T.IMAGE)],
            [["compare_images"]],
        ),
        ("识别图片中的文字，并用方框标出来", PHOTO, [["ocr_text_lines"], ["draw_boxes"]]),
        ("找出穿红衣服的人", PHOTO, [["ground_phrase"]]),
    ],
)
def test_realistic_requests_plan_the_expected_tools(
    decomposer: OfflineDecomposer,
    planner: ToGPlanner,
    request_text: str,
    resources: list[Resource],
    expected: list[list[str]],
) -> None:
    assert tools(planner, decomposer.decompose(request_text, resources)) == expected


@pytest.mark.parametrize(
    ("dataset", "node_min", "edge_min"),
    [
        # the targets on the project's evaluation set (tog eval plans tests/data/plans.jsonl)
        (Path(__file__).resolve().parents[2] / "data" / "plans.jsonl", 0.85, 0.70),
        (DEV_SET, 0.85, 0.70),  # requests written while building the decomposer
        (BLIND_SET, 0.85, 0.70),  # requests written afterwards and measured before any change for them
    ],
    ids=["plans", "dev", "blind"],
)
def test_planning_figures(
    decomposer: OfflineDecomposer, planner: ToGPlanner, dataset: Path, node_min: float, edge_min: float
) -> None:
    """TaskBench-style micro node and edge F1 of this decomposer + ToG, scored by agent.evaluation."""
    from agent.evaluation import evaluate, load_samples

    if not dataset.is_file():
        pytest.skip(f"{dataset} is not there")
    report = evaluate(decomposer, planner, load_samples(dataset))
    assert report.overall.errors == 0 and report.overall.unsolved == 0
    assert report.overall.node_f1 >= node_min
    assert report.overall.edge_f1 >= edge_min


# --- generalisation: type-driven binding -----------------------------------------------------------


def test_the_named_file_decides_the_kind_of_tool(decomposer: OfflineDecomposer) -> None:
    mixed = [Resource(name="match.mp4", type=T.VIDEO), Resource(name="ticket.jpg", type=T.IMAGE)]
    plan = decomposer.decompose("Describe what goes on in match.mp4 and caption ticket.jpg", mixed)
    assert [[r.value for r in s.inputs] for s in plan.subtasks] == [["match.mp4"], ["ticket.jpg"]]


def test_a_given_list_is_used_rather_than_made_again(decomposer: OfflineDecomposer, planner: ToGPlanner) -> None:
    given = [Resource(name="dets.json", type=T.BBOXES), Resource(name="street.jpg", type=T.IMAGE)]
    plan = decomposer.decompose("dets.json has detections for street.jpg. Keep only the bicycle ones", given)
    assert tools(planner, plan) == [["select_boxes"]]
    assert "dets.json" in {r.value for r in plan.subtasks[0].inputs}


def test_a_narrowed_list_is_what_the_next_step_sees(decomposer: OfflineDecomposer) -> None:
    plan = decomposer.decompose(
        "From animals.json, select the bird labels and how many are there",
        [Resource(name="animals.json", type=T.LABELS)],
    )
    assert [s.deps for s in plan.subtasks] == [[], [0]]


def test_what_is_left_of_a_list_is_counted_as_a_list(decomposer: OfflineDecomposer, planner: ToGPlanner) -> None:
    plan = decomposer.decompose(
        "Find the bikes in photo.jpg, discard any box below 0.4 confidence, then count what remains", PHOTO
    )
    assert tools(planner, plan)[-1] == ["count_boxes"] and plan.subtasks[-1].deps == [1]


def test_the_whole_picture_is_the_given_one(decomposer: OfflineDecomposer) -> None:
    plan = decomposer.decompose("Crop the cat in photo.jpg. Also caption the entire image", PHOTO)
    assert plan.subtasks[-1].deps == [] and plan.subtasks[-1].inputs[0].value == "/data/photo.jpg"


def test_a_named_product_no_step_made_yet_is_made_first(decomposer: OfflineDecomposer, planner: ToGPlanner) -> None:
    plan = decomposer.decompose("Read out loud the summary of essay.txt", [Resource(name="essay.txt", type=T.TEXT)])
    assert tools(planner, plan) == [["summarize_text"], ["text_to_speech"]]
    assert [s.deps for s in plan.subtasks] == [[], [0]]


ESSAY = [Resource(name="essay.txt", type=T.TEXT)]


@pytest.mark.parametrize(
    ("request_text", "resources", "language", "expected"),
    [
        ("Caption photo.jpg in Spanish", PHOTO, "Spanish", [["caption_image"], ["translate_text"]]),
        ("Summarise essay.txt in French", ESSAY, "French", [["summarize_text"], ["translate_text"]]),
        ("What is written on the sign in German", PHOTO, "German", [["read_text"], ["translate_text"]]),
        (
            "Describe the photo in German and read it aloud",
            PHOTO,
            "German",
            [["describe_image"], ["translate_text"], ["text_to_speech"]],
        ),
    ],
)
def test_a_language_wish_translates_the_text_the_clause_makes(
    decomposer: OfflineDecomposer,
    planner: ToGPlanner,
    request_text: str,
    resources: list[Resource],
    language: str,
    expected: list[list[str]],
) -> None:
    plan = decomposer.decompose(request_text, resources)
    assert tools(planner, plan) == expected
    assert [s.deps for s in plan.subtasks] == [[]] + [[k] for k in range(len(expected) - 1)]
    assert language in plan.subtasks[1].description  # where the translator's target language is read from


@pytest.mark.parametrize(
    ("request_text", "resources", "expected"),
    [
        ("Translate essay.txt into Spanish", ESSAY, [["translate_text"]]),  # the translation is the step itself
        (
            "Write a caption for the photo, then translate it into Italian",
            PHOTO,
            [["caption_image"], ["translate_text"]],
        ),  # asked for once, made once
    ],
)
def test_a_translation_asked_for_by_name_is_not_doubled(
    decomposer: OfflineDecomposer,
    planner: ToGPlanner,
    request_text: str,
    resources: list[Resource],
    expected: list[list[str]],
) -> None:
    assert tools(planner, decomposer.decompose(request_text, resources)) == expected


@pytest.mark.parametrize("request_text", ["Say aloud the summary of essay.txt", "Read the summary of essay.txt to me"])
def test_speaking_a_named_product_speaks_that_product(
    decomposer: OfflineDecomposer, planner: ToGPlanner, request_text: str
) -> None:
    plan = decomposer.decompose(request_text, ESSAY)
    assert tools(planner, plan) == [["summarize_text"], ["text_to_speech"]]
    assert plan.subtasks[1].inputs[0].generated_by == 0  # the summary, not the words of the request


def test_words_to_say_are_the_content_whichever_side_the_adverb_is_on(decomposer: OfflineDecomposer) -> None:
    for request_text in ("Say aloud good morning everyone", "Say good morning everyone out loud"):
        [step] = decomposer.decompose(request_text).subtasks
        assert [ref.value for ref in step.inputs] == ["good morning everyone"]


# --- edits compose (issue 17, item 3) --------------------------------------------------------------


def _image_input(subtask: Subtask) -> ResourceRef:
    return next(r for r in subtask.inputs if r.type is T.IMAGE)


@pytest.mark.parametrize(
    "request_text",
    [
        "make the photo grey and blur the faces",
        "make the photo grey, blur the faces",
        "make the photo grey, then blur the faces",
        "make the photo grey and also blur the faces",
        "把照片变成灰色并模糊人脸",
        "把照片变成灰色，然后模糊人脸",
    ],
)
def test_edits_of_one_input_compose_whatever_joins_them(
    decomposer: OfflineDecomposer, planner: ToGPlanner, request_text: str
) -> None:
    plan = decomposer.decompose(request_text, PHOTO)
    assert tools(planner, plan) == [["grayscale_image"], ["detect_faces"], ["blur_regions"]]
    grey, _, blurred = plan.subtasks
    assert _image_input(blurred).generated_by == grey.id  # one result: the grey photo, blurred


def test_edits_compose_in_the_order_asked(decomposer: OfflineDecomposer, planner: ToGPlanner) -> None:
    plan = decomposer.decompose("blur the faces and make the photo grey", PHOTO)
    assert tools(planner, plan) == [["detect_faces"], ["blur_regions"], ["grayscale_image"]]
    assert _image_input(plan.subtasks[2]).generated_by == plan.subtasks[1].id


@pytest.mark.parametrize(
    "request_text",
    [
        "give me a grey version and a blurred version of the photo",
        "make the photo grey and blur the faces separately",
        "make the photo grey and blur the faces, one image for each edit",
        "把照片变成黑白的，另外单独模糊人脸",
    ],
)
def test_separate_versions_are_each_made_from_the_input(
    decomposer: OfflineDecomposer, planner: ToGPlanner, request_text: str
) -> None:
    plan = decomposer.decompose(request_text, PHOTO)
    assert tools(planner, plan)[0] == ["grayscale_image"] and tools(planner, plan)[-1] == ["blur_regions"]
    assert _image_input(plan.subtasks[-1]).value == "/data/photo.jpg"


def test_a_step_that_is_no_edit_keeps_working_on_the_photo(decomposer: OfflineDecomposer) -> None:
    plan = decomposer.decompose("caption the photo and blur the faces", PHOTO)
    assert [_image_input(s).value for s in plan.subtasks] == ["/data/photo.jpg"] * 3


# --- speaking what the user gave, or what a step found ---------------------------------------------


def test_reading_a_given_text_aloud_speaks_that_text(decomposer: OfflineDecomposer, planner: ToGPlanner) -> None:
    given = [Resource(name="text", type=T.TEXT, value="hello there")]
    plan = decomposer.decompose("read this text aloud", given)
    assert tools(planner, plan) == [["text_to_speech"]]
    assert [r.value for r in plan.subtasks[0].inputs] == ["hello there"]


@pytest.mark.parametrize(
    "request_text",
    [
        "count the faces in the photo and say the number out loud",
        "how many faces are there? read the answer aloud",
        "检测照片里的人脸，数一数有几个，然后读出来",
    ],
)
def test_a_count_said_out_loud_is_the_count(
    decomposer: OfflineDecomposer, planner: ToGPlanner, request_text: str
) -> None:
    plan = decomposer.decompose(request_text, PHOTO)
    assert tools(planner, plan) == [["detect_faces"], ["count_boxes"], ["speak_number"]]
    assert plan.subtasks[2].deps == [1]  # the count, not the photo's text


def test_a_question_about_a_list_is_not_answered_from_its_count(
    decomposer: OfflineDecomposer, planner: ToGPlanner
) -> None:
    """A count read aloud is no way to a text: the rules that keep the planner from transcribing its own
    speech hold for the decomposer's reachability too."""
    plan = decomposer.decompose(
        "Which of the keywords in tags.json are about food?", [Resource(name="tags.json", type=T.TAGS)]
    )
    assert tools(planner, plan) == [["select_tags"]]


# --- a value written in a document -----------------------------------------------------------------

RECEIPT = [Resource(name="receipt.jpg", type=T.IMAGE)]


@pytest.mark.parametrize(
    ("request_text", "line"),
    [
        ("what is the total on receipt.jpg", "total"),
        ("How much did I pay in total on this receipt?", "total"),
        ("find the total amount on this receipt", "total"),
        ("What is the price of the bagel on receipt.jpg?", "bagel"),
        ("这张收据的总金额是多少？", "总金额"),
    ],
)
def test_a_value_in_a_document_is_read_from_the_line_it_is_on(
    decomposer: OfflineDecomposer, planner: ToGPlanner, request_text: str, line: str
) -> None:
    """Read the text, select the line the request names, extract the number: no model needed."""
    plan = decomposer.decompose(request_text, RECEIPT)
    assert tools(planner, plan) == [["read_text"], ["select_lines"], ["extract_number"]]
    assert line in {r.value for r in plan.subtasks[1].inputs}
    assert [s.deps for s in plan.subtasks] == [[], [0], [1]]


def test_a_quantity_that_no_document_line_holds_is_no_value_to_extract(
    decomposer: OfflineDecomposer, planner: ToGPlanner
) -> None:
    plan = decomposer.decompose("How much does the dog weigh?", PHOTO)
    assert "extract_number" not in {t for chain in tools(planner, plan) for t in chain}


@pytest.mark.parametrize("request_text", ["what does this sign say?", "这个牌子上写的是什么？"])
def test_what_a_sign_says_is_read_not_asked(
    decomposer: OfflineDecomposer, planner: ToGPlanner, request_text: str
) -> None:
    """Reading needs no model; the Chinese gloss says "written" and "sign" as the English words do."""
    assert tools(planner, decomposer.decompose(request_text, PHOTO)) == [["read_text"]]


@pytest.mark.parametrize("request_text", ["what color is the cat?", "图里的猫是什么颜色的？"])
def test_a_question_about_what_is_seen_asks_the_image(
    decomposer: OfflineDecomposer, planner: ToGPlanner, request_text: str
) -> None:
    """Not the photo's OCR text: without a VLM the refusal must name the VLM tool, not a text model."""
    assert tools(planner, decomposer.decompose(request_text, PHOTO)) == [["answer_image_question"]]
