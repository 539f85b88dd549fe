"""Image operations that run anywhere: crop, resize, rotate, flip, grayscale, draw and redact boxes.
Pillow and numpy only, no model. Brightness, contrast, mask overlays and concatenation live in
:mod:`tools.image_adjust`, size/EXIF inspection in :mod:`tools.image_info`, and the box-list tools
(``count_boxes``, ``select_boxes``, sorting, top-k) in :mod:`tools.list_ops` (re-exported here).

Boxes are in pixel coordinates of the image they go with. Boxes reaching past the image edge are clamped
to it; an empty or inverted box, or one wholly outside the image, is a :class:`ToolInputError` naming
``boxes`` (it almost always means coordinates from another image). Operations that edit regions (draw,
blur) return an unchanged copy for an empty box list, because "no faces found" is a normal result in a
"find faces, then blur them" plan; cropping to no box has no answer and is an error.

    >>> from PIL import Image
    >>> from tools.image_ops import crop_image
    >>> crop_image(image=Image.new("RGB", (64, 48)), boxes=[{"x1": 8, "y1": 4, "x2": 40, "y2": 20}])["image"].size
    (32, 16)
"""

from __future__ import annotations

import math
import typing
from typing import Literal

from PIL import Image as PILImage
from PIL import ImageColor, ImageDraw, ImageFilter, ImageFont

from graph.artifacts import DEFAULT_MAX_PIXELS
from graph.types import BBox
from tools.annotations import BBoxes, Image
from tools.base import Tool, tool
from tools.errors import ToolInputError
from tools.list_ops import count_boxes, select_boxes  # noqa: F401 - moved there; kept importable from here

#: Longest side an operation may produce; beyond this a request is a mistake, not a wish.
MAX_SIDE = 20_000
_EDIT = ("image-editing",)
_PROCESS = ("image-editing", "image-processing")

PixelBox = tuple[int, int, int, int]


# --- shared checks ----------------------------------------------------------------------------------


def pixel_boxes(image: PILImage.Image, boxes: list[BBox]) -> list[PixelBox]:
    """Whole-pixel boxes clamped to ``image`` (outward rounding, so a box never loses its edge pixels)."""
    width, height = image.size
    result = []
    for index, box in enumerate(boxes):
        coords = (box.x1, box.y1, box.x2, box.y2)
        if not all(math.isfinite(c) for c in coords):
            raise ToolInputError(f"box {index} has a non-finite coordinate: {coords}", argument="boxes")
        if not (box.x2 > box.x1 and box.y2 > box.y1):
            raise ToolInputError(
                f"box {index} {coords} is empty or inverted: it needs x2 > x1 and y2 > y1", argument="boxes"
            )
        x1, y1 = max(0, math.floor(box.x1)), max(0, math.floor(box.y1))
        x2, y2 = min(width, math.ceil(box.x2)), min(height, math.ceil(box.y2))
        if x2 <= x1 or y2 <= y1:
            raise ToolInputError(f"box {index} {coords} lies outside the {width}x{height} image", argument="boxes")
        result.append((x1, y1, x2, y2))
    return result


def check_size(width: int, height: int, argument: str) -> None:
    if width < 1 or height < 1:
        raise ToolInputError(
            f"the result would be {width}x{height} pixels; both sides must be at least 1", argument=argument
        )
    if max(width, height) > MAX_SIDE or width * height > DEFAULT_MAX_PIXELS:
        raise ToolInputError(
            f"the result would be {width}x{height} pixels; the limit is {MAX_SIDE} per side and "
            f"{DEFAULT_MAX_PIXELS} in all",
            argument=argument,
        )


