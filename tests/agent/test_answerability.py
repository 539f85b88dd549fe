"""Succeeded means answered (issue 17 item 1): what the tools here cannot do is refused before any tool runs.

The real offline decomposer and the built-in tools with no model configured, as a new user has them:
requests that need a VLM are refused naming the tool and how to enable it, a product no tool makes is
refused naming the nearest tools, and ordinary requests still run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.answerability import AnswerabilityCheck, named_products
from agent.api import Agent
from agent.config import ToGSettings
from agent.decompose.base import Decomposer, DecompositionError, Resource
from agent.outcomes import UnsupportedRequestError
from agent.samples import make_demo_photo
from graph.plan import Plan
from graph.types import ResourceType

MODEL_VARIABLES = ("TOG_VLM_MODEL", "TOG_VLM_URL", "TOG_LLM_URL")


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_photo(tmp_path_factory.mktemp("inputs") / "astro.png")


@pytest.fixture(scope="module")
def no_models() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for variable in MODEL_VARIABLES:
            patch.delenv(variable, raising=False)
        yield


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, no_models: None, embedder: object) -> Iterator[Agent]:
    data = tmp_path_factory.mktemp("tog")
    with Agent(ToGSettings.model_validate({"agent": {"data_dir": data}})) as built:
        yield built


def refusal(agent: Agent, request: str, photo: Path) -> UnsupportedRequestError:
    with pytest.raises(UnsupportedRequestError) as info:
        agent.run(request, files=[photo])
    return info.value


@pytest.mark.parametrize(
    ("request_text", "tool"),
    [("describe this image", "describe_image"), ("caption this photo", "caption_image")],
)
def test_a_request_for_a_vlm_tool_is_refused_naming_it_and_how_to_enable_it(
    agent: Agent, photo: Path, request_text: str, tool: str
) -> None:
    before = len(list(agent.store))
    error = refusal(agent, request_text, photo)
    assert len(list(agent.store)) <= before + 1  # the given photo at most: nothing ran, nothing was made
    assert error.code == "unsupported"
    assert error.tools[0] == tool and tool in error.message
    assert "TOG_VLM_MODEL" in error.unavailable[tool] and "TOG_VLM_MODEL" in error.message
    body = error.to_dict()
    assert body["details"]["unavailable"][tool] == error.unavailable[tool]


def test_weights_that_cannot_load_are_named_not_replaced_by_ocr(tmp_path: Path, photo: Path, no_models: None) -> None:
    missing = tmp_path / "no-such-checkpoint"
    settings = ToGSettings.model_validate({"agent": {"data_dir": tmp_path / "tog"}, "vlm": {"model": str(missing)}})
    with Agent(settings) as agent:
        error = refusal(agent, "describe this image", photo)
    assert error.tools[0] == "describe_image" and str(missing) in error.unavailable["describe_image"]


def test_a_product_no_tool_makes_is_refused_naming_the_nearest_tools(agent: Agent, photo: Path) -> None:
    error = refusal(agent, "turn this image into a video of a dancing cat", photo)
    assert error.details["product"] == "video" and "video" in (error.missing or "")
    assert "no tool here makes one" in error.message
    assert len(error.tools) == 3 and all(t in agent.registry for t in error.tools)


def test_a_kind_of_the_type_system_no_tool_makes_is_refused(agent: Agent, photo: Path) -> None:
    """Meshes and point clouds are types of their own ("a 3-D mesh", "a 3-D point cloud"): no tool here makes
    one, so "a 3D model" is refused, not answered with the photo's properties."""
    error = refusal(agent, "make a 3D model of the cat in this photo", photo)
    assert error.details["product"] == "mesh or pointcloud" and "3D model" in error.message
    assert "no tool here makes one" in error.message


def test_a_clause_nothing_here_is_meant_for_is_refused_not_answered_by_similarity(agent: Agent, photo: Path) -> None:
    """No cue and no word of image_info in "email this photo to my mother": not answered with the photo's size."""
    error = refusal(agent, "email this photo to my mother", photo)
    assert error.missing == "email this photo to my mother" and len(error.tools) == 3
    assert "no tool here is meant for" in error.message and "image_info" in error.message


def test_a_paraphrase_whose_words_point_to_the_tool_is_answered(agent: Agent, photo: Path) -> None:
    """ "twice as big" has no cue and shares no word with resize_image's text, but "big" alone is nearest it."""
    result = agent.run("make this picture twice as big", files=[photo])
    assert result.status == "succeeded" and result.subtasks[0].tools == ["resize_image"]


