"""What a subtask's words say about a tool argument: numbers, factors, turning directions, languages.

Each reader returns None when the words do not say. Directions and factors are read both ways:
"clockwise" and "counter-clockwise" (左/右, 顺时针/逆时针) turn opposite ways, "50% darker" and "50%
brighter" scale opposite ways, "translate into French" and "translate from French" want different
languages.

    >>> turn_sense("rotate it 90 degrees clockwise"), turn_sense("逆时针旋转90度"), turn_sense("rotate it")
    (-1, 1, None)
    >>> factor("make it 20% darker"), factor("resize to 50%"), factor("enlarge by 50%"), factor("brighten by 1.5")
    (0.8, 0.5, 1.5, 1.5)
    >>> language("把英文翻译成中文"), language("translate it from French"), language("translate it into French")
    ('Chinese', None, 'French')
"""

from __future__ import annotations

import re
from typing import Any

from agent.decompose.cues import wished_language

NUMBER = r"(-?\d+(?:\.\d+)?)"

#: Chinese names of languages (English ones are read by :func:`agent.decompose.cues.wished_language`).
LANGUAGES_ZH = {
    "英文": "English",
    "英语": "English",
    "中文": "Chinese",
    "汉语": "Chinese",
    "法语": "French",
    "法文": "French",
    "德语": "German",
    "德文": "German",
    "日语": "Japanese",
    "日文": "Japanese",
    "西班牙语": "Spanish",
    "韩语": "Korean",
    "俄语": "Russian",
    "葡萄牙语": "Portuguese",
    "意大利语": "Italian",
    "阿拉伯语": "Arabic",
    "荷兰语": "Dutch",
    "泰语": "Thai",
    "越南语": "Vietnamese",
}
#: Before a Chinese language name: the language to end up in (翻译成法语), or the one to start from (把英文…).
_INTO_ZH = re.compile(r"(?:成|为|到|into)\s*$")
_FROM_ZH = re.compile(r"(?:从|把|将|由)\s*(?:这段|这篇|这句|这个|该)?\s*$")

_COUNTER = re.compile(r"\b(?:counter|anti)[- ]?clockwise\b|\bccw\b|逆时针", re.IGNORECASE)
_CLOCKWISE = re.compile(r"\bclockwise\b|\bcw\b|顺时针", re.IGNORECASE)
_SIDE = re.compile(
    r"\b(?:rotate|turn|spin|tilt|twist)\w*\b(?:\s+[\w'°-]+){0,4}?\s+(?:to(?:wards)?\s+(?:the\s+)?)?(left|right)\b|"
    r"向(左|右)|(左|右)转|(左|右)旋",
    re.IGNORECASE,
)

_LESS = re.compile(
    r"\b(?:dark\w*|dim\w*|less|lower\w*|reduc\w*|decreas\w*|shrink\w*|smaller|down\w*|cut|soft\w*|fade\w*)\b|"
    r"暗|减|降|缩小|变小|调低",
    re.IGNORECASE,
)
_MORE = re.compile(
    r"\b(?:bright\w*|light\w*|more|rais\w*|increas\w*|enlarg\w*|bigger|larger|grow\w*|up|boost\w*|sharp\w*)\b|"
    r"亮|增|提高|放大|变大|调高",
    re.IGNORECASE,
)
_WORD_FACTORS = (
    (re.compile(r"\b(?:half|halve)\b|一半", re.IGNORECASE), 0.5),
    (re.compile(r"\b(?:double|twice)\b|两倍|二倍", re.IGNORECASE), 2.0),
    (re.compile(r"\b(?:triple|three times)\b|三倍", re.IGNORECASE), 3.0),
)
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "一": 1,
    "两": 2,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_COUNT = r"(\d+|" + "|".join(_NUMBER_WORDS) + ")"
_RANKS = r"top|first|best|largest|biggest|highest|most confident|strongest|前|最大的?|最高的?"


def first(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text, flags=re.IGNORECASE)
    return float(match.group(1)) if match else None


def turn_sense(text: str) -> int | None:
    """The way the words turn: 1 counter-clockwise (left), -1 clockwise (right), None if they do not say."""
    found = [(m.start(), 1) for m in _COUNTER.finditer(text)]
    masked = _COUNTER.sub(lambda m: " " * len(m.group(0)), text)
    found += [(m.start(), -1) for m in _CLOCKWISE.finditer(masked)]
    if found:
        return min(found)[1]
    side = _SIDE.search(text)
    if side is None:
        return None
    word = next(g for g in side.groups() if g)
    return 1 if word.lower() in ("left", "左") else -1