def check_image(image: PILImage.Image, argument: str = "image") -> PILImage.Image:
    """Refuse an image no operation can use, naming ``argument``: no pixels, over the store's pixel limit,
    or undecodable (a lazily opened truncated file fails here, not deep inside a filter)."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ToolInputError(f"{argument} has no pixels ({width}x{height})", argument=argument)
    if width * height > DEFAULT_MAX_PIXELS:
        raise ToolInputError(
            f"{argument} is {width}x{height} = {width * height:,} pixels; the limit is {DEFAULT_MAX_PIXELS:,}",
            argument=argument,
        )
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:  # "image file is truncated", …
        raise ToolInputError(f"cannot decode {argument}: {exc}", argument=argument) from None
    return image


def parse_color(color: str, argument: str, mode: str = "RGB") -> tuple[int, ...] | int:
    """A colour name or hex code as a pixel value of ``mode``, or a :class:`ToolInputError` naming ``argument``."""
    try:
        return ImageColor.getcolor(color, mode)
    except ValueError:
        raise ToolInputError(
            f"unknown colour {color!r}; use a name like 'red' or a hex code like '#00ff00'", argument=argument
        ) from None


def editable_copy(image: PILImage.Image, *, colour: bool = False) -> PILImage.Image:
    """A copy in a mode every filter works in (L/LA kept unless ``colour``, others to RGB/RGBA)."""
    if image.mode in (("RGB", "RGBA") if colour else ("L", "LA", "RGB", "RGBA")):
        return image.copy()
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


# --- geometry ---------------------------------------------------------------------------------------


@tool(domains=_EDIT)
def crop_image(image: Image, boxes: BBoxes) -> Image:
    """Crop an image to one object or region given by a bounding box, keeping only that part of the picture.

    When several boxes are given, crops to the one with the highest score (the first box when none has a
    score). Select the wanted boxes first to crop something else.

    Args:
        image: the image to crop.
        boxes: boxes in pixel coordinates of the image, e.g. from object detection or grounding.

    Returns:
        image: the cropped region, exactly the size of the box (clipped to the image).
    """
    check_image(image)
    if not boxes:
        raise ToolInputError("there is no box to crop to", argument="boxes")
    regions = pixel_boxes(image, boxes)
    best = max(range(len(boxes)), key=lambda i: (boxes[i].score if boxes[i].score is not None else -1.0, -i))
    return image.crop(regions[best])


@tool(domains=_PROCESS)
def resize_image(
    image: Image, width: int | None = None, height: int | None = None, scale: float | None = None
) -> Image:
    """Resize or rescale an image to a new width and height in pixels, or by a scale factor.

    Give ``scale``, or ``width`` and/or ``height``; with only one side given the aspect ratio is kept.

    Args:
        image: the image to resize.
        width: the new width in pixels.
        height: the new height in pixels.
        scale: a factor applied to both sides, e.g. 0.5 halves the image.

    Returns:
        image: the resized image.
    """
    check_image(image)
    old_w, old_h = image.size
    if scale is not None:
        if width is not None or height is not None:
            raise ToolInputError("give either scale or width/height, not both", argument="scale")
        if scale <= 0:
            raise ToolInputError(f"scale must be positive, got {scale}", argument="scale")
        new_w, new_h, argument = round(old_w * scale), round(old_h * scale), "scale"
    elif width is None and height is None:
        raise ToolInputError("give width, height or scale", argument="width")
    else:
        for name, value in (("width", width), ("height", height)):
            if value is not None and value < 1:
                raise ToolInputError(f"{name} must be at least 1 pixel, got {value}", argument=name)
        new_w = width if width is not None else round(old_w * height / old_h)  # type: ignore[operator]
        new_h = height if height is not None else round(old_h * width / old_w)  # type: ignore[operator]
        argument = "width" if width is not None else "height"
    check_size(new_w, new_h, argument)
    return image.resize((new_w, new_h), PILImage.Resampling.LANCZOS)


@tool(domains=_PROCESS)
def rotate_image(image: Image, angle: float = 90.0, expand: bool = True) -> Image:
    """Rotate an image counter-clockwise by an angle in degrees (use a negative angle for clockwise).

    Multiples of 90 degrees are exact; other angles are interpolated and the uncovered corners filled
    black (transparent for images with alpha).

    Args:
        image: the image to rotate.
        angle: degrees counter-clockwise.
        expand: grow the canvas so nothing is cut off; false keeps the original size and cuts corners.

    Returns:
        image: the rotated image.
    """
    check_image(image)
    turns = angle % 360
    if turns == 0:
        return image.copy()
    if turns % 90 == 0 and (expand or turns == 180 or image.width == image.height):
        transpose = {
            90: PILImage.Transpose.ROTATE_90,
            180: PILImage.Transpose.ROTATE_180,
            270: PILImage.Transpose.ROTATE_270,
        }[int(turns)]
        return image.transpose(transpose)
    source = editable_copy(image)
    if expand:
        check_size(*_rotated_size(image.size, turns), "angle")
    return source.rotate(turns, resample=PILImage.Resampling.BICUBIC, expand=expand)


def _rotated_size(size: tuple[int, int], degrees: float) -> tuple[int, int]:
    rad = math.radians(degrees)
    w, h = size
    return (
        math.ceil(abs(w * math.cos(rad)) + abs(h * math.sin(rad))),
        math.ceil(abs(w * math.sin(rad)) + abs(h * math.cos(rad))),
    )


@tool(domains=_PROCESS)
def flip_image(image: Image, direction: Literal["horizontal", "vertical"] = "horizontal") -> Image:
    """Flip (mirror) an image horizontally, left to right, or vertically, upside down.

    Args:
        image: the image to flip.
        direction: "horizontal" mirrors left and right; "vertical" mirrors top and bottom.

    Returns:
        image: the mirrored image.
    """
    check_image(image)
    flip = PILImage.Transpose.FLIP_LEFT_RIGHT if direction == "horizontal" else PILImage.Transpose.FLIP_TOP_BOTTOM
    return image.transpose(flip)


@tool(domains=_PROCESS)
def grayscale_image(image: Image) -> Image:
    """Convert a colour image to grayscale (black and white), keeping transparency.

    Args:
        image: the image to convert.

    Returns:
        image: the grayscale image (mode "L", or "LA" when it has alpha).
    """
    check_image(image)
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("LA" if has_alpha else "L")


# --- boxes on images ----------------------------------------------------------------------------------


# A picture with boxes drawn on it is for people: a detector or captioner given it would read the drawing.
@tool(domains=_EDIT, groups=("annotation",), not_before=("image-understanding",))
def draw_boxes(image: Image, boxes: BBoxes, color: str = "red", width: int = 3) -> Image:
    """Highlight objects on an image by drawing their bounding boxes as rectangles with their labels.

    Args:
        image: the image to draw on (it is not modified; a copy is returned).
        boxes: the boxes to draw, in pixel coordinates; labels and scores are written above them.
        color: a colour name or hex code for the rectangles, e.g. "red" or "#00ff00".
        width: the line width in pixels.

    Returns:
        image: a copy of the image with the boxes drawn.
    """
    check_image(image)
    rgb = typing.cast(tuple[int, int, int], parse_color(color, "color"))
    if not 1 <= width <= 100:
        raise ToolInputError(f"width must be between 1 and 100 pixels, got {width}", argument="width")
    if not boxes:
        return image.copy()
    regions = pixel_boxes(image, boxes)
    canvas = editable_copy(image, colour=True)
    draw = ImageDraw.Draw(canvas)
    font = _font(max(12, min(canvas.size) // 40))
    text_fill = (0, 0, 0) if sum(rgb) > 382 else (255, 255, 255)
    for box, (x1, y1, x2, y2) in zip(boxes, regions):
        draw.rectangle((x1, y1, x2 - 1, y2 - 1), outline=rgb, width=width)
        caption = _caption(box)
        if caption:
            left, top, right, bottom = draw.textbbox((0, 0), caption, font=font)
            tw, th = right - left + 4, bottom - top + 4
            ty = y1 - th if y1 - th >= 0 else y1
            draw.rectangle((x1, ty, x1 + tw, ty + th), fill=rgb)
            draw.text((x1 + 2 - left, ty + 2 - top), caption, fill=text_fill, font=font)
    return canvas


def _caption(box: BBox) -> str:
    parts = [box.label or ""]
    if box.score is not None:
        parts.append(f"{box.score:.2f}")
    return " ".join(p for p in parts if p)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ValueError, TypeError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


@tool(domains=_EDIT)
def blur_regions(
    image: Image, boxes: BBoxes, method: Literal["blur", "pixelate"] = "blur", strength: float = 12.0
) -> Image:
    """Blur or pixelate regions of an image to hide them, e.g. anonymise faces, licence plates or text.

    Only pixels inside the boxes change.

    Args:
        image: the image to redact (it is not modified; a copy is returned).
        boxes: the regions to hide, in pixel coordinates.
        method: "blur" for a Gaussian blur, "pixelate" for coarse blocks.
        strength: the blur radius, or the block size, in pixels (1 to 200).

    Returns:
        image: a copy of the image with the regions hidden.
    """
    check_image(image)
    if not 1 <= strength <= 200:
        raise ToolInputError(f"strength must be between 1 and 200 pixels, got {strength}", argument="strength")
    if not boxes:
        return image.copy()
    regions = pixel_boxes(image, boxes)
    canvas = editable_copy(image)
    for region in regions:
        patch = canvas.crop(region)
        if method == "blur":
            patch = patch.filter(ImageFilter.GaussianBlur(radius=strength))
        else:
            block = max(1, round(strength))
            small = (max(1, math.ceil(patch.width / block)), max(1, math.ceil(patch.height / block)))
            patch = patch.resize(small, PILImage.Resampling.BOX).resize(patch.size, PILImage.Resampling.NEAREST)
        canvas.paste(patch, region[:2])
    return canvas


TOOLS: tuple[Tool, ...] = (
    crop_image,
    resize_image,
    rotate_image,
    flip_image,
    grayscale_image,
    draw_boxes,
    blur_regions,
)
