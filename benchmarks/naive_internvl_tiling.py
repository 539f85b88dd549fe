"""A deliberately naive InternVL tiling, written the way the reference code works, to check and time ours.

It is the yardstick of ``tests/vlm/test_preprocess.py`` (bit-exact equality) and of the tiling benchmark
(speed-up): tile by tile, with a PIL crop per tile, torchvision's ``ToTensor`` + ``Normalize`` arithmetic
per crop spelled out in torch ops (``x.float() / 255``, then ``(x - mean) / std`` in float32), and a final
``torch.stack``. Nothing here is clever on purpose; it is not part of the ``vlm`` package.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

TILE = 448
MEAN = torch.tensor((0.485, 0.456, 0.406), dtype=torch.float32)
STD = torch.tensor((0.229, 0.224, 0.225), dtype=torch.float32)


def naive_grid(width: int, height: int, min_num: int = 1, max_num: int = 12, tile: int = TILE) -> tuple[int, int]:
    """(cols, rows): every grid in a set, sorted by tile count, closest aspect ratio, area tie-break."""
    candidates = set()
    for n in range(min_num, max_num + 1):
        for i in range(1, n + 1):
            for j in range(1, n + 1):
                if min_num <= i * j <= max_num:
                    candidates.add((i, j))
    ordered = sorted(candidates, key=lambda grid: grid[0] * grid[1])
    ratio = width / height
    best_diff = float("inf")
    best = (1, 1)
    for cols, rows in ordered:
        diff = abs(ratio - cols / rows)
        if diff < best_diff:
            best_diff = diff
            best = (cols, rows)
        elif diff == best_diff and width * height > 0.5 * tile * tile * cols * rows:
            best = (cols, rows)
    return best


def naive_crops(
    image: Image.Image, min_num: int = 1, max_num: int = 12, tile: int = TILE, use_thumbnail: bool = True
) -> list[Image.Image]:
    """The crops as PIL images: resize once, one ``crop`` per tile, then the thumbnail."""
    image = image.convert("RGB")
    cols, rows = naive_grid(image.width, image.height, min_num, max_num, tile)
    resized = image.resize((tile * cols, tile * rows), Image.Resampling.BICUBIC)
    crops = []
    for k in range(cols * rows):
        left = (k % cols) * tile
        top = (k // cols) * tile
        crops.append(resized.crop((left, top, left + tile, top + tile)))
    if use_thumbnail and len(crops) > 1:
        crops.append(image.resize((tile, tile), Image.Resampling.BICUBIC))
    return crops


def naive_normalise(crop: Image.Image) -> torch.Tensor:
    """torchvision's ToTensor then Normalize, written out: float32 ``x / 255``, then ``(x - mean) / std``."""
    pixels = torch.from_numpy(np.array(crop, dtype=np.uint8)).permute(2, 0, 1)
    scaled = pixels.float().div(255)
    return (scaled - MEAN[:, None, None]) / STD[:, None, None]


def naive_pixel_values(
    image: Image.Image, min_num: int = 1, max_num: int = 12, tile: int = TILE, use_thumbnail: bool = True
) -> np.ndarray:
    """float32 (N, 3, tile, tile), crop by crop."""
    crops = naive_crops(image, min_num, max_num, tile, use_thumbnail)
    return torch.stack([naive_normalise(crop) for crop in crops]).numpy()
