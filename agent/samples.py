"""Sample inputs made at run time (nothing binary is committed): a street-scene picture and its regions."""

from __future__ import annotations

from pathlib import Path

from graph.types import BBox

#: Regions drawn into the sample picture, in its pixel coordinates.
SAMPLE_REGIONS: list[BBox] = [
    BBox(x1=70, y1=60, x2=150, y2=150, label="face", score=0.94),
    BBox(x1=420, y1=70, x2=500, y2=160, label="face", score=0.91),
    BBox(x1=220, y1=40, x2=380, y2=110, label="sign", score=0.88),
]


def make_sample_photo(path: Path, width: int = 640, height: int = 360) -> Path:
    """Draw a simple street scene with two faces and a sign whose text OCR can read."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (135, 180, 225))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 250, width, height), fill=(90, 90, 95))  # road
    for box, skin in zip(SAMPLE_REGIONS[:2], ((240, 200, 170), (200, 150, 120))):
        draw.ellipse((box.x1, box.y1, box.x2, box.y2), fill=skin, outline=(60, 40, 30), width=2)
        cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
        draw.ellipse((cx - 18, cy - 12, cx - 8, cy - 2), fill=(30, 30, 30))
        draw.ellipse((cx + 8, cy - 12, cx + 18, cy - 2), fill=(30, 30, 30))
        draw.arc((cx - 20, cy, cx + 20, cy + 25), 20, 160, fill=(120, 30, 30), width=3)
        draw.rectangle((box.x1 + 10, box.y2, box.x2 - 10, 250), fill=(50, 90, 160))
    sign = SAMPLE_REGIONS[2]
    draw.rectangle((sign.x1, sign.y1, sign.x2, sign.y2), fill=(20, 110, 40), outline=(250, 250, 250), width=3)
    draw.text((sign.x1 + 25, sign.y1 + 22), "MAIN ST", fill=(255, 255, 255), font_size=28)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


#: The words on the sign :func:`make_demo_photo` adds.
SIGN_TEXT = "MAIN ST"


def make_demo_photo(path: Path) -> Path:
    """scikit-image's astronaut photo (a real face the detector finds) with a street sign pasted in a corner."""
    from PIL import Image, ImageDraw
    from skimage import data

    image = Image.fromarray(data.astronaut())  # type: ignore[no-untyped-call]  # unannotated in scikit-image
    draw = ImageDraw.Draw(image)
    draw.rectangle((300, 400, 505, 470), fill=(255, 255, 255), outline=(20, 110, 40), width=4)
    draw.text((318, 412), SIGN_TEXT, fill=(0, 0, 0), font_size=40)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
