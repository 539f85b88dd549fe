"""Clause splitting and clause reading (no model needed)."""

from __future__ import annotations

import doctest

import pytest

from agent.decompose import cues
from agent.decompose.base import Resource
from agent.decompose.clauses import split_clauses
from agent.decompose.cues import wished_language
from agent.decompose.reading import merge_context, read_clause
from graph.types import ResourceType as T


def texts(request: str) -> list[str]:
    return [c.text for c in split_clauses(request)]


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("Find the cats and dogs in photo.jpg, then blur them.", ["Find the cats and dogs in photo.jpg", "blur them"]),
        (
            "Detect the faces and blur them, then tell me how many there are",
            ["Detect the faces", "blur them", "tell me how many there are"],
        ),
        ("Make it black and white and then read the text aloud", ["Make it black and white", "read the text aloud"]),
        (
            "What is the man holding and what colour is his shirt?",
            ["What is the man holding", "what colour is his shirt"],
        ),
        (
            "Caption the photo. After that, read the sign; finally translate it",
            ["Caption the photo", "read the sign", "translate it"],
        ),
        ("Rotate photo.jpg by 1.5 degrees next to nothing", ["Rotate photo.jpg by 1.5 degrees next to nothing"]),
        (
            "Describe the image, e.g. the colours and the people",
            ["Describe the image, e.g. the colours and the people"],
        ),
    ],
)
def test_english_connectives_split_steps_but_not_noun_phrases(request_text: str, expected: list[str]) -> None:
    assert texts(request_text) == expected


def test_subordinate_steps_run_in_order() -> None:
    assert texts("Before captioning the image, rotate it by 90 degrees") == [
        "rotate it by 90 degrees",
        "captioning the image",
    ]
    assert texts("Blur the faces after detecting them") == ["detecting them", "Blur the faces"]


def test_two_verbs_share_one_object() -> None:
    assert texts("Crop and rotate the photo") == ["Crop the photo", "rotate the photo"]


def test_quoted_text_is_one_unsplittable_literal() -> None:
    clauses = split_clauses('Say "stop. then go, and wait" out loud and then caption photo.jpg')
    assert [c.text for c in clauses] == ['Say "stop. then go, and wait" out loud', "caption photo.jpg"]
    assert clauses[0].quotes == ("stop. then go, and wait",)
    assert "⟦q⟧" in clauses[0].masked and "stop" not in clauses[0].masked


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("检测图片中的人脸，然后把它们模糊", ["检测图片中的人脸", "把它们模糊"]),
        ("检测人脸并模糊它们，最后告诉我有几个人", ["检测人脸", "模糊它们", "告诉我有几个人"]),
        ("先旋转图片90度再描述它。", ["旋转图片90度", "描述它"]),
        ("把这两张图片并排合并", ["把这两张图片并排合并"]),  # 并 inside 并排/合并 is no connective
        ("找出图片中的猫、狗和鸟", ["找出图片中的猫、狗和鸟"]),  # 、 lists nouns
        ("识别图片中的文字、然后翻译成英文", ["识别图片中的文字", "翻译成英文"]),
    ],
)
def test_chinese_connectives(request_text: str, expected: list[str]) -> None:
    assert texts(request_text) == expected
    assert all(c.lang == "zh" for c in split_clauses(request_text))


def test_connectives_say_whether_a_step_follows_or_sits_beside() -> None:
    clauses = split_clauses("Transcribe talk.mp3, then give me a summary of it and a French translation of it.")
    assert [(c.text, c.connective) for c in clauses] == [
        ("Transcribe talk.mp3", None),
        ("give me a summary of it", "seq"),
        ("a French translation of it", "and"),
    ]
    assert [c.connective for c in split_clauses("Read it, translate it and also say it")] == [None, "and", "also"]
    assert [c.connective for c in split_clauses("把录音转成文字，然后分别做一个摘要和一个英文翻译")] == [
        None,
        "seq",
        "also",
    ]
    assert [c.connective for c in split_clauses("识别图中的文字，翻译成中文，并朗读出来")] == [None, None, "seq"]