def positive_sense(*descriptions: str) -> int | None:
    """The way a tool turns for a positive angle, as its own words say ("degrees counter-clockwise")."""
    for text in descriptions:
        sense = turn_sense(text)
        if sense is not None:
            return sense
    return None


_HALF_TURN = re.compile(r"\bupside[- ]down\b|\bhalf[- ](?:a[- ])?turn\b|倒过来|颠倒|掉头", re.IGNORECASE)
_QUARTER_TURN = re.compile(r"\b(three[- ])?quarters?[- ](?:of[- ]a[- ])?turns?\b", re.IGNORECASE)


def angle(text: str, positive: int | None, default: Any = None) -> float | None:
    """Degrees for a tool that turns ``positive`` way for a positive angle: "90 degrees clockwise" is -90
    for a counter-clockwise tool. A direction without a number turns by the default's size."""
    number = first(rf"{NUMBER}\s*(?:°|degrees?|deg\b|度)", text)
    if number is None and _HALF_TURN.search(text):
        return 180.0  # "rotate it upside down": either way round
    if number is None and (turns := _QUARTER_TURN.search(text)):
        number = 90.0 * (3 if turns.group(1) else 1)
    sense = turn_sense(text)
    if sense is None or positive is None:
        return number
    if number is None:
        if not isinstance(default, (int, float)) or isinstance(default, bool) or not default:
            return None
        number = float(default)
    return abs(number) * sense * positive


#: After a number: it is a size, an angle or a share, not a bare factor.
_UNIT = r"\s*(?:%|°|deg|px|pix|像素|[x×*]\s*\d|by\s+\d|乘\s*\d)"
_SIZE = re.compile(r"(\d+)\s*(?:[x×*]|by|乘)\s*(\d+)", re.IGNORECASE)
_SIDES = {
    "width": (r"width|wide|宽度?|宽", r"wide|across"),
    "height": (r"height|high|tall|高度?|高", r"high|tall"),
}


def factor(text: str, bare: bool = True) -> float | None:
    """A multiplier: "2x", "50%", "half", "by 1.5" ("to 1.5" too with ``bare``: a size says "to 640" in
    pixels); "by 20%" is 1.2 or 0.8 as the words grow or shrink."""
    times = first(rf"{NUMBER}\s*(?:x\b|×|times\b|倍)", text)
    if times is not None:
        return times
    less, more = bool(_LESS.search(text)), bool(_MORE.search(text))
    percent = re.search(r"(?:\b(to|by)\s+|(到|至|为)\s*)?(\d+(?:\.\d+)?)\s*(?:%|percent\b|per cent\b)", text, re.I)
    if percent is not None:
        share = float(percent.group(3)) / 100
        if percent.group(1) and percent.group(1).lower() == "to" or percent.group(2):
            return share  # "resize to 50%": the new size
        if less != more:  # "darken by 20%", "20% brighter": a change
            return 1 - share if less else 1 + share
        return share
    for pattern, value in _WORD_FACTORS:
        if pattern.search(text):
            return value
    lead = r"by|of|factor|to" if bare else r"by|factor of"
    number = first(rf"\b(?:{lead})\s+(?:a\s+factor\s+of\s+)?{NUMBER}(?![\d.]|{_UNIT})", text)
    if number is None or number <= 0:
        return None
    if less and not more and number > 1:
        return 1 / number  # "darken by 2": half as bright
    return number


def side(text: str, which: str) -> int | None:
    """One side of a size in pixels: "200x100" / "200 by 100" (width, then height), "150 pixels wide",
    "a width of 150", 宽度缩小到150像素."""
    size = _SIZE.search(text)
    if size is not None:
        return int(size.group(1) if which == "width" else size.group(2))
    named, after = _SIDES[which]
    match = re.search(rf"\b(\d+)\s*(?:px|pixels?)\s+(?:{after})\b", text, re.IGNORECASE) or re.search(
        rf"(?:{named})\D{{0,16}}?(\d+)\s*(?:px|pixels?|像素)?", text, re.IGNORECASE
    )
    return int(match.group(1)) if match else None


def top_k(text: str) -> int | None:
    """How many of the best to keep: "top 3", "the two largest", 前3个."""
    match = re.search(rf"(?:{_RANKS})\s*{_COUNT}(?![a-z\d])", text, re.IGNORECASE) or re.search(
        rf"\b{_COUNT}\s+(?:{_RANKS})\b", text, re.IGNORECASE
    )
    if match is None:
        return None
    word = match.group(1).lower()
    return int(word) if word.isdigit() else _NUMBER_WORDS.get(word)


