"""Face detection offline on CPU with scikit-image's LBP frontal-face cascade (no download, no GPU).

``detect_faces`` returns one box labelled ``"face"`` per frontal, upright face, in pixel coordinates of the
image as given (the frame ``blur_regions``, ``crop_image`` and ``draw_boxes`` use), most confident first.
It is a classical Viola-Jones-style cascade (multi-block local binary patterns, the OpenCV
``lbpcascade_frontalface`` model bundled with scikit-image): dependency-free and deterministic, but it
misses faces in profile, strongly tilted (8 degrees is still found), stretched by a resize that changed
the aspect ratio, or smaller than ``min_face_size``, and it now and then fires on face-like texture (a
reflection). Use an InternVL grounding tool when that matters.

How it runs:

1. The image is converted to grayscale and resized to a *working copy* whose shorter side is
   :data:`WORK_SHORT_SIDE` pixels (down- or upscaled; at most 2x up), so the cascade's smallest window of
   24 pixels finds faces down to 1/16 of the shorter side, and the cost no longer grows with the photo's
   resolution. ``min_face_size`` instead sets the scale so that faces of that many original pixels
   fill the smallest window. A working copy is never larger than :data:`MAX_WORK_PIXELS`; very large
   images are always shrunk for detection, and boxes are mapped back to the original pixels.
2. The cascade scans every position at window sizes growing by :data:`SCALE_FACTOR`, and every window
   it accepts is kept (scikit-image's own merging depends on the order its threads finish, so the same
   image could give different boxes).
3. Accepted windows are linked when their intersection-over-union is at least :data:`LINK_IOU`; each
   connected group is one detection, its box the mean of the group's windows. Groups are then merged
   the way a person would: a detection that lies mostly (:data:`NESTED_OVERLAP`) inside a better
   supported one is dropped, so one face gives one box.

**Score.** The cascade says yes or no per window; it has no probability. A true face is accepted by many
overlapping windows at neighbouring positions and sizes, a chance pattern by few, so the score is the
detection's support ``n`` (the number of accepted windows in its group) mapped to 0-1 as
``n / (n + SUPPORT_HALF)``: 0.5 at :data:`SUPPORT_HALF` windows, approaching 1 with more. It ranks
detections of one image and is comparable between images (the working copy has the same scale for
every photo), but it is not the probability that the box holds a face. The default ``min_score`` of 0.5
(8 windows) was tuned on the photos scikit-image ships: it keeps the astronaut's face (support 18, score
0.69) and rejects every detection on ``coffee``, ``chelsea``, ``camera``, ``rocket`` and the textures
(support at most 5); on the 100 faces and 100 non-faces of ``data.lfw_subset()`` (each enlarged into a
200-pixel canvas) it finds 95 of the faces and fires on 2 of the non-faces (0.6: 85 and 0). The cascade
also fires on the astronaut's helmet reflection (support 11, score 0.58): pass ``min_score=0.65`` where
a false face costs more than a missed one (counting people rather than blurring them). No default
removes it for free: the reflection is a symmetric bright oval on the dark visor, found as strongly in
the mirrored photo (support 15) and over as many window sizes (7) as a real face (the astronaut's: 8;
LFW faces: 2-13), its support lies among those of real LFW faces (a default of 0.6 drops it and 10 of
the 95 LFW faces, above), and a larger minimum face size would trade it for the small faces of a group
photo.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from typing import TYPE_CHECKING

from PIL import Image as PILImage

from graph.types import BBox
from tools.annotations import BBoxes, Image
from tools.base import Tool
from tools.errors import ToolExecutionError, ToolInputError, ToolUnavailableError
from tools.image_ops import check_image

if TYPE_CHECKING:
    import numpy as np
    from skimage.feature import Cascade

__all__ = ["TOOLS", "DetectFaces", "detect_faces", "face_cascade", "find_faces"]

#: Shorter side of the working copy by default: with the cascade's 24-pixel window, faces down to 1/16
#: of the image's shorter side are found (24 * 16 = 384).
WORK_SHORT_SIDE = 384
#: Largest working copy (pixels); beyond it the image is shrunk further and small faces are missed.
MAX_WORK_PIXELS = 1_000_000
#: Largest upscale of a small image: more invents no detail and only multiplies false alarms.
MAX_UPSCALE = 2.0
#: Window growth between scanned sizes; 1.1 gives stable support counts (1.2 halves the time).
SCALE_FACTOR = 1.1
#: Windows overlapping at least this much (intersection over union) belong to the same detection.
LINK_IOU = 0.4
#: A detection whose box lies this much (share of its own area) inside a better one is dropped.
NESTED_OVERLAP = 0.5
#: Support at which the score is 0.5 (see the module docstring).
SUPPORT_HALF = 8
#: Smallest min_face_size accepted, in pixels: below it there is no face left to recognise.
MIN_FACE_PIXELS = 8

_MISSING = "scikit-image is not installed (pip install scikit-image)"

_cascade: Cascade | None = None
_cascade_error: str | None = None
_cascade_lock = threading.Lock()


def face_cascade() -> Cascade:
    """The process's cascade, loaded on first use; safe to share (detection only reads it)."""
    global _cascade, _cascade_error
    if _cascade is not None:
        return _cascade
    with _cascade_lock:
        if _cascade is None:
            if _cascade_error is not None:
                raise ToolUnavailableError(_cascade_error)
            try:
                from skimage import data
                from skimage.feature import Cascade

                # scikit-image ships py.typed but leaves this function unannotated.
                _cascade = Cascade(data.lbp_frontal_face_cascade_filename())  # type: ignore[no-untyped-call]
            except Exception as exc:
                _cascade_error = f"the scikit-image face cascade cannot be loaded: {type(exc).__name__}: {exc}"
                raise ToolUnavailableError(_cascade_error) from exc
    return _cascade


