"""Tool benchmark: per-tool latency on a 1024×768 photo on CPU, cold (first call, model setup included)
against warm (median of later calls), side by side in one run.

Every tool of :func:`tools.registry.default_registry` that can run here is called with sample inputs
made from its spec: scikit-image's astronaut photo resized to 1024×768 for images, a mask and boxes
drawn on it, short texts chosen by argument name, a spoken sentence (espeak-ng) for audio, a
generated clip for video. Optional arguments keep their defaults, except where a tool needs one of
them to do anything (:data:`OPTIONS`: ``filter_boxes`` a condition, ``resize_image`` a size). A tool
whose inputs cannot be made here, or that rejects them, is listed as skipped with the reason; an
unavailable tool is listed with its reason.

``--tiny-vlm`` times the model-backed (GPU-hinted) tools instead, InternVL and text, on the tiny random
test model, with every answer cut to :data:`TINY_TOKENS` new tokens. Those figures measure our side of
a call (image checks, tiling, prompt building, the model call's prefill, parsing), not model quality or
a real model's speed; a toy answer that does not parse (no box, no number) still completes the call
and is timed, marked "toy answer unparsed".

Cold is the first call in this process, so it includes the tool's lazy ``setup()`` (loading the OCR
engine, the face cascade, whisper) but not Python imports made by earlier tools. Run
``python -m benchmarks.tools [--quick] [--repeat N] [--only NAME …]``; the last line of stdout is a
JSON object ``{"tools_ms": {tool: warm median ms}, "cold_ms": {tool: ms}, …}``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import emit_json, fmt, machine, median, print_table, single_thread_torch, timed
from graph.spec import InputSpec, ToolSpec
from graph.types import BBox, Label, Point, ResourceType, Segment
from vlm.backends.base import ChatRequest, VLMBackend

WIDTH, HEIGHT = 1024, 768
SENTENCE = "The astronaut stands in front of the flag and smiles at the camera."
#: Optional arguments some tools need to do any work (each refuses a call with none of them).
OPTIONS: dict[str, dict[str, Any]] = {"filter_boxes": {"min_score": 0.6}, "resize_image": {"width": 512}}
#: New tokens per answer of the tiny model: its answers are noise, so only our overhead is worth timing.
TINY_TOKENS = 16


class SampleInputs:
    """Sample values per resource type, made once and shared by every tool."""

    def __init__(self, workdir: Path) -> None:
        from PIL import Image, ImageDraw
        from skimage import data

        self.workdir = workdir
        self.image = Image.fromarray(data.astronaut()).resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
        self.mask = Image.new("L", (WIDTH, HEIGHT), 0)
        ImageDraw.Draw(self.mask).ellipse((300, 100, 700, 600), fill=255)
        self.boxes = [
            BBox(x1=330, y1=60, x2=560, y2=330, label="face", score=0.92),
            BBox(x1=150, y1=300, x2=900, y2=768, label="person", score=0.81),
            BBox(x1=0, y1=0, x2=300, y2=260, label="flag", score=0.55),
        ]
        self._audio: Path | None = None
        self._video: Path | None = None

    def text_for(self, name: str) -> str:
        lowered = name.lower()
        if any(word in lowered for word in ("label", "categor", "phrase", "object", "class")):
            return "face"
        if "question" in lowered or "query" in lowered or "prompt" in lowered:
            return "What is the person in the picture wearing?"
        if "lang" in lowered:
            return "French"
        return SENTENCE

    def audio(self) -> Path:
        if self._audio is None:
            espeak = shutil.which("espeak-ng")
            if espeak is None:
                raise LookupError("no audio sample: espeak-ng is not installed")
            path = self.workdir / "speech.wav"
            subprocess.run([espeak, "-w", str(path), SENTENCE], check=True, capture_output=True, timeout=60)
            self._audio = path
        return self._audio

    def video(self) -> Path:
        if self._video is None:
            import av
            import numpy as np

            path = self.workdir / "clip.mp4"
            frames = np.asarray(self.image.resize((320, 240)))
            with av.open(str(path), "w") as container:
                stream = container.add_stream("mpeg4", rate=8)
                stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
                for shift in range(16):
                    frame = av.VideoFrame.from_ndarray(np.roll(frames, shift * 8, axis=1).copy(), format="rgb24")
                    container.mux(stream.encode(frame))
                container.mux(stream.encode())
            self._video = path
        return self._video

    def value(self, inp: InputSpec) -> Any:
        """A sample for one input; LookupError when this type cannot be made here."""
        makers: dict[ResourceType, Callable[[], Any]] = {
            ResourceType.IMAGE: lambda: self.image.copy(),
            ResourceType.MASK: lambda: self.mask.copy(),
            ResourceType.BBOXES: lambda: list(self.boxes),
            ResourceType.TEXT: lambda: self.text_for(inp.name),
            ResourceType.LANGUAGE: lambda: "French",
            ResourceType.NUMBER: lambda: 2,
            ResourceType.BOOLEAN: lambda: True,
            ResourceType.LABELS: lambda: [Label(name="astronaut", score=0.9), Label(name="flag", score=0.4)],
            ResourceType.TAGS: lambda: ["astronaut", "flag", "space"],
            ResourceType.POINTS: lambda: [Point(x=450, y=200, label=1)],
            ResourceType.TRANSCRIPT: lambda: [Segment(start=0.0, end=2.5, text=SENTENCE)],
            ResourceType.JSON: lambda: {"caption": SENTENCE},
            ResourceType.TABLE: lambda: [{"name": "astronaut", "count": 1}],
            ResourceType.AUDIO: self.audio,
            ResourceType.VIDEO: self.video,
        }
        if inp.type not in makers:
            raise LookupError(f"no sample for resource type {inp.type.value!r} (argument {inp.name!r})")
        return makers[inp.type]()

    def arguments(self, spec: ToolSpec) -> dict[str, Any]:
        required = {inp.name: self.value(inp) for inp in spec.inputs if inp.required}
        return {**required, **OPTIONS.get(spec.name, {})}


def configure_tiny_vlm(workdir: Path) -> tuple[str, Callable[[], None]]:
    """Point the InternVL and text tools at the tiny random test model, answers capped at
    :data:`TINY_TOKENS`; returns a note and the function that undoes it."""
    from tools.model_settings import DEFAULT_MAX_TILES
    from tools.models import configure_vlm
    from vlm.backends import TransformersBackend
    from vlm.images import ImageLimits
    from vlm.testing import tiny_internvl

    # The tile ceiling a deployment configured by TOG_VLM_* gets, so the document tools use their 24 tiles.
    limits = ImageLimits(max_tiles=DEFAULT_MAX_TILES)
    model = TransformersBackend(tiny_internvl(workdir / "tiny-internvl"), device="cpu", limits=limits)
    configure_vlm(TokenCapped(model, TINY_TOKENS))

    def undo() -> None:
        configure_vlm(None)
        model.close()

    note = (
        f"model tools on the tiny random InternVL, answers cut to {TINY_TOKENS} new tokens: "
        "our overhead, not model quality or a real model's speed"
    )
    return note, undo


class TokenCapped(VLMBackend):
    """A backend whose answers are cut to ``tokens`` new tokens (each request's other settings are kept)."""

    name = "token-capped"

    def __init__(self, inner: VLMBackend, tokens: int) -> None:
        self.inner, self.tokens, self.limits = inner, tokens, inner.limits

    def capped(self, request: ChatRequest) -> ChatRequest:
        tokens = min(self.tokens, request.generation.max_new_tokens)
        generation = request.generation.model_copy(update={"max_new_tokens": tokens})
        return request.model_copy(update={"generation": generation})

    def batch_chat(self, requests: Sequence[ChatRequest]) -> list[str]:
        return self.inner.batch_chat([self.capped(r) for r in requests])

    def stream(self, request: ChatRequest) -> Iterator[str]:
        return self.inner.stream(self.capped(request))


def measure(repeat: int, only: Sequence[str], tiny_vlm: bool) -> tuple[list[list[str]], dict[str, Any], list[str]]:
    from graph.spec import Device
    from tools.base import availability
    from tools.models import ModelOutputError
    from tools.registry import default_registry

    notes: list[str] = []
    tools_ms: dict[str, float] = {}
    cold_ms: dict[str, float] = {}
    skipped: dict[str, str] = {}
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="tog-bench-tools-") as tmp:
        workdir = Path(tmp)
        undo: Callable[[], None] = lambda: None  # noqa: E731
        if tiny_vlm:
            note, undo = configure_tiny_vlm(workdir)
            notes.append(note)
        samples = SampleInputs(workdir)
        try:
            for item in default_registry():
                spec = item.spec
                if (only and spec.name not in only) or (tiny_vlm and spec.device is not Device.GPU):
                    continue
                ok, reason = availability(item)
                if not ok:
                    skipped[spec.name] = f"unavailable: {reason}"
                    continue
                try:
                    arguments = samples.arguments(spec)
                except LookupError as exc:
                    skipped[spec.name] = str(exc)
                    continue
                print(f"timing {spec.name}...", file=sys.stderr, flush=True)
                cold, _, error = timed(lambda item=item, arguments=arguments: item(**arguments))
                # A toy model's noise may not parse; the call still ran end to end, which is what is timed.
                unparsed = tiny_vlm and isinstance(error, ModelOutputError)
                if error is not None and not unparsed:
                    skipped[spec.name] = f"rejected the sample inputs: {type(error).__name__}: {error}"
                    continue
                warm = median(timed(lambda item=item, arguments=arguments: item(**arguments))[0] for _ in range(repeat))
                tools_ms[spec.name], cold_ms[spec.name] = round(warm, 3), round(cold, 3)
                rows.append(
                    [
                        spec.name,
                        spec.device.value,
                        fmt(cold),
                        fmt(warm),
                        fmt(cold / max(warm, 1e-9), 1) + "x",
                        "toy answer unparsed" if unparsed else "",
                    ]
                )
        finally:
            undo()
    for name, reason in sorted(skipped.items()):
        rows.append([name, "", "", "", "", f"skipped: {reason}"])
    figures = {
        "tools_ms": tools_ms,
        "cold_ms": cold_ms,
        "skipped": skipped,
        "repeat": repeat,
        "image": f"{WIDTH}x{HEIGHT}",
        "tiny_vlm": tiny_vlm,
        "machine": machine(),
    }
    if tiny_vlm:
        figures["tiny_tokens"] = TINY_TOKENS
    return rows, figures, notes


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tools", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 warm calls per tool (< 1 minute)")
    parser.add_argument("--repeat", type=int, default=None, help="warm calls per tool (default 9, quick 3)")
    parser.add_argument("--only", nargs="*", default=[], help="time only these tools")
    parser.add_argument(
        "--tiny-vlm",
        action="store_true",
        help="time the InternVL and text tools on the tiny test model instead (our overhead only)",
    )
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (3 if args.quick else 9)
    if args.repeat < 1:
        parser.error("--repeat must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    single_thread_torch()
    rows, figures, notes = measure(args.repeat, args.only, args.tiny_vlm)
    print(f"machine: {machine()}; image {WIDTH}x{HEIGHT}; warm = median of {args.repeat} calls after the first")
    for note in notes:
        print(f"note: {note}")
    title = "Model tool overhead on the tiny InternVL (CPU)" if args.tiny_vlm else "Tool latency (CPU)"
    print_table(title, ["tool", "device", "cold ms", "warm ms", "cold / warm", "note"], rows)
    figures["quick"] = args.quick
    emit_json(figures)
    return figures


if __name__ == "__main__":
    main()