def test_a_dash_ends_a_clause_and_a_bare_question_word_does_not_start_one() -> None:
    assert texts("This photo is way too dark — can you lighten it?") == [
        "This photo is way too dark",
        "can you lighten it",
    ]
    assert texts("Which camera took IMG_2041.jpg, and when?") == ["Which camera took IMG_2041.jpg, and when"]


def test_question_marks_are_remembered() -> None:
    clauses = split_clauses("Blur the faces. Is anyone smiling?")
    assert [c.question for c in clauses] == [False, True]


def read(text: str, resources: list[Resource] | None = None):
    return read_clause(split_clauses(text)[0], resources or [])


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("how many dogs are there", "count"),
        ("where is the dog", "where"),
        ("where is the red car", "ground"),  # a referring phrase: visual grounding
        ("detect the faces", "detect"),
        ("describe the photo", "describe"),
        ("read the text on the sign", "read"),
        ("read the sign aloud", "speak"),
        ("blur them", "blur"),
        ("write a caption for the blurred picture", "describe"),  # a participle names a result
        ("transcribe the recording", "transcribe"),
        ("transcribe it with timestamps", "timed"),
        ("translate the caption into French", "translate"),
        ("what is the man holding?", "question"),
        ("图片里有几只狗", "count"),
        ("把它们模糊", "blur"),
        ("Keep only the three most confident ones", "top"),
        ("Put the mirrored copy next to the original", "combine"),
        ("Is this photo upside down?", "question"),  # a question edits nothing
        ("朗读这段文字", "speak"),
        ("这张图的分辨率是多少", "info"),
        ("照片里有什么？", "describe"),
    ],
)
def test_strongest_cue_wins(text: str, intent: str) -> None:
    assert read(text).intent.name == intent


def test_references_to_earlier_results_and_to_given_files() -> None:
    assert T.IMAGE in read("caption the cropped image").referenced
    assert T.BBOXES in read("count those faces").referenced
    assert T.IMAGE in read("rotate this photo").deictic
    assert read("blur them").pronoun and read("把它们模糊").pronoun
    assert T.AUDIO in read("transcribe the recording").mentioned
    assert T.AUDIO not in read("convert it to audio").mentioned  # the kind to make, not one to take
    assert read("compare it with the original photo").original
    assert read("and count").elliptic and not read("count the dogs").elliptic


def test_literals_a_tool_needs() -> None:
    assert read("what is the man holding").literal == "what is the man holding?"
    man = read("find the man in the red shirt")
    assert man.literal == "man in the red shirt" and man.referring
    cars = read("detect the cars and pedestrians in street.png")
    assert cars.literal == "cars and pedestrians" and not cars.referring
    assert read('say "good morning"').literal == "good morning"
    assert read("read this aloud: welcome home").literal == "welcome home"
    assert read("朗读这段文字：欢迎光临").literal == "欢迎光临"


def test_named_files_are_found_by_name() -> None:
    resources = [Resource(name="a.jpg", type="image"), Resource(name="b.jpg", type="image")]
    assert read("crop b.jpg", resources).named == [1]


def test_statements_are_context() -> None:
    clauses = split_clauses("landscape.jpg looks washed out, give it more contrast")
    readings = merge_context([read_clause(c, []) for c in clauses])
    assert [r.intent.name for r in readings] == ["contrast"]
    alone = merge_context([read_clause(c, []) for c in split_clauses("The photo is too dark")])
    assert [r.intent.name for r in alone] == ["brightness"]  # a statement alone is still the request


def test_products_name_the_step_that_made_them() -> None:
    assert read("read the original caption aloud").products == {"describe"}
    assert read("translate the summary into German").products == {"summarise"}
    assert read("把摘要翻译成英文").products == {"summarise"}


def test_objects_of_a_clause() -> None:
    assert read("Crop the face out of passport.jpg").object == "face"
    assert read("Draw a box around every text line in page.png").object == "text line"
    assert read("How many apples are on the table in fruit.jpg?").object == "apples"
    assert read("tell me how many there were").object is None
    assert read("把图中那辆红色的车裁剪出来").object == "那辆红色的车"
    assert read("这张照片里有几只猫？").object == "猫"


