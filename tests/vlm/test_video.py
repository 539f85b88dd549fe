"""Video frame sampling: the reference's indices, real decoding with PyAV, animated images, bad files."""

from __future__ import annotations

import doctest
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import vlm.video
from vlm.errors import VideoInputError
from vlm.preprocess import preprocess_frames
from vlm.video import load_video_frames, sample_indices

FRAMES = 32
FPS = 8


def level(k: int) -> int:
    """Frame k is a flat grey of this level, so a decoded frame tells which frame it was."""
    return 10 + 7 * k


def which_frame(image: Image.Image) -> int:
    """Exact for lossless GIF frames; lossy codecs shift levels by a few, so videos use decode_all."""
    mean = float(np.asarray(image, dtype=np.float32).mean())
    return int(round((mean - 10) / 7))


def decode_all(path: Path) -> list[np.ndarray]:
    """Every frame of the video, decoded plainly in order: the ground truth for sampled frames."""
    with av.open(str(path)) as container:
        return [np.asarray(frame.to_image()) for frame in container.decode(video=0)]


def assert_frames(sampled: list[Image.Image], every: list[np.ndarray], indices: list[int]) -> None:
    assert len(sampled) == len(indices)
    for image, index in zip(sampled, indices):
        assert np.array_equal(np.asarray(image), every[index]), index


def write_video(path: Path, codec: str = "mpeg4", frames: int = FRAMES, options: dict | None = None) -> Path:
    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(frames):
            pixels = np.full((48, 64, 3), level(k), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def reference_indices(num_frames, num_segments, fps=None, bound=None):
    """The reference's formula transcribed with numpy rounding, as an independent check."""
    start, end = (-100000, 100000) if bound is None else bound
    start_idx = max(0, round(start * fps)) if bound else 0
    end_idx = min(round(end * fps), num_frames - 1) if bound else num_frames - 1
    seg = float(end_idx - start_idx) / num_segments
    return [int(start_idx + seg / 2 + np.round(seg * idx)) for idx in range(num_segments)]


def test_indices_are_segment_middles():
    assert sample_indices(32, 8) == [1, 5, 9, 13, 17, 20, 24, 28]
    assert sample_indices(9, 4) == [1, 3, 5, 7]
    assert sample_indices(1, 3) == [0, 0, 0]
    assert sample_indices(5, 8) == [0, 0, 1, 2, 2, 2, 3, 4]  # repeats; round() halves to even


def test_indices_match_the_reference_formula():
    rng = np.random.default_rng(3)
    for _ in range(2000):
        frames = int(rng.integers(1, 5000))
        segments = int(rng.integers(1, 65))
        assert sample_indices(frames, segments) == reference_indices(frames, segments)
        fps = float(rng.choice([8.0, 23.976, 25.0, 29.97, 30.0, 60.0]))
        duration = frames / fps
        t0 = float(rng.uniform(0, duration * 0.8))
        bound = (t0, float(rng.uniform(t0, duration * 1.2)))
        if min(round(bound[1] * fps), frames - 1) >= max(0, round(bound[0] * fps)):
            got = sample_indices(frames, segments, fps=fps, bound=bound)
            assert got == reference_indices(frames, segments, fps, bound)
            assert all(0 <= i < frames for i in got) and got == sorted(got)


def test_bad_sampling_arguments():
    with pytest.raises(VideoInputError):
        sample_indices(0, 8)
    with pytest.raises(ValueError):
        sample_indices(10, 0)
    with pytest.raises(ValueError):
        sample_indices(10, 2, bound=(0.0, 1.0))  # seconds need an fps
    with pytest.raises(VideoInputError):
        sample_indices(10, 2, fps=10, bound=(5.0, 6.0))  # starts after the last frame


@pytest.mark.parametrize(("codec", "suffix"), [("mpeg4", ".mp4"), ("mpeg4", ".mkv"), ("libx264", ".mp4")])
def test_decoded_frames_are_the_sampled_ones(tmp_path, codec, suffix):
    if codec not in av.codecs_available:
        pytest.skip(f"{codec} is not in this FFmpeg build")
    path = write_video(tmp_path / f"clip{suffix}", codec)
    if suffix == ".mkv":  # Matroska stores no frame count: the loader must count for itself
        with av.open(str(path)) as container:
            assert container.streams.video[0].frames == 0
    frames = load_video_frames(path, num_segments=8)
    every = decode_all(path)
    assert len(every) == FRAMES and len({int(f.mean()) for f in every}) == FRAMES  # all frames differ
    assert_frames(frames, every, sample_indices(FRAMES, 8))
    assert all(frame.mode == "RGB" and frame.size == (64, 48) for frame in frames)


def test_bound_restricts_sampling_to_a_time_window(tmp_path):
    path = write_video(tmp_path / "clip.mp4")
    frames = load_video_frames(path, num_segments=4, bound=(1.0, 3.0))  # frames 8..24 at 8 fps
    indices = sample_indices(FRAMES, 4, fps=FPS, bound=(1.0, 3.0))
    assert all(8 <= i <= 24 for i in indices)
    assert_frames(frames, decode_all(path), indices)


def test_frames_feed_preprocessing_one_tile_each(tmp_path):
    frames = load_video_frames(write_video(tmp_path / "clip.mp4"), num_segments=8)
    batch = preprocess_frames(frames)
    assert batch.num_patches == [1] * 8 and batch.pixel_values.shape == (8, 3, 448, 448)


def test_animated_gif_is_read_with_pil(tmp_path):
    frames = [Image.new("RGB", (16, 12), (level(k),) * 3) for k in range(20)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=125)
    sampled = load_video_frames(path, num_segments=5)
    assert [which_frame(frame) for frame in sampled] == sample_indices(20, 5)
    timed = load_video_frames(path, num_segments=2, bound=(0.5, 1.5))  # 8 fps from 125 ms per frame
    assert [which_frame(frame) for frame in timed] == sample_indices(20, 2, fps=8.0, bound=(0.5, 1.5))


def test_bad_video_files_raise_video_input_error(tmp_path):
    missing = tmp_path / "missing.mp4"
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    text = tmp_path / "notes.txt"
    text.write_text("not a video at all\n" * 50)
    for path in (missing, empty, garbage, text, tmp_path):
        with pytest.raises(VideoInputError) as info:
            load_video_frames(path)
        assert str(path) in str(info.value)
        assert info.value.to_dict()["code"] == "invalid_video"


def test_a_container_that_overstates_its_frames_is_resampled_from_what_decodes(tmp_path):
    # moov-first MP4 cut in half: the header still promises 32 frames, only a few decode
    path = write_video(tmp_path / "faststart.mp4", options={"movflags": "faststart"})
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with av.open(str(cut)) as container:
        assert container.streams.video[0].frames == FRAMES
    every = decode_all(cut)
    assert 0 < len(every) < FRAMES
    assert_frames(load_video_frames(cut, num_segments=8), every, sample_indices(len(every), 8))


def test_docstring_examples_run():
    assert doctest.testmod(vlm.video).failed == 0