def test_tools_no_cue_is_meant_for_are_not_held_to_the_cues(agent: Agent) -> None:
    """Check 4 holds only tools the decomposer's cues are meant for: a catalogue's own tools are not refused
    for lacking them."""
    from graph.plan import Action, Solution, Subtask

    check = AnswerabilityCheck(agent.registry.specs(), {})
    assert {"image_info", "adjust_contrast", "resize_image"} <= check.claimed()
    email = Subtask.model_validate(
        {
            "id": 0,
            "description": "email this photo to my mother",
            "args": [{"type": "image"}],
            "returns": [{"type": "json"}],
        }
    )
    info = Solution(subtask_id=0, actions=[Action(id="a0", tool="image_info")], outputs=["a0"])
    with pytest.raises(UnsupportedRequestError):
        check.check_understood(email, [info])
    count = Solution(subtask_id=0, actions=[Action(id="a0", tool="count_tags")], outputs=["a0"])
    assert "count_tags" not in check.claimed()
    check.check_understood(email, [count])  # not a tool the cues are written for: no error


def test_object_detection_needs_internvl_not_the_face_detector(agent: Agent, photo: Path) -> None:
    error = refusal(agent, "crop the cat and make it black and white", photo)
    assert "detect_objects" in error.unavailable or "ground_phrase" in error.unavailable
    assert "detect_faces" not in error.unavailable
    assert all("TOG_VLM_MODEL" in reason for reason in error.unavailable.values())


def test_a_question_about_the_picture_needs_the_vlm(agent: Agent, photo: Path) -> None:
    error = refusal(agent, "what color is the suit?", photo)
    assert "answer_image_question" in error.unavailable and "TOG_VLM_MODEL" in error.message


def test_the_receipt_total_is_answered_or_honestly_refused_never_with_options_ask_lacks(
    agent: Agent, photo: Path
) -> None:
    try:
        result = agent.run("find the total amount on this receipt", files=[photo])
    except UnsupportedRequestError as exc:
        assert exc.unavailable and "strategy" not in exc.message
        return
    assert result.status != "succeeded" or result.answer.strip()
    assert "strategy" not in result.answer


def test_ordinary_requests_are_not_refused(agent: Agent, photo: Path) -> None:
    blurred = agent.run("blur the faces", files=[photo])
    assert blurred.status == "succeeded" and [s.tools for s in blurred.subtasks] == [["detect_faces"], ["blur_regions"]]
    read = agent.plan("read the text in this photo", files=[photo])
    assert read.solutions[0][0].tools == ["read_text"]


@pytest.mark.parametrize(
    ("request_text", "with_photo"),
    [
        ("把这张照片做成一段视频", True),
        ("generate a picture of a dog on the moon", False),
        ("compose a short piece of relaxing piano music", False),
        ("what's the weather tomorrow", False),
    ],
)
def test_what_no_tool_here_does_is_refused_with_or_without_inputs(
    agent: Agent, photo: Path, request_text: str, with_photo: bool
) -> None:
    with pytest.raises(UnsupportedRequestError) as info:
        agent.plan(request_text, files=[photo] if with_photo else [])
    assert info.value.tools and info.value.missing


def test_a_request_lacking_the_input_a_tool_needs_is_the_users_mistake(agent: Agent) -> None:
    with pytest.raises(DecompositionError) as info:
        agent.plan("count the faces")  # no photo given
    assert not isinstance(info.value, UnsupportedRequestError)


def test_the_plan_stage_refuses_too(agent: Agent, photo: Path) -> None:
    with pytest.raises(UnsupportedRequestError):
        agent.plan("describe this image", files=[photo])


@pytest.mark.parametrize(
    ("request_text", "kind"),
    [
        ("turn this image into a video of a dancing cat", ResourceType.VIDEO),
        ("convert the article to audio", ResourceType.AUDIO),
        ("make a video of my holiday photos", ResourceType.VIDEO),
        ("把这张图片变成一段视频", ResourceType.VIDEO),
        ("save the result as an image", ResourceType.IMAGE),
        ("make a 3D model of the cat in this photo", ResourceType.MESH),  # "3-D" qualifies mesh and point cloud
        ("turn the recording into a MIDI file", ResourceType.MIDI),
        ("make a point cloud of the room", ResourceType.POINTCLOUD),
    ],
)
def test_named_products_are_read_in_both_languages(request_text: str, kind: ResourceType) -> None:
    assert [p.type for p in named_products(request_text)] == [kind]


@pytest.mark.parametrize(
    "request_text",
    [
        "blur the faces",
        "describe the video",
        "listen to the recording and write it down",
        "旋转这张图片",
        "rotate it",
        "make a point about the photo",  # a point may be a value (points), not a file
        "make a list of the objects",
    ],
)
def test_words_that_only_mention_a_kind_are_no_product(request_text: str) -> None:
    assert named_products(request_text) == []


