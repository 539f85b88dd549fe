"""Real inputs for the user trials, made at run time so that nothing binary is committed.

Photos are scikit-image's samples, scaled down so a whole suite runs in seconds; documents and signs are
rendered with PIL (Chinese text needs the WenQuanYi Micro Hei font, Debian ``fonts-wqy-microhei``);
speech is spoken by espeak-ng and re-encoded with PyAV (MP3, M4A); a clip is a few frames of a photo.
A sample whose maker cannot run here raises :class:`SampleUnavailableError` naming what is missing, so
that a suite reports the case as skipped rather than dropping it silently.

Each sample is made once per :class:`SampleMaker` and copied to whatever file name a case gives it (the
agent sees that name: "what is the total on receipt.png").
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.errors import ToGError
from graph.types import ResourceType

if TYPE_CHECKING:
    from PIL import Image as PILImage

#: The CJK font Chinese receipts and signs are rendered with (Debian ``fonts-wqy-microhei``).
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")

RECEIPT_LINES = ("CORNER CAFE", "Coffee 3.50", "Bagel 2.25", "Subtotal 5.75", "Tax 0.46", "TOTAL 6.21")
RECEIPT_TOTAL = 6.21
RECEIPT_ZH_LINES = ("超市收据", "牛奶 12.50", "面包 8.00", "合计 20.50")
RECEIPT_ZH_TOTAL = 20.50
SIGN_TEXT = "NO PARKING"
SIGN_ZH_TEXT = "禁止吸烟"
NOTE_LINES = ("Meeting notes", "Budget approved for March", "Next review on Friday")
#: What the generated speech says (espeak-ng, English).
SPEECH_TEXT = "Please call me back after the meeting tomorrow morning."
#: A paragraph given where a request's resource is a text file.
TEXT_PARAGRAPH = (
    "The city council met on Monday to discuss the new bicycle lanes. Most members supported the plan, "
    "but several asked for a longer trial on the main street before any permanent change is made."
)


class SampleUnavailableError(ToGError):
    """A sample input cannot be made on this machine (a font, a binary or a package is missing)."""

    code = "sample_unavailable"


@dataclass(frozen=True)
class Sample:
    """One named input: what type the agent is told it is, its file suffix, and how to make it."""

    name: str
    type: ResourceType
    suffix: str
    make: Callable[[Path], None]
    about: str


def _skimage(name: str) -> PILImage.Image:
    from PIL import Image
    from skimage import data

    array = getattr(data, name)()
    return Image.fromarray(array).convert("RGB")


def _scaled(name: str, size: tuple[int, int]) -> Callable[[Path], None]:
    """A scikit-image photo at a fixed size (the suite's expected sizes depend on it)."""

    def make(path: Path) -> None:
        _skimage(name).resize(size).save(path)

    return make


def _astronaut(path: Path) -> None:
    """256 px: the cascade finds exactly her face (at 512 px it also finds a false one)."""
    _skimage("astronaut").resize((256, 256)).save(path)


def _group(path: Path) -> None:
    """Three copies of the 256 px astronaut side by side: a photo with three faces."""
    from PIL import Image

    face = _skimage("astronaut").resize((256, 256))
    group = Image.new("RGB", (3 * 256 + 2 * 20, 256), "white")
    for i in range(3):
        group.paste(face, (i * (256 + 20), 0))
    group.save(path)


def _dark(path: Path) -> None:
    """scikit-image's cameraman at a third of its brightness: a photo someone would want brightened."""
    _skimage("camera").convert("L").point(lambda v: v // 3).convert("RGB").resize((256, 256)).save(path)


def _font(size: int, cjk: bool) -> Any:
    from PIL import ImageFont

    if CJK_FONT.is_file():
        return ImageFont.truetype(str(CJK_FONT), size)
    if cjk:
        raise SampleUnavailableError(
            f"Chinese text is rendered with {CJK_FONT}, which is not installed (Debian fonts-wqy-microhei)",
            font=str(CJK_FONT),
        )
    return ImageFont.load_default(size=size)


def _lines(lines: tuple[str, ...], *, size: int = 24, width: int = 360, cjk: bool = False) -> Callable[[Path], None]:
    """Black text on white paper, one line per entry."""

    def make(path: Path) -> None:
        from PIL import Image, ImageDraw

        font = _font(size, cjk)
        step = int(size * 1.6)
        image = Image.new("RGB", (width, 30 + step * len(lines)), "white")
        draw = ImageDraw.Draw(image)
        for i, line in enumerate(lines):
            draw.text((20, 15 + step * i), line, fill="black", font=font)
        image.save(path)

    return make


def _sign(text: str, *, cjk: bool) -> Callable[[Path], None]:
    """A street sign: a coloured plate with a white border and large text, on a grey wall."""

    def make(path: Path) -> None:
        from PIL import Image, ImageDraw

        font = _font(56, cjk)
        left, top, right, bottom = font.getbbox(text)
        width = int(right - left) + 120
        image = Image.new("RGB", (width, 200), (150, 150, 145))
        draw = ImageDraw.Draw(image)
        draw.rectangle((30, 40, width - 30, 160), fill=(255, 255, 255), outline=(20, 110, 40), width=8)
        x, y = width / 2 - (right - left) / 2 - left, 100 - (bottom - top) / 2 - top
        draw.text((x, y), text, fill=(20, 110, 40) if not cjk else (200, 20, 20), font=font)
        image.save(path)

    return make


def _mask(path: Path) -> None:
    """A binary mask (white ellipse) the size of :func:`_photo`."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", (512, 512), 0)
    ImageDraw.Draw(mask).ellipse((150, 60, 360, 300), fill=255)
    mask.save(path)


def _photo(path: Path) -> None:
    """The demo photo: the astronaut with a street sign pasted in (a face and text)."""
    from agent.samples import make_demo_photo

    make_demo_photo(path)


def _speech_wav(path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        raise SampleUnavailableError("speech is spoken by espeak-ng, which is not installed (Debian espeak-ng)")
    from tools.audio import TextToSpeech

    spoken = TextToSpeech(output_dir=path.parent / ".speech")(text=SPEECH_TEXT)["speech"]
    shutil.copyfile(spoken, path)


def _speech_as(codec: str, container: str) -> Callable[[Path], None]:
    """The espeak-ng speech re-encoded (MP3, AAC in M4A) with PyAV."""

    def make(path: Path) -> None:
        import av

        wav = path.with_suffix(".source.wav")
        _speech_wav(wav)
        with av.open(str(wav)) as source, av.open(str(path), "w", format=container) as target:
            stream = target.add_stream(codec, rate=22050)
            assert isinstance(stream, av.audio.stream.AudioStream)
            for frame in source.decode(audio=0):
                frame.pts = None
                for packet in stream.encode(frame):
                    target.mux(packet)
            for packet in stream.encode(None):
                target.mux(packet)
        wav.unlink()

    return make


def _clip(path: Path) -> None:
    """Two seconds of video (10 fps, H.264): a slow pan across the cat photo."""
    import av
    import numpy as np

    cat = _skimage("chelsea").resize((320, 212))
    with av.open(str(path), "w", format="mp4") as target:
        stream = target.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 112, "yuv420p"
        stream.time_base = Fraction(1, 10)
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(np.asarray(cat.crop((i * 8, 50, i * 8 + 160, 162))), format="rgb24")
            for packet in stream.encode(frame):
                target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in (
        Sample("astronaut", ResourceType.IMAGE, ".png", _astronaut, "scikit-image astronaut, 256 px: one face"),
        Sample("group", ResourceType.IMAGE, ".png", _group, "three astronaut portraits side by side: three faces"),
        Sample("coffee", ResourceType.IMAGE, ".png", _scaled("coffee", (300, 200)), "coffee: no face, no text"),
        Sample("chelsea", ResourceType.IMAGE, ".png", _scaled("chelsea", (300, 200)), "Chelsea the cat: no face"),
        Sample("rocket", ResourceType.IMAGE, ".png", _scaled("rocket", (320, 214)), "a rocket on its pad, 320x214"),
        Sample("dark", ResourceType.IMAGE, ".png", _dark, "the cameraman at a third of his brightness"),
        Sample("photo", ResourceType.IMAGE, ".png", _photo, "the astronaut with a street sign pasted in"),
        Sample("receipt", ResourceType.IMAGE, ".png", _lines(RECEIPT_LINES), f"a receipt, total {RECEIPT_TOTAL}"),
        Sample(
            "receipt_zh",
            ResourceType.IMAGE,
            ".png",
            _lines(RECEIPT_ZH_LINES, cjk=True),
            f"a Chinese receipt, 合计 {RECEIPT_ZH_TOTAL}",
        ),
        Sample("notes", ResourceType.IMAGE, ".png", _lines(NOTE_LINES), "a page of typed notes"),
        Sample("sign", ResourceType.IMAGE, ".png", _sign(SIGN_TEXT, cjk=False), f"a sign reading {SIGN_TEXT}"),
        Sample("sign_zh", ResourceType.IMAGE, ".png", _sign(SIGN_ZH_TEXT, cjk=True), f"a sign reading {SIGN_ZH_TEXT}"),
        Sample("mask", ResourceType.MASK, ".png", _mask, "a binary mask the size of the photo sample"),
        Sample("speech", ResourceType.AUDIO, ".wav", _speech_wav, f"espeak-ng saying {SPEECH_TEXT!r}"),
        Sample("speech_mp3", ResourceType.AUDIO, ".mp3", _speech_as("mp3", "mp3"), "the speech as MP3"),
        Sample("speech_m4a", ResourceType.AUDIO, ".m4a", _speech_as("aac", "ipod"), "the speech as AAC in M4A"),
        Sample("clip", ResourceType.VIDEO, ".mp4", _clip, "a two-second H.264 clip panning over the cat"),
    )
}

#: Values for resources of value types (a JSON file of boxes, labels, tags; a text file).
VALUES: dict[ResourceType, Any] = {
    ResourceType.BBOXES: [
        {"x1": 10, "y1": 10, "x2": 120, "y2": 90, "label": "car", "score": 0.92},
        {"x1": 150, "y1": 30, "x2": 260, "y2": 110, "label": "car", "score": 0.41},
        {"x1": 300, "y1": 20, "x2": 340, "y2": 140, "label": "person", "score": 0.87},
    ],
    ResourceType.LABELS: [
        {"name": "cat", "score": 0.91},
        {"name": "dog", "score": 0.42},
        {"name": "cat", "score": 0.77},
        {"name": "sofa", "score": 0.30},
    ],
    ResourceType.TAGS: ["beach", "sunset", "pizza", "beach", "ice cream", "surfing"],
    ResourceType.TEXT: TEXT_PARAGRAPH,
}


def _reencode(source: Path, target: Path) -> None:
    """Save an image in the format its target name says; a name PIL has no writer for gets a copy."""
    from PIL import Image

    with Image.open(source) as image:
        try:
            (image.convert("RGB") if image.mode not in ("RGB", "L") else image).save(target)
        except (KeyError, ValueError, OSError):  # no writer for that extension
            target.unlink(missing_ok=True)
            shutil.copyfile(source, target)


class SampleMaker:
    """Makes each sample once, under ``folder``, and hands out copies named as a case asks."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._made: dict[str, Path] = {}

    def file(self, sample: str, name: str | None = None) -> Path:
        """A file holding ``sample``, named ``name`` (default: the sample's name and suffix)."""
        if sample not in SAMPLES:
            raise SampleUnavailableError(
                f"no sample named {sample!r}; choose one of {', '.join(sorted(SAMPLES))}", sample=sample
            )
        spec = SAMPLES[sample]
        source = self._made.get(sample)
        if source is None:
            source = self.folder / "made" / f"{sample}{spec.suffix}"
            source.parent.mkdir(parents=True, exist_ok=True)
            try:
                spec.make(source)
            except SampleUnavailableError:
                raise
            except Exception as exc:  # a maker's library failed here: the sample cannot be had on this machine
                raise SampleUnavailableError(f"cannot make the {sample} sample: {exc}", sample=sample) from exc
            self._made[sample] = source
        target = self.folder / sample / (name or source.name)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            if spec.type in (ResourceType.IMAGE, ResourceType.MASK) and target.suffix.lower() != spec.suffix:
                _reencode(source, target)  # photo.jpg holds a JPEG, as a user's would
            else:
                shutil.copyfile(source, target)
        return target

    def value_file(self, rtype: ResourceType, name: str) -> Path:
        """A file named ``name`` holding :data:`VALUES` of ``rtype`` (JSON, or plain text for text)."""
        if rtype not in VALUES:
            raise SampleUnavailableError(f"no generated value of type {rtype.value}", type=rtype.value)
        target = self.folder / "values" / rtype.value / name
        target.parent.mkdir(parents=True, exist_ok=True)
        value = VALUES[rtype]
        target.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
        return target
