"""Loading user images safely: limits, decompression-bomb guard, EXIF orientation, RGB.

Every image a backend sees goes through :func:`load_image`, so a corrupt upload, a truncated file or a
40-gigapixel PNG fails with a typed :class:`~vlm.errors.ImageInputError` naming the source, before any
pixel is decoded where the header already tells the size, instead of surfacing as a raw PIL exception
(or an out-of-memory kill) deep inside a model call.

Colour conversion follows the InternVL reference loader (``Image.open(...).convert("RGB")``) so that
tiling stays bit-exact with it: alpha is dropped, not composited (a transparent pixel shows the colour
stored under it), and palette, grey, CMYK and YCbCr images take PIL's own conversion. Two deliberate
departures, both for inputs where the reference gives a wrong picture: EXIF orientation is applied (a
phone photo reaches the model upright), and 16-bit grey images are scaled to 8 bits instead of being
clipped at 255 (which turns them almost white). Float images (mode ``F``) are clipped to 0..255, as PIL does.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from vlm.errors import ImageInputError, ImageTooLargeError, TooManyImagesError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

#: The most tiles InternVL is run with (its test-time maximum); more is always a mistake.
MAX_TILES_CAP = 40

_EXIF_ORIENTATION = 0x0112
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


class ImageLimits(BaseModel):
    """What one request may ask of the image pipeline.

    ``max_tiles`` is both the deployment's tile budget per image (InternVL's ``max_num``, used when a
    request names none) and the ceiling a request may ask for; it can be raised to 40 and no further.
    ``max_pixels`` is checked from the file header, before decoding.

    >>> ImageLimits(max_tiles=6).max_tiles
    6
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tiles: int = Field(default=12, ge=1, le=MAX_TILES_CAP)
    max_images: int = Field(default=16, ge=1)
    max_pixels: int = Field(default=50_000_000, ge=1)


def describe_source(source: Any) -> str:
    """A short human name for an image source, for error messages (never the bytes themselves)."""
    if isinstance(source, (str, Path)):
        text = str(source)
        return text if len(text) <= 200 else text[:200] + "…"  # a data URL passed by mistake stays readable
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    size = getattr(source, "size", None)
    mode = getattr(source, "mode", None)
    if size is not None and mode is not None:
        return f"<PIL image {size[0]}x{size[1]} {mode}>"
    return f"<{type(source).__name__}>"


def check_images(images: Sequence[Any], limits: ImageLimits | None = None) -> None:
    """Refuse a request with more images than ``limits.max_images`` (before anything is decoded).

    >>> check_images([b"a", b"b"], ImageLimits(max_images=2))
    """
    limits = limits or ImageLimits()
    if len(images) > limits.max_images:
        raise TooManyImagesError(
            f"{len(images)} images in one request; the limit is {limits.max_images}",
            count=len(images),
            limit=limits.max_images,
        )


def load_image(source: Any, limits: ImageLimits | None = None) -> PILImage:
    """Open ``source`` (a PIL image, a file path or encoded bytes) as an upright RGB PIL image.

    >>> from PIL import Image
    >>> load_image(Image.new("L", (4, 3))).mode
    'RGB'
    """
    from PIL import Image

    limits = limits or ImageLimits()
    name = describe_source(source)
    if isinstance(source, Image.Image):
        _check_pixels(source.size, limits, name)
        _decode(source, name)  # a lazily opened image may still be undecoded (and truncated)
        return _to_rgb(_upright(source), name)
    image = _open(source, name)
    result = None
    try:
        _check_pixels(image.size, limits, name)
        _decode(image, name)
        result = _to_rgb(_upright(image), name)
        if result is image and getattr(image, "fp", None) is not None:
            result = image.copy()  # multi-frame files keep their handle open for seeking: detach
        return result
    finally:
        if result is not image:
            image.close()  # releases the file handle; ``result`` is an independent image


def _open(source: Any, name: str) -> PILImage:
    """Parse the header only: PIL decodes lazily, so the size is known before any pixel is."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageInputError(f"image file not found: {name}", source=name)
        opener: Any = path
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageInputError("empty image data (0 bytes)", source=name)
        opener = io.BytesIO(bytes(source))
    else:
        raise ImageInputError(
            f"unsupported image source {name}: pass a PIL image, a file path or encoded bytes", source=name
        )
    try:
        with warnings.catch_warnings():
            # ImageLimits.max_pixels is the guard; PIL's warning below its own hard limit is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(opener)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image {name} is too large to open safely: {exc}", source=name) from None
    except UnidentifiedImageError:
        raise ImageInputError(f"cannot identify image {name}: not a supported image format", source=name) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageInputError(f"cannot read image {name}: {exc}", source=name) from None


def _check_pixels(size: tuple[int, int], limits: ImageLimits, name: str) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageInputError(f"image {name} has no pixels ({width}x{height})", source=name)
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"image {name} has {width}x{height} = {width * height:,} pixels; the limit is {limits.max_pixels:,}",
            source=name,
            width=width,
            height=height,
            limit=limits.max_pixels,
        )


def _decode(image: PILImage, name: str) -> None:
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        # Truncated files land here ("image file is truncated"); PIL's message says what broke.
        raise ImageInputError(f"cannot decode image {name}: {exc}", source=name) from None


def _upright(image: PILImage) -> PILImage:
    from PIL import ImageOps

    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:
        return image
    if orientation in (None, 1):
        return image  # exif_transpose would copy the image even when there is nothing to do
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image


def _to_rgb(image: PILImage, name: str) -> PILImage:
    from PIL import Image

    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES or (image.mode == "I" and _band_max(image) > 255):
        import numpy as np

        # 0..65535 -> 0..255 with rounding; PIL's own conversion clips everything above 255 to white.
        wide = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        return Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8)).convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        message = f"cannot convert image {name} from mode {image.mode} to RGB: {exc}"
        raise ImageInputError(message, source=name) from None


def _band_max(image: PILImage) -> float:
    """The largest value of a one-band image."""
    high = image.getextrema()[1]
    assert not isinstance(high, tuple), "one band: getextrema() is (min, max)"
    return high