def test_context_clauses_join_their_neighbour() -> None:
    readings = merge_context([read_clause(c, []) for c in split_clauses("In photo.jpg, find the faces")])
    assert [r.clause.text for r in readings] == ["In photo.jpg, find the faces"]
    assert readings[0].intent.name == "detect"


# --- generalisation: mechanisms checked on phrasings of their own ----------------------------------


def test_a_semicolon_inside_a_word_ends_no_sentence() -> None:
    assert texts("tl;dr for notes.txt") == ["tl;dr for notes.txt"]
    assert texts("crop it; then blur it") == ["crop it", "blur it"]


def test_an_adverb_before_a_contracted_question_still_splits() -> None:
    assert texts("Caption it, and independently: who's the man on the left?") == [
        "Caption it",
        "independently: who's the man on the left",
    ]


def test_a_polite_question_is_a_request_not_a_question() -> None:
    assert [i.name for i in read("could you mirror it please").intents] == ["flip"]
    assert "question" not in [i.name for i in read("can you straighten it so it is upright").intents]


def test_an_imperative_with_a_question_mark_is_still_a_request() -> None:
    assert read("Sharpen up the brightness a bit?").intent.name == "brightness"


def test_statements_of_having_or_being_are_context() -> None:
    clauses = split_clauses("dets.json contains detections from a model. Keep only the bird ones")
    readings = merge_context([read_clause(c, [Resource(name="dets.json", type="bboxes")]) for c in clauses])
    assert [r.intent.name for r in readings] == ["select"] and readings[0].named == [0]


def test_a_relative_clause_is_no_statement() -> None:
    clauses = split_clauses("Transcribe memo.wav, plus a summary of what was discussed")
    readings = merge_context([read_clause(c, []) for c in clauses])
    assert [r.intent.name for r in readings][-1] == "summarise" and len(readings) == 2


def test_a_cue_after_a_determiner_is_what_the_head_verb_works_on() -> None:
    assert read("transcribe the narration in film.wav").intent.name == "transcribe"
    assert read("detect the speaker in the narration video").intent.name in ("detect", "ground")


def test_a_language_wish_follows_the_cue_that_makes_the_text() -> None:
    # the decomposer reads the text, then translates it (tests/agent/decompose/test_offline.py)
    assert [i.name for i in read("What is written on it in German").intents][:2] == ["read", "translate"]
    assert read("Translate what is written on it into German").intent.name == "translate"
    assert read("Answer in French").intent.name == "translate"  # nothing else makes the text here


def test_what_is_left_points_back() -> None:
    assert read("draw what's left").pronoun and read("blur the remaining ones").pronoun


def test_broader_cue_families() -> None:
    assert read("ignore every box below 0.5 confidence").intent.name == "filter"
    assert read("get rid of the weak detections").intent.name == "filter"
    assert read("only the ones labelled cat").intent.name == "select"
    assert read("把牌子上的字念给大家听").intent.name == "speak"
    assert read("describe the entire photo").original


def test_more_ways_to_ask_for_boxes_or_a_description() -> None:
    assert read("put a rectangle round each face in team.png").intent.name == "draw"
    assert read("what is going on in this video").intent.name == "describe"
    assert read("were they taken in the same room").intents[0].name in ("compare", "question")
    assert "compare" in [i.name for i in read("were they taken in the same room").intents]


def test_speech_and_translation_in_other_words() -> None:
    assert read("I want the words on the sign read for me").intent.name == "speak"
    assert read("give me a Spanish version of the letter").intent.name == "translate"


def test_the_wished_language_is_the_one_asked_for_not_the_one_mentioned() -> None:
    assert wished_language("The card is in Italian. Write out what it says in English") == "English"
    assert wished_language("Translate the Italian text in menu.jpg into English") == "English"
    assert wished_language("Caption photo.jpg") is None
    assert doctest.testmod(cues).failed == 0