#: What a choice means, for choices the words name by sense: "the two largest" ranks by area.
_SENSES: dict[str, str] = {
    "area": r"\b(?:larg|bigg|small|big|size|wide|tiny|huge)\w*|最大|最小|大小|面积",
    "size": r"\b(?:larg|bigg|small|big|size|wide|tiny|huge)\w*|最大|最小|大小|面积",
    "score": r"\b(?:confiden|likel|certain|sure|reliab|score)\w*|置信|可信",
    "ascending": r"\b(?:smallest|lowest|least|fewest|shortest|ascending|increasing)\b|从小到大|升序",
    "descending": r"\b(?:largest|biggest|highest|most|longest|descending|decreasing)\b|从大到小|降序",
    "vertical": r"\bupside[- ]down\b|\btop (?:to|and) bottom\b|\bstack\w*|\bon top of\b|上下|垂直|竖|倒过来",
    "horizontal": r"\bleft[- ](?:to|and)[- ]right\b|\bside[- ]by[- ]side\b|\bmirror\w*|左右|水平|横|并排|镜像",
}


def choice_by_sense(choices: list[str], text: str) -> str | None:
    """The choice whose sense the words state first ("sort from smallest to largest": ascending)."""
    found = [
        (match.start(), choice)
        for choice in choices
        if choice in _SENSES
        for match in [re.search(_SENSES[choice], text, re.IGNORECASE)]
        if match is not None
    ]
    return min(found)[1] if found else None


#: Languages beyond those the decomposer's cues name (:data:`agent.decompose.cues.LANGUAGES_EN`).
LANGUAGES_EN_MORE = (
    "vietnamese|thai|indonesian|malay|hindi|bengali|urdu|persian|farsi|turkish|greek|polish|czech|slovak|"
    "hungarian|romanian|bulgarian|ukrainian|serbian|croatian|slovenian|swedish|norwegian|danish|finnish|"
    "icelandic|estonian|latvian|lithuanian|hebrew|swahili|tagalog|filipino|catalan|basque|galician|irish|"
    "welsh|latin|esperanto|cantonese|mandarin|tamil|telugu|marathi|gujarati|punjabi|nepali|sinhala|khmer|"
    "lao|burmese|mongolian|kazakh|uzbek|georgian|armenian|albanian|macedonian|afrikaans|amharic|yoruba|zulu"
)
_WISH_MORE = re.compile(rf"\b(?:into|to|in)\s+({LANGUAGES_EN_MORE})\b", re.IGNORECASE)


def language(text: str) -> str | None:
    """The language the words want a text in: "into French", 翻译成英文; never the one it is translated from."""
    wished = wished_language(text)
    more = [m for m in _WISH_MORE.finditer(text) if not m.group(0).lower().startswith("in ")] or list(
        _WISH_MORE.finditer(text)
    )
    if wished is not None or more:
        named = re.search(rf"\b(?:into|to|in)\s+{wished}\b", text, re.IGNORECASE) if wished else None
        if more and (named is None or more[-1].start() > named.start()):
            return more[-1].group(1).capitalize()
        return wished
    found = [(m.start(), name) for word, name in LANGUAGES_ZH.items() for m in re.finditer(word, text)]
    into = [name for start, name in sorted(found) if _INTO_ZH.search(text[:start])]
    if into:
        return into[-1]
    others = [name for start, name in sorted(found) if not _FROM_ZH.search(text[:start])]
    return others[-1] if others else None


#: Words of an argument's description that say nothing about what the number measures.
_PLAIN_WORDS = frozenset(
    {"the", "a", "an", "of", "to", "in", "on", "at", "by", "for", "and", "or", "is", "are", "be", "it", "its"}
    | {"this", "that", "with", "from", "keep", "kept", "give", "given", "value", "number", "lowest", "highest"}
    | {"smallest", "largest", "least", "most", "minimum", "maximum", "min", "max"}
)


def named_number(name: str, description: str, text: str) -> float | None:
    """A number the words tie to an argument by the argument's own vocabulary: its name's parts and the
    content words of its description, at most three words before the number ("a confidence below 0.5"
    for ``min_score``, "the lowest confidence to keep"). None when no such word comes before a number.

    >>> named_number("min_score", "the lowest confidence to keep, 0 to 1", "drop boxes with a confidence below 0.5")
    0.5
    >>> named_number("min_area", "the smallest area to keep, in square pixels", "drop the ones below 0.5")
    """
    found = re.findall(r"[a-z]+", f"{name.replace('_', ' ')} {description}".lower())
    words = {w for w in found if len(w) > 2 and w not in _PLAIN_WORDS}
    if not words:
        return None
    vocabulary = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
    match = re.search(rf"\b(?:{vocabulary})\w*\b(?:\W+[a-z]+){{0,3}}?\W+{NUMBER}(\s*%)?", text, re.IGNORECASE)
    if match is None:
        return None
    value = float(match.group(1))
    return value / 100 if match.group(2) else value
