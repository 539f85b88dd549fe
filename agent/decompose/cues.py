"""Lexical cues of the offline decomposer: what a clause asks for, in English and Chinese.

Each :class:`Intent` says what kind of result a clause wants (its target types), the English words that
describe it to the embedding model (MiniLM knows no Chinese, so a Chinese clause is planned with these
glosses), and whether the clause carries a text literal a tool needs (a question for visual question
answering, a phrase for grounding). Cues only *propose*: the decomposer checks every proposal against
the tool graph, and the embedding model decides among the tools that fit.

The tables are plain data so they can be read and extended without touching the algorithm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from graph.types import ResourceType as T


class Literal(StrEnum):
    """Which text literal a clause of an intent gives its tool."""

    NONE = "none"
    QUESTION = "question"  # the clause itself: "what is the man holding?"
    PHRASE = "phrase"  # a referring expression: "the man in the red shirt"
    CONTENT = "content"  # quoted or dictated text: say "good morning"
    CATEGORY = "category"  # the kind of thing to keep: "keep only the dog boxes"
    OBJECT = "object"  # what to count: "how many apples" (a tool may use it; it is no evidence for one)


@dataclass(frozen=True)
class Intent:
    """A kind of request. ``targets`` are acceptable result types, the preferred first."""

    name: str
    targets: tuple[T, ...]
    gloss: str
    en: tuple[str, ...] = ()
    zh: tuple[str, ...] = ()
    literal: Literal = Literal.NONE
    priority: int = 0
    """Higher wins when several intents match one clause ("read the sign aloud": speech over reading)."""
    _en: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_en", tuple(re.compile(p, re.IGNORECASE) for p in self.en))

    def find(self, text: str, chinese: bool) -> int | None:
        """Position of the first cue of this intent in ``text`` (None: no cue). A participle after a
        definite determiner ("the blurred picture") names an earlier result, not a step to take."""
        hits = [m.start() for p in self._en for m in p.finditer(text) if not _naming_result(text, m)]
        hits = [min(hits)] if hits else []
        if chinese:
            hits += [m.start() for p in self.zh if (m := re.search(p, text))]
        return min(hits) if hits else None


_DEFINITE = re.compile(r"\b(?:the|this|that|these|those|its|their|his|her|my|your|our)\s+(?:\w+\s+)?$", re.IGNORECASE)


def _naming_result(text: str, match: re.Match[str]) -> bool:
    word = re.match(r"[\w-]*", text[match.start():])
    return bool(word and word.group(0).lower().endswith("ed") and _DEFINITE.search(text[:match.start()]))


#: Languages named in English requests, as a regex alternation.
LANGUAGES_EN = "english|french|german|spanish|italian|chinese|japanese|korean|russian|portuguese|arabic|dutch"
#: "in Spanish", "into French": the language a text should end up in (a translation cue, but not a verb).
LANGUAGE_WISH_EN = rf"\b(?:into|to|in) (?:{LANGUAGES_EN})\b"


def wished_language(text: str) -> str | None:
    """The language a request wants its text in: the last "into/to <language>", else the last "in
    <language>" ("the card is in Italian; write it out in English": English).

    >>> wished_language("Translate the Italian menu in menu.jpg into English"), wished_language("in French")
    ('English', 'French')
    """
    wishes = [m.group(0).lower().split() for m in re.finditer(LANGUAGE_WISH_EN, text, re.IGNORECASE)]
    chosen = [w for w in wishes if w[0] != "in"] or wishes
    return chosen[-1][1].capitalize() if chosen else None


#: The translation cues that are verbs or name a translation ("translate", "a French version").
_TRANSLATION_NAMES_EN = (r"\btranslat", rf"\b(?:{LANGUAGES_EN}) (?:version|translation|equivalent)\b")
TRANSLATION_NAMED_EN = re.compile("|".join(_TRANSLATION_NAMES_EN), re.IGNORECASE)

#: Ordered by nothing in particular: ``priority`` settles conflicts inside one clause.
INTENTS: tuple[Intent, ...] = (
    Intent(
        "speak", (T.AUDIO,), "read text aloud, convert text to speech audio",
        en=(r"\baloud\b", r"\bout loud\b", r"\bread (?:it|them|this|that) out\b", r"\bread out\b",
            r"\bspeak\b", r"\bspoken\b", r"\bpronounce", r"\bnarrat", r"\bvoice[- ]?over\b", r"\btext[- ]to[- ]speech\b",
            r"^\W*(?:please\s+)?(?:also\s+)?say\b", r"\b(?:audio|clip|voice|recording) saying\b",
            r"\b(?:an? |into |to |as )(?:audio|speech|voice|sound)\b", r"\bspeech from\b",
            r"\b(?:generate|create|make|produce|record)\s+(?:an?\s+)?(?:speech|audio|voice)",
            r"\b(?:audio|speech|spoken) version\b", r"\btts\b", r"\bsynthesi[sz]e\b",
            r"\b(?:read|say|recite)\b(?:\s+[\w.'-]+){0,5}?\s+(?:to|for) (?:me|us|him|her|them)\b"),
        zh=(r"朗读", r"(?:读|念|说|讲)(?:出来)?给(?:我|你|他|她|我们|大家)听", r"念出", r"念给", r"念一下", r"读给", r"读出声", r"大声读", r"说出来", r"播报", r"配音", r"(?:用|以|变成|转成)语音",
            r"语音(?:读|念|播)", r"(?:转|变|合成|生成|转换)(?:成|为)?(?:语音|音频|声音)",
            r"语音合成"),
        literal=Literal.CONTENT, priority=90,
    ),
    Intent(
        "translate", (T.TEXT,), "translate the text into another language",
        en=(*_TRANSLATION_NAMES_EN, LANGUAGE_WISH_EN),
        zh=(r"翻译", r"译成", r"译为", r"(?:转|变)成(?:英文|中文|英语|法语|德语|日语)"),
        literal=Literal.CONTENT, priority=85,
    ),
    Intent(
        "summarise", (T.TEXT,), "summarise the text: a short summary",
        en=(r"\bsummari[sz]", r"\bsummary\b", r"\bsum (?:it |them |this )?up\b", r"\bgist\b", r"\bkey points\b",
            r"\btl;?dr\b", r"\b(?:in|to|into) (?:a few|one|two|three|\d+) (?:sentences|words|lines|bullet points)\b",
            r"\bshorten\b", r"\bcondense\b", r"\bboil\b.*\bdown\b", r"\bshort version\b", r"\bin brief\b",
            r"\bmain points\b", r"\boverview of\b"),
        zh=(r"总结", r"概括", r"摘要", r"归纳", r"概述", r"要点", r"简述"),
        literal=Literal.CONTENT, priority=80,
    ),
    Intent(
        "count", (T.NUMBER,), "count how many objects: the number of",
        en=(r"\bhow many\b", r"\bcount", r"\bnumber of\b", r"\btally\b"),
        zh=(r"几(?:个|只|位|辆|张|名|棵|本|条|处|块|人|行)", r"多少(?:个|只|位|辆|张|名|人|条|块|本|棵|行|处|种|次)", r"有多少",
            r"数一数", r"数数", r"计数", r"数量", r"统计", r"数出"),
        literal=Literal.OBJECT, priority=75,
    ),
    Intent(
        "where", (T.BBOXES,), "locate where something is in the image",
        en=(r"\bwhere (?:exactly |precisely )?(?:is|are|was|were|'s|do|does|can|in)\b", r"\bwhere\b", r"\blocations? of\b",
            r"\bposition of\b"),
        zh=(r"在哪", r"哪里", r"什么位置", r"位置"),
        literal=Literal.PHRASE, priority=72,
    ),
    Intent(
        "info", (T.JSON,), "get image size, resolution, format and metadata",
        en=(r"\bresolution\b", r"\bdimensions?\b", r"\bsize of\b", r"\bwhat size\b", r"\bhow (?:big|large|wide|tall)\b",
            r"\bwidth and height\b", r"\bexif\b", r"\bmetadata\b", r"\bfile format\b", r"\bwhat format\b",
            r"\bcamera (?:make|model)\b", r"\bwhich camera\b", r"\bwhen was (?:it|this|the \w+) taken\b",
            r"\bcolou?r mode\b", r"\bimage (?:info|properties|details)\b", r"\bproperties\b"),
        zh=(r"尺寸", r"分辨率", r"宽高", r"宽和高", r"多大", r"格式", r"元数据", r"拍摄(?:时间|日期|设备|相机)", r"相机型号",
            r"图片信息", r"属性"),
        priority=78,
    ),
    # Image edits: one intent per kind of edit, so each carries words the embedding model can match.
    Intent(
        "blur", (T.IMAGE,), "blur or pixelate regions of the image to hide them",
        en=(r"\bblur", r"\bpixelat", r"\banonymi[sz]", r"\bcensor", r"\bobscure\b", r"\bhide\b", r"\bredact"),
        zh=(r"模糊", r"打码", r"马赛克", r"遮挡", r"遮住", r"隐藏"),
        priority=65,
    ),
    Intent(
        "crop", (T.IMAGE,), "crop the image to a region",
        en=(r"\bcrop", r"\bcut (?:out|off)\b", r"\bzoom in\b", r"\bclose[- ]up\b"),
        zh=(r"裁剪", r"裁切", r"剪裁", r"截取", r"抠出"),
        priority=65,
    ),
    Intent(
        "resize", (T.IMAGE,), "resize or rescale the image to a new size",
        en=(r"\bresiz", r"\brescal", r"\bscale\b", r"\bshrink", r"\benlarge", r"\bupscale\b", r"\bdownscale\b",
            r"\bthumbnail\b", r"\b(?:smaller|bigger|larger)\b", r"\bhalf (?:the|its) size\b", r"\bdouble (?:the|its) size\b",
            r"\b\d+\s*[x×]\s*\d+\b"),
        zh=(r"缩放", r"调整(?:大小|尺寸)", r"放大", r"缩小", r"缩略图", r"改(?:成|为)?\s*\d+\s*[x×*]"),
        priority=65,
    ),
    Intent(
        "rotate", (T.IMAGE,), "rotate the image by an angle",
        en=(r"\brotat", r"\bturn (?:it|the|this)\b.*\b(?:degrees|clockwise|left|right)\b", r"\bclockwise\b",
            r"\b\d+\s*(?:°|degrees?)\b"),
        zh=(r"旋转", r"顺时针", r"逆时针", r"\d+\s*度"),
        priority=65,
    ),
    Intent(
        "flip", (T.IMAGE,), "flip or mirror the image",
        en=(r"\bflip", r"\bmirror", r"\bupside[- ]down\b"),
        zh=(r"翻转", r"镜像", r"倒过来"),
        priority=66,
    ),
    Intent(
        "gray", (T.IMAGE,), "convert the image to grayscale, black and white",
        en=(r"\bgr[ae]yscale\b", r"\bblack\s*(?:[-&+/]|[- ]and[- ])\s*white\b", r"\bb\s*[&/]\s*w\b", r"\bdesaturat", r"\bmonochrome\b", r"\bgr[ae]y\b"),
        zh=(r"灰度", r"黑白", r"去色"),
        priority=65,
    ),
    Intent(
        "brightness", (T.IMAGE,), "make the image brighter or darker (brightness)",
        en=(r"\bbright", r"\bdarken", r"\blighten", r"\bdarker\b", r"\btoo dark\b", r"\bexposure\b"),
        zh=(r"亮度", r"调亮", r"变亮", r"提亮", r"亮一", r"调暗", r"变暗", r"暗一", r"太暗"),
        priority=65,
    ),
    Intent(
        "contrast", (T.IMAGE,), "increase or reduce the contrast of the image",
        en=(r"\bcontrast\b", r"\bpunchier\b", r"\bwashed[- ]out\b"),
        zh=(r"对比度",),
        priority=65,
    ),
    Intent(
        "draw", (T.IMAGE,), "draw and highlight bounding boxes on the image",
        en=(r"\bdraw", r"\bhighlight", r"\bmark\b", r"\bmark (?:up|out)\b", r"\boutline", r"\bannotat", r"\bcircle\b",
            r"\b(?:box(?:es)?|rectangles?|frames?|squares?) (?:a)?round\b", r"\bvisuali[sz]e\b", r"\bshow (?:me )?(?:the )?(?:boxes|detections)\b"),
        zh=(r"画(?:出|上)?框", r"画出", r"绘制", r"标出", r"标注", r"标记", r"框出", r"框起来", r"圈出", r"高亮", r"方框"),
        priority=65,
    ),
    Intent(
        "overlay", (T.IMAGE,), "overlay a mask on the image, tint the segmented region",
        en=(r"\boverlay", r"\btint", r"\bmask\b", r"\bsegment"),
        zh=(r"叠加", r"蒙版", r"掩码", r"遮罩"),
        priority=64,
    ),
    Intent(
        "combine", (T.IMAGE,), "combine images side by side or stacked",
        en=(r"\bcombine", r"\bmerge", r"\bconcatenat", r"\bstitch", r"\bside[- ]by[- ]side\b", r"\bstack", r"\bcollage\b",
            r"\bjoin (?:the|these|them)\b", r"\bnext to each other\b", r"\bon top of\b",
            r"\b(?:put|place|show|set|display|lay)\b.*\b(?:next to|beside|alongside)\b"),
        zh=(r"拼接", r"合并", r"拼成", r"并排", r"拼图", r"拼在一起"),
        priority=65,
    ),
    Intent(
        "orient", (T.IMAGE,), "fix the orientation: turn a sideways photo upright",
        en=(r"\bupright\b", r"\bstraighten", r"\b(?:fix|correct) (?:the |its )?orientation\b", r"\bauto[- ]?rotate\b",
            r"\bsideways\b"),
        zh=(r"摆正", r"转正", r"矫正方向", r"纠正方向", r"方向不对", r"横着"),
        priority=67,
    ),
    # Working on lists of boxes, labels or tags.
    Intent(
        "top", (T.BBOXES, T.LABELS), "keep the top k boxes or labels: the most confident or the largest",
        en=(r"\b(?:largest|biggest|smallest|most confident|highest[- ]scor\w*|best|strongest|most likely)\b",
            r"\btop[- ]?\d+\b", r"\btop (?:one|two|three|four|five|ten)\b", r"\b(?:first|only) (?:one|two|three|\d+)\b",
            r"\b(?:one|two|three|four|five|\d+) (?:most|largest|biggest|best)\b"),
        zh=(r"最大的", r"最小的", r"最可信", r"置信度最高", r"前\s*\d+\s*(?:个|名)", r"前(?:三|五|十|两)(?:个|名)", r"最好的"),
        priority=61,
    ),
    Intent(
        "sort", (T.BBOXES,), "sort the bounding boxes by score or size",
        en=(r"\bsort", r"\brank", r"\border (?:them|the \w+) by\b", r"\bin order of\b"),
        zh=(r"排序", r"排列"),
        priority=60,
    ),
    Intent(
        "filter", (T.BBOXES,), "filter out low-confidence, too small or too large boxes",
        en=(r"\bfilter", r"\bdiscard\b", r"\b(?:remove|drop|ignore) (?:the )?(?:low|small|tiny|weak|uncertain)",
            r"\bconfidence (?:above|over|below|under|of at least)\b", r"\bconfident\b", r"\bat least \d", r"\bthreshold\b",
            r"\b(?:above|over|below|under|less than|more than|lower than|higher than)\s+\d+(?:\.\d+)?\s*%?\s*"
            r"(?:confidence|score|probability|certainty)\b",
            r"\b(?:throw (?:away|out)|get rid of|drop|remove|discard|ignore|exclude)\b.*\b(?:under|below|less than|"
            r"lower than|weak|low)\b"),
        zh=(r"过滤", r"去掉", r"置信度(?:高于|大于|低于|小于)", r"(?:高于|大于|低于|小于)\s*\d+(?:\.\d+)?\s*%?的?置信度", r"阈值"),
        priority=60,
    ),
    Intent(
        "select", (T.BBOXES, T.LABELS, T.TAGS), "select the boxes, labels or tags of one category",
        en=(r"\bkeep\b", r"\bonly (?:keep|the)\b", r"\bselect\b", r"\bjust the\b", r"\bpick (?:out )?the \w+ (?:boxes|labels|tags)\b",
            r"\bonly\b.*\b(?:boxes|detections|labels|tags)\b",
            r"\b(?:pull|fish) out (?:only )?(?:the |all )?(?:ones|those|entries|items|boxes|labels|tags)\b", r"\bthe ones (?:about|with|that|which|of|labell?ed|tagged|related)\b"),
        zh=(r"只保留", r"保留", r"筛选", r"挑出", r"选出"),
        literal=Literal.CATEGORY, priority=59,
    ),
    Intent(
        "read", (T.TEXT, T.BBOXES), "read the text in the image (OCR)",
        en=(r"\bocr\b", r"\bread\b", r"\bwhat (?:does|do) (?:it|the \w+|this \w+|they) say\b", r"\bwhat(?:'s| is| was) written\b",
            r"\bwhat (?:it|the \w+) says\b", r"\bwritten (?:on|in)\b", r"\bextract (?:the |all )?(?:text|words)\b",
            r"\b(?:text|words|writing|lettering) (?:in|on|from)\b", r"\brecogni[sz]e (?:the )?(?:text|words|characters)\b",
            r"\bcopy (?:the |all )?(?:text|words)\b", r"\bprinted\b", r"\bhandwrit",
            r"\b(?:pull|get|grab|take|lift|type)\b(?:\s+\w+){0,2}\s+(?:text|words|writing)\b", r"\bplain text\b",
            r"\b(?:give|show|tell) me (?:all )?(?:of )?the (?:text|words|writing)\b", r"\btype (?:up|out)\b"),
        zh=(r"(?:识别|读取|提取|读出|认出|获取|看看|找出)(?:一下)?(?:出)?(?:这张|该)?(?:图片|照片|图像|图|截图|上面|里面|其中)?(?:中|里|上)?(?:面)?的?(?:所有)?的?(?:文字|文本|字)",
            r"(?:图片|照片|图像|图|截图|路牌|招牌|标志|牌子|海报|发票|收据|文档|屏幕|标签)(?:中|里|上)?(?:面)?(?:的|所有的)?(?:文字|字)",
            r"写(?:了|的|着)?(?:是)?(?:什么|啥)", r"上面写", r"读取", r"OCR", r"认字"),
        priority=55,
    ),
    Intent(
        "timed", (T.TRANSCRIPT, T.TEXT), "transcribe speech into timed segments with start and end times",
        en=(r"\bsubtitles?\b", r"\btimestamps?\b", r"\btime[- ]?stamped\b", r"\btimed\b", r"\btimings?\b",
            r"\bsegments?\b", r"\bstart and end times?\b", r"\bwhen (?:each|every) \w+ (?:is|was) (?:said|spoken)\b"),
        zh=(r"字幕", r"时间戳", r"时间轴", r"时间点", r"分段"),
        priority=86,
    ),
    Intent(
        "transcribe", (T.TEXT, T.TRANSCRIPT), "transcribe the speech in the audio recording into text",
        en=(r"\btranscri", r"\bspeech[- ]to[- ]text\b", r"\bdictat", r"\bwhat (?:is|was) (?:said|being said)\b",
            r"\bwhat (?:does|do|did) (?:he|she|they|the \w+|the \w+ \w+) say\W*$", r"\bwrite down what\b",
            r"\bwhat (?:he|she|they|the \w+) (?:says|said)\b",
            r"\bcaptions? for the (?:audio|recording|video)\b"),
        zh=(r"转写", r"转录", r"转成文字", r"转为文字", r"转换成文字", r"语音识别", r"听写", r"说了什么", r"讲了什么"),
        priority=50,
    ),
    Intent(
        "detect", (T.BBOXES,), "detect and locate objects: bounding boxes",
        en=(r"\bdetect", r"\blocate\b", r"\blocali[sz]e\b", r"\bspot\b(?! the differen)", r"\bfind\b(?! out)(?!\s+(?:how|what|where|who|which|whether|if|why|when)\b)", r"\bidentify (?:all|every|each|the)\b",
            r"\bpoint (?:out|to)\b", r"\bpick out\b", r"\bbounding box", r"\bground\b", r"\bsearch for\b", r"\blook for\b"),
        zh=(r"检测", r"找出", r"找到", r"找一下", r"寻找", r"定位", r"识别出", r"识别", r"检出", r"查找"),
        literal=Literal.PHRASE, priority=45,
    ),
    Intent(  # no cue of its own: a detect or where clause about a referring phrase becomes this one
        "ground", (T.BBOXES,), "locate the thing a phrase describes in the image (visual grounding)",
        literal=Literal.PHRASE, priority=45,
    ),
    Intent(
        "compare", (T.TEXT,), "compare two images: what is the same and what differs",
        en=(r"\bcompar", r"\bdifferen", r"\bdiffer(?:s|ed)?\b", r"\bwhat changed\b", r"\bchanges between\b", r"\b(?:the )?same (?:place|person|scene|spot|location|room|view|building|street)\b",
            r"\bspot the difference"),
        zh=(r"比较", r"对比", r"区别", r"不同", r"差异", r"差别", r"变化"),
        literal=Literal.QUESTION, priority=42,
    ),
    Intent(
        "describe", (T.TEXT,), "caption or describe the image",
        en=(r"\bcaption", r"\bdescri", r"\balt[- ]text\b", r"\bwhat(?:'s| is| are) (?:in|on) (?:the|this|it|my)\b",
            r"\bwhat (?:does|do) (?:the|this|it) \w* ?show\b", r"\bwhat (?:happens|is happening|happened)\b",
            r"\bwhat(?:'s| is| was) (?:going on|happening|taking place)\b",
            r"\bexplain (?:the|this|what)\b", r"\btitle\b", r"\btell me about\b"),
        zh=(r"描述", r"说明", r"介绍", r"配文", r"标题", r"讲(?:的|了)?(?:是)?什么", r"(?:有|是)什么(?:内容|东西)", r"内容",
            r"(?:里|中|上)(?:面)?有(?:些)?什么[？?]?$",
            r"发生了什么", r"画面"),
        priority=40,
    ),
    Intent(
        "question", (T.TEXT,), "answer a question about it",
        en=(r"^\s*(?:what|which|who|whom|whose|why|when|how)\b", r"^\s*(?:is|are|was|were|does|do|did|can|could|has|have)\b(?!\s+you\b)",
            r"\b(?:tell me|find out|figure out|determine|check|ask) (?:what|which|who|whether|if|why|how|when)\b",
            r"^\W*(?:please\s+)?(?:tell|show|give) me (?:the|its|their|his|her|a|an)\b",
            r"\banswer\b", r"\?\s*$"),
        zh=(r"什么", r"谁", r"为什么", r"哪(?:个|些|种|一|位|里)?", r"是否", r"吗", r"有没有", r"是不是", r"怎么样", r"如何", r"多少钱",
            r"何时", r"什么时候", r"[?？]"),
        literal=Literal.QUESTION, priority=10,
    ),
)

INTENT_BY_NAME: dict[str, Intent] = {i.name: i for i in INTENTS}


# --- resources named in words ----------------------------------------------------------------------

#: English nouns that name a kind of resource ("the recording" is audio).
TYPE_NOUNS_EN: dict[T, tuple[str, ...]] = {
    T.IMAGE: ("image", "images", "photo", "photos", "photograph", "picture", "pictures", "pic", "pics", "screenshot",
              "scan", "snapshot", "selfie", "poster", "img", "shot", "frame", "drawing"),
    T.AUDIO: ("audio", "recording", "recordings", "sound", "voice memo", "voice message", "podcast", "song",
              "speech", "audio clip", "sound clip", "voice note", "interview", "lecture", "call"),
    T.VIDEO: ("video", "videos", "footage", "movie", "film", "clip", "video clip"),
    T.TEXT: ("article", "passage", "paragraph", "essay", "story", "email", "message", "note", "notes", "report",
             "letter", "post", "review", "document text", "text file"),
    T.BBOXES: ("boxes", "bounding boxes", "detections", "regions", "box"),
    T.DOCUMENT: ("pdf",),
}

TYPE_NOUNS_ZH: dict[T, tuple[str, ...]] = {
    T.IMAGE: ("图片", "图像", "照片", "相片", "截图", "画面", "这张图", "图中", "图里", "图上", "海报", "扫描件"),
    T.AUDIO: ("音频", "录音", "语音", "声音", "音乐", "歌曲", "播客"),
    T.VIDEO: ("视频", "影片", "录像", "片段"),
    T.TEXT: ("文章", "段落", "这段文字", "这段话", "文本", "邮件", "报告", "短文"),
    T.BBOXES: ("检测框", "边界框"),
}

#: English words a user says about something an earlier step made.
PRONOUNS_EN = ("it", "them", "they", "its", "their", "this", "that", "these", "those", "one", "ones", "him", "her")
#: Pronouns for several things ("blur them"): in a clause that takes a list (boxes) they mean the list.
PLURAL_PRONOUNS_EN = ("them", "they", "their", "these", "those", "one", "ones", "each", "him", "her")
PLURAL_WORDS_ZH = ("它们", "这些", "那些", "每个", "每一个", "他们")
RESULT_NOUNS_EN = ("result", "results", "output", "outputs", "answer", "version", "same", "new one", "edited one", "rest",
                   "remainder", "remaining ones", "copy", "two", "both", "pair", "versions")
RESULT_WORDS_ZH = ("它们", "它", "其", "结果", "这些", "那些", "上述", "上面的", "上一步", "得到的", "生成的", "输出", "检测到的",
                   "识别出的", "识别到的", "找到的", "找出的", "后的", "过的", "新的", "该")

#: What words name each produced type ("the caption" is text an earlier step made).
PRODUCT_NOUNS_EN: dict[T, tuple[str, ...]] = {
    T.TEXT: ("caption", "description", "summary", "translation", "transcript", "transcription", "text", "answer",
             "words", "story", "sentence", "title"),
    T.BBOXES: ("boxes", "box", "detections", "faces", "face", "objects", "regions", "locations", "people", "lines"),
    T.NUMBER: ("count", "number", "total"),
    T.AUDIO: ("audio", "speech", "recording"),
    T.IMAGE: ("image", "photo", "picture", "crop", "result"),
    T.TRANSCRIPT: ("transcript", "segments"),
    T.LABELS: ("labels", "classes", "categories"),
    T.TAGS: ("tags", "keywords"),
    T.JSON: ("info", "metadata", "properties"),
}

#: Nouns for what an intent makes: "the summary" is the summarising step's result, "the caption" the
#: captioning step's (even if a translation was made after it).
PRODUCTS_BY_INTENT_EN: dict[str, tuple[str, ...]] = {
    "summarise": ("summary", "summaries", "gist"),
    "translate": ("translation", "translations", "translated text"),
    "transcribe": ("transcript", "transcription", "transcripts"),
    "timed": ("transcript", "segments", "subtitles"),
    "describe": ("caption", "description", "captions", "descriptions"),
    "read": ("text", "words", "writing"),
    "question": ("answer",),
    "detect": ("detections", "boxes", "faces", "objects"),
    "count": ("count", "number", "total"),
}
PRODUCTS_BY_INTENT_ZH: dict[str, tuple[str, ...]] = {
    "summarise": ("摘要", "总结", "概要"),
    "translate": ("翻译", "译文"),
    "transcribe": ("转写", "文字稿", "逐字稿"),
    "describe": ("描述", "说明", "标题"),
    "read": ("文字",),
}
#: Nouns after "and a …" that start a request of their own ("a summary and a French translation").
SPLIT_PRODUCTS_EN = ("summary", "translation", "caption", "description", "transcript", "transcription", "version",
                     "copy", "thumbnail", "count", "audio", "recording", "list", "answer")
SPLIT_PRODUCTS_ZH = ("摘要", "总结", "翻译", "描述", "说明", "字幕", "标题", "译文")

#: Participles of edits: "the cropped image" was made by an earlier step.
EDITED_EN = re.compile(
    r"\b(?:blurred|pixelated|anonymi[sz]ed|cropped|resized|rescaled|scaled|rotated|flipped|mirrored|grayscaled|"
    r"greyscaled|brightened|darkened|lightened|annotated|highlighted|marked|outlined|combined|merged|stitched|"
    r"concatenated|edited|processed|modified|new|resulting|final|fixed|straightened|enhanced|adjusted|"
    r"gr[ae]y(?:scale)?|black[- ]and[- ]white|upright|detected|found|recogni[sz]ed|read|extracted|transcribed|"
    r"translated|summari[sz]ed|generated|produced|previous|above|last)\b",
    re.IGNORECASE,
)

ORIGINAL_EN = re.compile(r"\b(?:original|initial|source|given|uploaded|unedited|raw)\b|"
                         r"\b(?:whole|entire|full|complete)\s+(?:image|photo|picture|pic|scene|frame|shot)\b",
                         re.IGNORECASE)
ORIGINAL_ZH = ("原图", "原始", "原来的", "原先", "原照片", "原图片")

#: Imperative verbs and question openers that start a new clause after "and" or a comma.
CLAUSE_VERBS_EN: frozenset[str] = frozenset(
    """
    detect find locate localise localize spot identify recognise recognize blur pixelate anonymise anonymize hide
    censor obscure mask crop cut resize rescale scale shrink enlarge upscale downscale rotate turn flip mirror convert
    make draw highlight mark outline box annotate label circle count tell say speak read transcribe caption describe
    summarise summarize translate answer ask compare combine merge concatenate stitch put place show list give get
    check measure estimate filter keep select sort rank pick remove discard drop brighten darken lighten increase
    decrease adjust enhance boost reduce grayscale greyscale desaturate fix straighten save export return output
    extract write generate produce create explain determine figure look see use overlay tint narrate pronounce
    voice dictate ocr stack sum send let then also finally please apply transform change sharpen copy display
    provide report point search bump throw pull
    """.split()
)
QUESTION_OPENERS_EN: frozenset[str] = frozenset(
    "what which who whom whose why when where how is are was were does do did can could has have".split()
)
#: Verbs too light to say what is asked ("keep the three best ones": the best ones say it).
LIGHT_VERBS_EN: frozenset[str] = frozenset("keep make get give show put turn take do have let use".split())
#: Words skipped before the verb of a clause ("and then also please blur").
FILLERS_EN: frozenset[str] = frozenset(
    "then also finally next lastly please just now afterwards kindly again separately additionally besides "
    "independently".split())

ZH_VERBS: tuple[str, ...] = (
    "检测", "找出", "找到", "找", "定位", "识别", "模糊", "打码", "遮挡", "裁剪", "裁切", "剪裁", "截取", "缩放", "调整", "放大", "缩小",
    "旋转", "翻转", "镜像", "转成", "转换", "转为", "变成", "画", "绘制", "标出", "标注", "标记", "框出", "圈出", "高亮", "数", "统计",
    "计算", "描述", "说明", "总结", "概括", "翻译", "朗读", "读", "念", "说", "转写", "转录", "回答", "告诉", "比较", "对比", "拼接",
    "合并", "提取", "生成", "保存", "给出", "列出", "筛选", "过滤", "排序", "保留", "选出", "挑出", "去掉", "删除", "调亮", "调暗",
    "增加", "降低", "增强", "摆正", "矫正", "看看", "查看", "获取", "计数", "输出", "把", "将", "帮我", "请", "用", "对", "给", "再",
    "生成", "配", "加", "做", "制作", "变", "判断", "估计", "看", "分析", "检查", "做成", "合成", "叠加", "介绍", "列举", "听", "问",
)

#: Chinese connectives that order steps (then) or add a parallel one (also): "and … also" clauses work on
#: what their sibling worked on, "then" clauses on what it made.
ZH_SEQUENTIAL = ("然后再", "然后", "接着", "之后再", "之后", "随后", "最后再", "最后", "再", "接下来", "其次")
ZH_PARALLEL = ("同时", "还要", "另外", "顺便", "此外", "分别", "也", "还")
#: Chinese connectives that start a new clause (when a verb follows or a punctuation mark precedes).
ZH_CONNECTIVES: tuple[str, ...] = (
    "然后再", "然后", "接着", "之后再", "之后", "随后", "最后再", "最后", "并且", "同时", "还要", "另外", "而且", "再", "并",
    "顺便", "以及", "其次", "此外", "接下来",
)

#: Chinese words glossed in English for the embedding model (what a clause is about).
ZH_GLOSSES: tuple[tuple[str, str], ...] = (
    # verbs and question words
    ("检测", "detect"), ("找出", "find"), ("找到", "find"), ("寻找", "find"), ("查找", "find"), ("定位", "locate"),
    ("识别出", "recognise"), ("识别", "recognise"), ("在哪里", "where is"), ("在哪", "where is"), ("哪里", "where"),
    ("位置", "location"), ("几个", "how many"), ("几只", "how many"), ("几位", "how many"), ("几辆", "how many"),
    ("几张", "how many"), ("几名", "how many"), ("几行", "how many lines"), ("几", "how many"), ("多少", "how many"),
    ("数一数", "count"), ("数数", "count"), ("计数", "count"), ("统计", "count"), ("数量", "number of"),
    ("模糊", "blur"), ("打码", "pixelate blur"), ("马赛克", "pixelate"), ("遮挡", "hide blur"), ("遮住", "hide blur"),
    ("裁剪", "crop"), ("裁切", "crop"), ("剪裁", "crop"), ("截取", "crop"), ("抠出", "crop out"),
    ("调整大小", "resize"), ("调整尺寸", "resize"), ("缩放", "resize scale"), ("放大", "enlarge resize"),
    ("缩小", "shrink resize"), ("缩略图", "thumbnail resize"), ("旋转", "rotate"), ("翻转", "flip"), ("镜像", "mirror flip"),
    ("倒过来", "flip upside down"), ("灰度", "grayscale"), ("黑白", "black and white grayscale"), ("去色", "grayscale"),
    ("亮度", "brightness"), ("调亮", "brighten"), ("变亮", "brighter"), ("提亮", "brighten"), ("调暗", "darken"),
    ("变暗", "darker"), ("对比度", "contrast"), ("画框", "draw boxes"), ("画出", "draw"), ("画上", "draw"), ("绘制", "draw"),
    ("标出", "mark highlight"), ("标注", "annotate draw boxes"), ("标记", "mark"), ("框出", "draw boxes around"),
    ("框起来", "draw boxes around"), ("圈出", "highlight"), ("高亮", "highlight"), ("叠加", "overlay"), ("拼接", "combine"),
    ("合并", "combine merge"), ("拼成", "combine"), ("并排", "side by side"), ("摆正", "fix orientation upright"),
    ("转正", "fix orientation upright"), ("矫正方向", "fix orientation"), ("写个说明", "write a caption"),
    ("写一个说明", "write a caption"), ("配个说明", "write a caption"), ("描述", "describe"), ("说明", "describe"),
    ("介绍", "describe"), ("配文", "caption"), ("标题", "caption title"), ("发生了什么", "what happens"),
    ("内容", "content"), ("写了什么", "what is written"), ("写的什么", "what is written"), ("上面写", "written on"),
    ("读取", "read"), ("读出来", "read out"), ("读出", "read"), ("提取", "extract"), ("转写", "transcribe"),
    ("转录", "transcribe"), ("语音识别", "speech recognition transcribe"), ("听写", "transcribe"),
    ("说了什么", "what is said"), ("讲了什么", "what is said"), ("总结", "summarise"), ("概括", "summarise"),
    ("摘要", "summary"), ("归纳", "summarise"), ("概述", "summarise"), ("要点", "key points"), ("翻译", "translate"),
    ("译成", "translate into"), ("朗读", "read aloud"), ("念出", "read aloud"), ("念", "read aloud"),
    ("读给", "read aloud"), ("播报", "read aloud speech"), ("配音", "voice over speech"), ("语音合成", "text to speech"),
    ("比较", "compare"), ("对比", "compare"), ("区别", "differences"), ("不同", "differences"), ("差异", "differences"),
    ("尺寸", "size"), ("分辨率", "resolution"), ("宽高", "width and height"), ("格式", "file format"),
    ("拍摄", "taken camera"), ("元数据", "metadata"), ("筛选", "filter"), ("过滤", "filter"), ("只保留", "keep only"),
    ("保留", "keep"), ("排序", "sort"), ("选出", "select"), ("挑出", "select"), ("回答", "answer"),
    ("是什么", "what is"), ("什么", "what"), ("为什么", "why"), ("谁", "who"), ("是否", "whether"), ("有没有", "is there"),
    ("吗", "question"), ("哪个", "which"), ("告诉我", "tell me"),
    # things
    ("它们", "them"), ("它", "it"), ("结果", "the result"), ("这些", "these"),
    ("人脸", "faces"), ("脸", "faces"), ("行人", "pedestrians"), ("人", "people"), ("狗", "dogs"), ("猫", "cats"),
    ("汽车", "cars"), ("车牌", "licence plates"), ("车", "cars"), ("鸟", "birds"), ("苹果", "apples"), ("文字", "text"),
    ("字", "text"), ("招牌", "sign"), ("标志", "sign"), ("路牌", "street sign"), ("文档", "document"), ("收据", "receipt"),
    ("发票", "invoice"), ("表格", "table"), ("图表", "chart"), ("物体", "objects"), ("东西", "objects"), ("框", "bounding boxes"),
    ("英文", "English"), ("英语", "English"), ("中文", "Chinese"), ("法语", "French"), ("德语", "German"), ("日语", "Japanese"),
    ("水平", "horizontally"), ("左右", "left to right horizontally"), ("垂直", "vertically"), ("上下", "upside down vertically"),
    ("度", "degrees"), ("倍", "times"), ("视频", "video"), ("录音", "audio recording"), ("音频", "audio"), ("语音", "speech audio"),
    ("照片", "photo"), ("图片", "image"), ("图像", "image"), ("截图", "screenshot"), ("文章", "article text"),
    ("最大", "largest"), ("置信度", "confidence"), ("红色", "red"), ("蓝色", "blue"), ("绿色", "green"), ("黄色", "yellow"),
    ("穿", "wearing"), ("衣服", "clothes"), ("帽子", "hat"), ("左边", "on the left"), ("右边", "on the right"),
    ("时间戳", "with timestamps"), ("字幕", "subtitles"), ("两张", "two images"), ("横向", "horizontally"),
    ("纵向", "vertically"), ("竖", "vertically"),
)
