"""Whole-image adjustments and compositing: brightness, contrast, a mask overlay, and concatenation.

Pillow and numpy only, no model. Every tool returns a new image and keeps transparency. Factors are
bounded (0 to :data:`MAX_FACTOR`): beyond that every pixel saturates, so a larger value is a mistake
in the arguments, not a wish. Pixelating regions is ``blur_regions(method="pixelate")`` in
:mod:`tools.image_ops`, not repeated here.

    >>> from PIL import Image
    >>> from tools.image_adjust import adjust_brightness
    >>> adjust_brightness(image=Image.new("RGB", (2, 2), (100, 50, 200)), factor=1.5)["image"].getpixel((0, 0))
    (150, 75, 255)
"""

from __future__ import annotations

import typing
from typing import Literal

import numpy as np
from PIL import Image as PILImage
from PIL import ImageEnhance

from tools.annotations import Image, Mask
from tools.base import Tool, tool
from tools.errors import ToolInputError
from tools.image_ops import check_image, check_size, editable_copy, parse_color

#: Largest brightness or contrast factor accepted (1 keeps the image; 0 gives black or flat grey).
MAX_FACTOR = 5.0
#: Widest gap between concatenated images, in pixels.
MAX_GAP = 1000
#: Integer and float masks (0/1 arrays saved as images) select non-zero pixels; 8-bit ones 128 and above.
_WIDE_MASK_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_PROCESS = ("image-editing", "image-processing")


def _check_factor(factor: float) -> None:
    if not 0.0 <= factor <= MAX_FACTOR:
        raise ToolInputError(
            f"factor must be between 0 and {MAX_FACTOR:g} (1 keeps the image), got {factor}", argument="factor"
        )


@tool(domains=_PROCESS)
def adjust_brightness(image: Image, factor: float = 1.5) -> Image:
    """Make an image brighter or darker by scaling every pixel's brightness, e.g. lighten a dark photo.

    ``factor`` 1 keeps the image, above 1 brightens (1.5 is 50% brighter), below 1 darkens, 0 is black.
    Transparency is kept.

    Args:
        image: the image to adjust (it is not modified; a copy is returned).
        factor: the brightness multiplier, from 0 to 5.

    Returns:
        image: the brightened or darkened image.
    """
    check_image(image)
    _check_factor(factor)
    return ImageEnhance.Brightness(editable_copy(image)).enhance(factor)


@tool(domains=_PROCESS)
def adjust_contrast(image: Image, factor: float = 1.5) -> Image:
    """Increase or reduce the contrast of an image, e.g. make a washed-out photo punchier or soften a harsh one.

    Pixels move away from (factor above 1) or towards (below 1) the image's mean grey level; 1 keeps the
    image and 0 gives flat grey. Transparency is kept.

    Args:
        image: the image to adjust (it is not modified; a copy is returned).
        factor: the contrast multiplier, from 0 to 5.

    Returns:
        image: the image with its contrast changed.
    """
    check_image(image)
    _check_factor(factor)
    return ImageEnhance.Contrast(editable_copy(image)).enhance(factor)