def test_a_product_the_tools_here_make_from_what_was_given_is_not_refused(agent: Agent) -> None:
    """ "Read the note out as audio" names audio, which text_to_speech makes from text and can run."""
    check = AnswerabilityCheck(agent.registry.specs(), agent.registry.unavailable())
    check.check_products("read the note out as audio", [ResourceType.TEXT])  # no error
    check.check_products("save the result as an image", [ResourceType.IMAGE])
    with pytest.raises(UnsupportedRequestError, match="from what was given"):
        check.check_products("generate a picture of a dog on the moon", [])  # images are made from images


class NoChain(Decomposer):
    """Fails as the offline decomposer does for a clause no tool chain serves, or one lacking an input."""

    def __init__(self, **details: Any) -> None:
        self.details = details

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        raise DecompositionError(f"no tool chain makes audio for {request!r}", **self.details)


def test_a_clause_no_tool_chain_serves_is_refused_naming_the_nearest_tools(tmp_path: Path, photo: Path) -> None:
    settings = ToGSettings.model_validate({"agent": {"data_dir": tmp_path / "tog"}})
    with Agent(settings, decomposer=NoChain(clause="sing me a song")) as agent:
        with pytest.raises(UnsupportedRequestError) as info:
            agent.run("sing me a song", files=[photo])
    assert info.value.missing == "sing me a song" and len(info.value.tools) == 3
    assert "nearest tools" in info.value.message


def test_a_missing_input_stays_the_users_mistake(tmp_path: Path, photo: Path) -> None:
    settings = ToGSettings.model_validate({"agent": {"data_dir": tmp_path / "tog"}})
    with Agent(settings, decomposer=NoChain(clause="read this text aloud", missing=["text"])) as agent:
        with pytest.raises(DecompositionError) as info:
            agent.run("read this text aloud", files=[photo])
        assert not isinstance(info.value, UnsupportedRequestError)
        with pytest.raises(DecompositionError) as nothing_given:
            agent.run("read this text aloud")  # no input at all: not a refusal either
        assert not isinstance(nothing_given.value, UnsupportedRequestError)


# --- no silent fallback to an unrelated tool --------------------------------------------------------


def test_a_resize_with_no_size_fails_with_its_error_not_as_another_edit(agent: Agent, photo: Path) -> None:
    """resize_image needs a size; the next ranked chains (contrast, rotation) serve the types, not the ask."""
    result = agent.run("resize this image", files=[photo])
    assert result.status == "failed"
    [subtask] = result.subtasks
    assert subtask.tools == ["resize_image"] and subtask.error is not None
    assert "width, height or scale" in subtask.error["message"]


class OneStep(Decomposer):
    """One subtask on a text, worded as given."""

    def __init__(self, description: str) -> None:
        self.description = description

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        return Plan.parse(
            {
                "request": request,
                "subtasks": [
                    {
                        "id": 0,
                        "description": self.description,
                        "args": [{"type": "text", "value": "x"}],
                        "returns": [{"type": "text"}],
                    }
                ],
            }
        )


@pytest.mark.parametrize("top_k", [3, 1])  # 3: a ranked fallback; 1: what a re-plan would find
def test_a_failing_tool_is_not_replaced_by_one_not_meant_for_the_subtask(
    tmp_path: Path, embedder: object, top_k: int
) -> None:
    from agent.engine.testing import always_fail, append, join_texts, wait
    from tools.registry import ToolRegistry

    settings = ToGSettings.model_validate({"agent": {"data_dir": tmp_path / "tog", "top_k": top_k}})
    registry = ToolRegistry([always_fail, append, join_texts, wait])
    with Agent(settings, registry=registry, decomposer=OneStep("fail on purpose, every time")) as agent:
        result = agent.run("fail on purpose, every time")
    [subtask] = result.subtasks
    assert result.status == "failed" and subtask.status == "failed"
    assert subtask.tools == ["always_fail"] and "always_fail refuses" in subtask.error["message"]


def test_stand_ins_keep_the_same_tools_and_chains_fitting_as_well(agent: Agent) -> None:
    from graph.plan import Action, Solution, Subtask

    def chain(*tools: str) -> Solution:
        actions = [Action(id=f"a{i}", tool=t) for i, t in enumerate(tools)]
        return Solution(subtask_id=0, actions=actions, outputs=[f"a{len(tools) - 1}"])

    check = AnswerabilityCheck(agent.registry.specs(), {})
    image = [{"type": "image"}]
    rotate = Subtask.model_validate(
        {"id": 0, "description": "rotate it 90 degrees clockwise", "args": image, "returns": image}
    )
    ranked = [chain("rotate_image"), chain("adjust_contrast"), chain("rotate_image", "fix_orientation")]
    assert [s.tools for s in check.stand_ins(rotate, ranked)] == [["rotate_image"]]
    again = [chain("fix_orientation", "rotate_image"), chain("crop_image")]
    assert [s.tools for s in check.stand_ins(rotate, again, first=ranked[2])] == [["fix_orientation", "rotate_image"]]
