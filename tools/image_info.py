"""What an image is (size, mode, format, EXIF orientation and camera fields), and turning it upright.

Phone cameras store pixels as the sensor read them and record in the EXIF Orientation tag (1 to 8) how
to turn them for display; a tool that ignores the tag sees a sideways photo and returns boxes in the
wrong frame. :func:`image_info` reports the tag and the upright size; :func:`fix_orientation` applies it.
Pillow only, no model; EXIF that cannot be parsed is reported as absent, never as an error.

    >>> from PIL import Image
    >>> from tools.image_info import image_info
    >>> image_info(image=Image.new("RGB", (64, 48)))["info"]["summary"]
    '64x48 RGB image, 3 bands, no EXIF orientation'
"""

from __future__ import annotations

from typing import Any

from PIL import ExifTags, ImageOps
from PIL import Image as PILImage

from tools.annotations import Image, Json
from tools.base import Tool, tool
from tools.image_ops import check_image

_ORIENTATION = int(ExifTags.Base.Orientation)

#: EXIF orientation -> what a viewer must do to show the stored pixels upright.
ORIENTATIONS: dict[int, str] = {
    1: "upright",
    2: "needs a horizontal flip",
    3: "needs a 180 degree turn",
    4: "needs a vertical flip",
    5: "needs a transpose (flip across the top-left to bottom-right diagonal)",
    6: "needs a 90 degree clockwise turn",
    7: "needs a transverse flip (across the top-right to bottom-left diagonal)",
    8: "needs a 90 degree counter-clockwise turn",
}

#: EXIF fields worth reporting: output key -> tag. DateTimeOriginal lives in the Exif sub-IFD.
_CAMERA_FIELDS = {
    "make": ExifTags.Base.Make,
    "model": ExifTags.Base.Model,
    "software": ExifTags.Base.Software,
    "datetime": ExifTags.Base.DateTime,
}
_SUB_IFD_FIELDS = {"datetime_original": ExifTags.Base.DateTimeOriginal}


def _exif(image: PILImage.Image) -> PILImage.Exif | None:
    try:
        return image.getexif()
    except Exception:
        return None


def exif_orientation(image: PILImage.Image) -> int | None:
    """The EXIF Orientation tag as an int, or ``None`` when there is none (or the EXIF is unreadable)."""
    exif = _exif(image)
    value = exif.get(_ORIENTATION) if exif is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@tool(domains=("image-processing", "image-perception"))
def image_info(image: Image) -> Json:
    """Get an image's size and properties: resolution (width and height in pixels), colour mode, file
    format, transparency, EXIF orientation (is the photo stored sideways?) and camera make, model and date.

    Args:
        image: the image to describe.

    Returns:
        info: a JSON object with width, height, mode, bands, has_alpha, format, frames, orientation
            (1-8 or null), orientation_meaning, upright_width, upright_height, exif (camera fields found)
            and a one-line summary.
    """
    check_image(image)
    width, height = image.size
    orientation = exif_orientation(image)
    meaning = ORIENTATIONS.get(orientation, "not a valid EXIF orientation") if orientation is not None else None
    turned = orientation in (5, 6, 7, 8)
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    frames = int(getattr(image, "n_frames", 1) or 1)
    info: dict[str, Any] = {
        "width": width,
        "height": height,
        "mode": image.mode,
        "bands": list(image.getbands()),
        "has_alpha": has_alpha,
        "format": image.format,
        "frames": frames,
        "orientation": orientation,
        "orientation_meaning": meaning,
        "upright_width": height if turned else width,
        "upright_height": width if turned else height,
        "exif": _camera_fields(image),
    }
    info["summary"] = _summary(info)
    return info


def _camera_fields(image: PILImage.Image) -> dict[str, str]:
    exif = _exif(image)
    if exif is None:
        return {}
    found = {key: exif.get(tag) for key, tag in _CAMERA_FIELDS.items()}
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:
        sub = {}
    found.update({key: sub.get(tag) for key, tag in _SUB_IFD_FIELDS.items()})
    cleaned = {key: value.replace("\x00", "").strip() for key, value in found.items() if isinstance(value, str)}
    return {key: value for key, value in cleaned.items() if value}


def _summary(info: dict[str, Any]) -> str:
    parts = [f"{info['width']}x{info['height']} {info['mode']}"]
    if info["format"]:
        parts.append(info["format"])
    text = " ".join(parts) + f" image, {len(info['bands'])} band{'s' if len(info['bands']) != 1 else ''}"
    if info["has_alpha"]:
        text += ", with transparency"
    if info["frames"] > 1:
        text += f", {info['frames']} frames"
    if info["orientation"] is None:
        return text + ", no EXIF orientation"
    text += f", EXIF orientation {info['orientation']} ({info['orientation_meaning']})"
    if (info["upright_width"], info["upright_height"]) != (info["width"], info["height"]):
        text += f", shown upright as {info['upright_width']}x{info['upright_height']}"
    return text


@tool(domains=("image-processing",))
def fix_orientation(image: Image) -> Image:
    """Turn a sideways or upside-down photo upright using its EXIF orientation tag (auto-rotate a phone photo).

    Applies the rotation or flip the tag asks for and removes the tag, so every later tool sees the
    picture the way a photo viewer shows it. An image without the tag (or already upright) is returned
    as an unchanged copy.

    Args:
        image: the photo to straighten.

    Returns:
        image: the upright image, without an orientation tag.
    """
    check_image(image)
    if exif_orientation(image) in (None, 1) or exif_orientation(image) not in ORIENTATIONS:
        return image.copy()  # exif_transpose would do the same, after parsing the EXIF once more
    return ImageOps.exif_transpose(image)


TOOLS: tuple[Tool, ...] = (image_info, fix_orientation)
