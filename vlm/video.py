"""Sampling video frames the way InternVL's reference does: the middles of N equal segments.

:func:`sample_indices` is the reference's frame choice; :func:`load_video_frames` decodes those frames
from a video file with PyAV (any container and codec FFmpeg reads) or from an animated image (GIF,
WebP, APNG) with PIL. Each frame then becomes one 448 tile (:func:`vlm.preprocess.preprocess_frames`).

Decoding runs once through the stream and stops after the last frame needed; frames in between are
decoded (inter-frame codecs need them) but never converted to RGB. No seeking: keyframe seeks land
on different frames in different containers, and exact frame indices matter more here than speed on
very long videos.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlm.errors import VideoInputError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage


def sample_indices(
    num_frames: int,
    num_segments: int,
    fps: float | None = None,
    bound: tuple[float, float] | None = None,
) -> list[int]:
    """Frame indices at the middles of ``num_segments`` equal segments, exactly as the reference.

    With ``last = num_frames - 1``, the range is ``[start, end]`` = ``[0, last]``, or with
    ``bound = (t0, t1)`` seconds ``[max(0, round(t0·fps)), min(round(t1·fps), last)]``. Then
    ``seg = (end - start) / num_segments`` and frame ``k`` is ``int(start + seg/2 + round(seg·k))``
    (``round`` halves to even). The reference spans ``last``, not ``num_frames``, so the final frame is
    never taken unless segments repeat frames.

    >>> sample_indices(32, 8)
    [1, 5, 9, 13, 17, 20, 24, 28]
    >>> sample_indices(100, 4, fps=10, bound=(2.0, 6.0))
    [25, 35, 45, 55]
    """
    if num_segments < 1:
        raise ValueError(f"num_segments must be at least 1, got {num_segments}")
    if num_frames < 1:
        raise VideoInputError("the video has no frames to sample", num_frames=num_frames)
    last = num_frames - 1
    if bound is None:
        start, end = 0, last
    else:
        if fps is None or not fps > 0:
            raise ValueError("sampling between two timestamps (bound) needs the video's fps")
        start = max(0, round(bound[0] * fps))
        end = min(round(bound[1] * fps), last)
        if end < start:
            raise VideoInputError(
                f"no frames between {bound[0]} s and {bound[1]} s in a video of {num_frames} frames at {fps} fps",
                bound=list(bound),
                num_frames=num_frames,
            )
    segment = (end - start) / num_segments
    return [int(start + segment / 2 + round(segment * k)) for k in range(num_segments)]


def load_video_frames(
    path: str | Path, num_segments: int = 8, bound: tuple[float, float] | None = None
) -> list[PILImage]:
    """``num_segments`` RGB frames sampled from a video file or an animated image, in time order.

    >>> import os, tempfile
    >>> from PIL import Image
    >>> frames = [Image.new("RGB", (8, 8), (10 * k, 0, 0)) for k in range(10)]
    >>> handle, gif = tempfile.mkstemp(suffix=".gif"); os.close(handle)
    >>> frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    >>> [frame.getpixel((0, 0))[0] for frame in load_video_frames(gif, num_segments=3)]
    [10, 40, 70]
    >>> os.remove(gif)
    """
    source = Path(path)
    if not source.is_file():
        problem = "is not a file" if source.exists() else "not found"
        raise VideoInputError(f"video file {problem}: {source}", source=str(source))
    if source.stat().st_size == 0:
        raise VideoInputError(f"video file is empty: {source}", source=str(source))
    frames = _animated_image_frames(source, num_segments, bound)
    if frames is None:
        frames = _decoded_frames(source, num_segments, bound)
    return frames


def _animated_image_frames(source: Path, num_segments: int, bound: tuple[float, float] | None) -> list[PILImage] | None:
    """Frames of a GIF/WebP/APNG through PIL, or None when PIL does not recognise the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(source)
    except (UnidentifiedImageError, Image.DecompressionBombError):
        return None  # not an image: let FFmpeg try
    except OSError as exc:
        raise VideoInputError(f"cannot read {source}: {exc}", source=str(source)) from None
    with image:
        count = getattr(image, "n_frames", 1)
        duration_ms = image.info.get("duration") or 0
        fps = 1000.0 / duration_ms if duration_ms else None
        indices = sample_indices(count, num_segments, fps, bound)
        picked: dict[int, PILImage] = {}
        try:
            for index in sorted(set(indices)):
                image.seek(index)
                picked[index] = image.convert("RGB")
        except (OSError, EOFError, ValueError) as exc:
            raise VideoInputError(f"cannot decode frame of {source}: {exc}", source=str(source)) from None
    return [picked[index] for index in indices]


def _decoded_frames(source: Path, num_segments: int, bound: tuple[float, float] | None) -> list[PILImage]:
    import av

    try:
        count, fps = _probe(source)
        for _ in range(2):
            indices = sample_indices(count, num_segments, fps, bound)
            picked, decoded = _decode_at(source, set(indices))
            if len(picked) == len(set(indices)):
                return [picked[index] for index in indices]
            # The container promised more frames than decode: sample again from those that do.
            if decoded == 0:
                break
            count = decoded
    except (av.FFmpegError, OSError) as exc:
        raise VideoInputError(f"cannot decode video {source}: {exc}", source=str(source)) from None
    raise VideoInputError(f"no decodable video frames in {source}", source=str(source))


def _probe(source: Path) -> tuple[int, float | None]:
    """(frame count, fps) of the first video stream; counts packets when the header has no count."""
    import av

    with av.open(str(source)) as container:
        stream = _video_stream(container, source)
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if isinstance(rate, (Fraction, int, float)) and rate > 0 else None
        count = stream.frames
        if count <= 0:
            # Matroska/WebM and raw streams store no count: one packet carries one frame.
            count = sum(1 for packet in container.demux(stream) if packet.size > 0)
    if count <= 0:
        raise VideoInputError(f"the video stream of {source} has no frames", source=str(source))
    if fps is not None and not math.isfinite(fps):
        fps = None
    return count, fps


def _decode_at(source: Path, wanted: set[int]) -> tuple[dict[int, PILImage], int]:
    """The wanted frames as RGB images, and how many frames were decoded (stops after the last wanted)."""
    import av

    picked: dict[int, PILImage] = {}
    last_wanted = max(wanted)
    decoded = 0
    with av.open(str(source)) as container:
        stream = _video_stream(container, source)
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            decoded = index + 1
            if index in wanted:
                picked[index] = frame.to_image()
            if index >= last_wanted:
                break
    return picked, decoded


#: FFmpeg demuxers that turn files which are not videos into frames (``tty`` renders any text file).
_NOT_VIDEO_FORMATS = frozenset({"tty"})


def _video_stream(container: Any, source: Path) -> Any:
    if container.format.name in _NOT_VIDEO_FORMATS:
        message = f"{source} is not a video (FFmpeg reads it as {container.format.name})"
        raise VideoInputError(message, source=str(source))
    if not container.streams.video:
        raise VideoInputError(f"{source} has no video stream", source=str(source))
    return container.streams.video[0]