def find_faces(image: PILImage.Image, min_face_size: int | None = None, min_score: float = 0.5) -> list[BBox]:
    """Faces in ``image`` as boxes in its pixels, most confident first (see the module docstring)."""
    check_image(image)
    if not 0.0 <= min_score <= 1.0:
        raise ToolInputError(f"min_score must be between 0 and 1, got {min_score}", argument="min_score")
    width, height = image.size
    scale = _work_scale(width, height, min_face_size)
    cascade = face_cascade()
    work = _working_copy(image, scale)
    rows, cols = work.shape
    window = max(cascade.window_width, cascade.window_height)
    if min(rows, cols) <= window:  # the window does not fit: no face can be found
        return []
    try:
        found = cascade.detect_multi_scale(
            img=work,
            scale_factor=SCALE_FACTOR,
            step_ratio=1.0,
            min_size=(window, window),
            max_size=(min(rows, cols), min(rows, cols)),
            min_neighbor_number=1,
            intersection_score_threshold=1.0,  # every accepted window, unmerged
        )
    except Exception as exc:
        raise ToolExecutionError(f"the face cascade failed: {type(exc).__name__}: {exc}") from exc
    windows = sorted((d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"]) for d in found)
    boxes = []
    for support, (x1, y1, x2, y2) in _detections(windows):
        score = round(support / (support + SUPPORT_HALF), 4)
        if score < min_score:
            continue
        x1, y1 = round(max(0.0, x1 / scale), 1), round(max(0.0, y1 / scale), 1)
        x2, y2 = round(min(float(width), x2 / scale), 1), round(min(float(height), y2 / scale), 1)
        if x2 > x1 and y2 > y1:
            boxes.append(BBox(x1=x1, y1=y1, x2=x2, y2=y2, label="face", score=score))
    return boxes


def _work_scale(width: int, height: int, min_face_size: int | None) -> float:
    """Factor from the image to its working copy (see step 1 of the module docstring)."""
    limit = math.sqrt(MAX_WORK_PIXELS / (width * height))
    if min_face_size is None:
        return min(WORK_SHORT_SIDE / min(width, height), MAX_UPSCALE, limit)
    if not MIN_FACE_PIXELS <= min_face_size <= min(width, height):
        raise ToolInputError(
            f"min_face_size must be between {MIN_FACE_PIXELS} and the image's shorter side "
            f"({min(width, height)} pixels), got {min_face_size}",
            argument="min_face_size",
        )
    scale = 24 / min_face_size
    if scale > limit * 1.0001:
        smallest = math.ceil(24 / limit)
        raise ToolInputError(
            f"min_face_size {min_face_size} needs a {round(width * scale)}x{round(height * scale)} working copy "
            f"of this {width}x{height} image; the limit is {MAX_WORK_PIXELS:,} pixels, so the smallest face "
            f"size that can be searched for is {smallest}",
            argument="min_face_size",
        )
    return scale


def _working_copy(image: PILImage.Image, scale: float) -> np.ndarray:
    import numpy as np

    gray = image.convert("L")
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size != gray.size:
        gray = gray.resize(size, PILImage.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.float32) / 255.0


def _detections(windows: list[tuple[int, int, int, int]]) -> list[tuple[int, tuple[float, float, float, float]]]:
    """Group accepted windows (sorted, so the result is deterministic) into ``(support, mean box)``,
    best supported first, with detections nested in a better one removed."""
    import numpy as np

    if not windows:
        return []
    b = np.asarray(windows, dtype=np.float64)
    inter = _intersections(b, b)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou = inter / (area[:, None] + area[None, :] - inter)
    parent = list(range(len(b)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(iou >= LINK_IOU, 1))):
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for i in range(len(b)):
        groups.setdefault(root(i), []).append(i)
    found = sorted(
        ((len(members), tuple(float(v) for v in b[members].mean(axis=0))) for members in groups.values()),
        key=lambda d: (-d[0], d[1]),
    )
    kept: list[tuple[int, tuple[float, float, float, float]]] = []
    for support, box in found:
        mine = np.asarray([box])
        if kept:
            inside = _intersections(mine, np.asarray([k[1] for k in kept]))[0]
            own = (box[2] - box[0]) * (box[3] - box[1])
            if (inside >= NESTED_OVERLAP * own).any():
                continue
        kept.append((support, box))  # type: ignore[arg-type]
    return kept


def _intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    areas: np.ndarray = np.clip(w, 0, None) * np.clip(h, 0, None)
    return areas


class DetectFaces(Tool):
    name = "detect_faces"
    groups = ("image-understanding",)
    domains = ("image-perception",)
    expected_seconds = 1.0

    def available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("skimage") is None:
            return False, _MISSING
        return (False, _cascade_error) if _cascade_error else (True, "")

    def setup(self) -> None:
        face_cascade()

    def forward(self, image: Image, min_face_size: int | None = None, min_score: float = 0.5) -> BBoxes:
        """Detect human faces in a photo: a bounding box labelled "face" around each frontal face, e.g. to
        count the people, crop a face, or blur faces to anonymise a picture.

        A classical cascade detector: finds upright, frontal faces; misses profiles and strongly tilted
        heads. The score is how many overlapping detector windows agree, mapped to 0-1 (not a probability).

        Args:
            image: the photo to search.
            min_face_size: the smallest face to look for, in pixels; by default 1/16 of the image's shorter side.
            min_score: drop detections with less support than this (0 to 1); lower finds more, and more mistakes.

        Returns:
            faces: one box per face in pixel coordinates of the image, most confident first; empty if none.
        """
        return find_faces(image, min_face_size, min_score)


detect_faces = DetectFaces()

TOOLS: tuple[Tool, ...] = (detect_faces,)