@tool(domains=("image-editing",), groups=("annotation",), not_before=("image-understanding",))
def overlay_mask(image: Image, mask: Mask, color: str = "red", alpha: float = 0.5) -> Image:
    """Highlight a segmented region by tinting the pixels of a mask with a translucent colour on the image.

    Shows where a segmentation mask lies: selected pixels (white in the mask) are blended with ``color``
    at opacity ``alpha``; every other pixel is left exactly as it was. The mask must have the image's size.

    Args:
        image: the image to draw on (it is not modified; a copy is returned).
        mask: a binary mask of the same size as the image, white (or non-zero) = selected.
        color: a colour name or hex code for the tint, e.g. "red" or "#00ff00".
        alpha: the tint's opacity, from 0 (invisible) to 1 (solid colour).

    Returns:
        image: a copy of the image with the masked region tinted.
    """
    check_image(image)
    check_image(mask, "mask")
    rgb = np.array(typing.cast(tuple[int, int, int], parse_color(color, "color")), dtype=np.float64)
    if not 0.0 <= alpha <= 1.0:
        raise ToolInputError(f"alpha must be between 0 and 1, got {alpha}", argument="alpha")
    if mask.size != image.size:
        raise ToolInputError(
            f"mask is {mask.width}x{mask.height} but image is {image.width}x{image.height}; "
            "a mask must have its image's size",
            argument="mask",
        )
    selected = _selected(mask)
    canvas = editable_copy(image, colour=True)
    pixels = np.array(canvas)
    colour_bands = pixels[..., :3]
    blended = np.rint(colour_bands[selected] * (1.0 - alpha) + rgb * alpha)
    colour_bands[selected] = np.clip(blended, 0, 255).astype(np.uint8)
    return PILImage.fromarray(pixels, canvas.mode)


def _selected(mask: PILImage.Image) -> np.ndarray:
    """Boolean array of the selected mask pixels (see :data:`_WIDE_MASK_MODES`)."""
    if mask.mode in _WIDE_MASK_MODES:
        return np.asarray(mask) > 0
    return np.asarray(mask.convert("L")) >= 128


@tool(domains=("image-editing",))
def concat_images(
    image: Image,
    second: Image,
    third: Image | None = None,
    direction: Literal["horizontal", "vertical"] = "horizontal",
    align: Literal["start", "center", "end"] = "center",
    gap: int = 0,
    background: str = "white",
) -> Image:
    """Combine two or three images into one, side by side (horizontally) or stacked (vertically).

    Images keep their sizes. Across the other axis a smaller image is aligned to the start (top or
    left), center or end (bottom or right), and the space around it, and any gap, is filled with
    ``background``.

    Args:
        image: the first image (left, or top).
        second: the second image, placed after the first.
        third: an optional third image, placed after the second.
        direction: "horizontal" puts the images side by side, "vertical" stacks them top to bottom.
        align: where a smaller image sits across the other axis: "start" (top/left), "center" or "end" (bottom/right).
        gap: pixels of background between neighbouring images, 0 to 1000.
        background: a colour name or hex code for the uncovered area; "#rrggbbaa" can be transparent.

    Returns:
        image: the combined image.
    """
    named = [("image", image), ("second", second)] + ([("third", third)] if third is not None else [])
    parts = [check_image(picture, name) for name, picture in named]
    if not 0 <= gap <= MAX_GAP:
        raise ToolInputError(f"gap must be between 0 and {MAX_GAP} pixels, got {gap}", argument="gap")
    mode = _common_mode(parts)
    fill = parse_color(background, "background", mode)
    horizontal = direction == "horizontal"
    along = [p.width if horizontal else p.height for p in parts]
    across = [p.height if horizontal else p.width for p in parts]
    length, breadth = sum(along) + gap * (len(parts) - 1), max(across)
    width, height = (length, breadth) if horizontal else (breadth, length)
    check_size(width, height, named[-1][0])
    canvas = PILImage.new(mode, (width, height), fill)
    offset = 0
    for picture, size_along, size_across in zip(parts, along, across):
        shift = {"start": 0, "center": (breadth - size_across) // 2, "end": breadth - size_across}[align]
        canvas.paste(picture.convert(mode), (offset, shift) if horizontal else (shift, offset))
        offset += size_along + gap
    return canvas


def _common_mode(parts: list[PILImage.Image]) -> str:
    """Grey when every image is grey, else RGB; with alpha (RGBA/LA) when any image has transparency."""
    alpha = any("A" in p.getbands() or "transparency" in p.info for p in parts)
    grey = all(p.mode in ("L", "LA", "1") for p in parts)
    return ("LA" if alpha else "L") if grey else ("RGBA" if alpha else "RGB")


TOOLS: tuple[Tool, ...] = (adjust_brightness, adjust_contrast, overlay_mask, concat_images)
