"""InternVL tiling: known grids, equality with a naive reference and with transformers, bit for bit."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError
from skimage import data

import vlm.bicubic
import vlm.preprocess
import vlm.resize
from vlm.errors import ImageInputError, TooManyImagesError
from vlm.images import ImageLimits
from vlm.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Batch,
    find_grid,
    num_crops,
    preprocess_frames,
    preprocess_image,
    preprocess_images,
    to_torch,
)
from vlm.resize import SplitResize, pass_order

REPO_ROOT = Path(__file__).resolve().parents[2]
WIDE = ImageLimits(max_tiles=40)


@pytest.fixture(scope="module")
def naive() -> ModuleType:
    """The deliberately naive reference lives in benchmarks/ (it is the benchmark's yardstick too)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(REPO_ROOT))
        return importlib.import_module("benchmarks.naive_internvl_tiling")


@pytest.fixture(params=["compiled", "pillow"])
def resize_path(request, monkeypatch) -> str:
    """Run a test through both resizers: vlm.bicubic's compiled passes, and Pillow's own (the fallback)."""
    if request.param == "compiled":
        if vlm.bicubic.available() is None:
            pytest.fail("vlm._kernels is not built or does not match this Pillow (see tests/vlm/test_bicubic.py)")
    else:
        monkeypatch.setattr(vlm.bicubic, "available", lambda: None)
    return request.param


def photos() -> dict[str, Image.Image]:
    return {
        "astronaut": Image.fromarray(data.astronaut()),  # 512x512
        "chelsea": Image.fromarray(data.chelsea()),  # 451x300
        "coffee": Image.fromarray(data.coffee()),  # 600x400
        "page": Image.fromarray(data.page()).convert("RGB"),  # greyscale scan, 191x384
    }


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


# --- grid choice ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "grid"),
    [
        ((633, 633), (1, 1)),
        ((634, 634), (2, 2)),
        ((950, 950), (2, 2)),
        ((951, 951), (3, 3)),
        ((896, 448), (2, 1)),
        ((1800, 900), (4, 2)),
        ((640, 480), (4, 3)),
        ((300, 1200), (1, 4)),
        ((37, 911), (1, 12)),
        ((1344, 896), (3, 2)),
        ((800, 1300), (2, 3)),
    ],
)
def test_known_grids_at_twelve_tiles(size, grid):
    assert find_grid(*size, max_num=12) == grid
    cols, rows = grid
    expected_crops = cols * rows + (1 if cols * rows > 1 else 0)
    assert num_crops(*size) == expected_crops
    pixels = preprocess_image(Image.new("RGB", size, (90, 120, 200)), max_num=12, workers=1)
    assert pixels.shape == (expected_crops, 3, 448, 448)


def test_800x1300_is_resized_to_896x1344(naive):
    crops = naive.naive_crops(Image.new("RGB", (800, 1300)))
    assert len(crops) == 7  # 2x3 tiles of the 896x1344 resize, and the thumbnail
    assert find_grid(800, 1300) == (2, 3)


def test_grid_equals_naive_reference_on_random_sizes(naive):
    rng = np.random.default_rng(20250611)
    cases = 0
    for _ in range(1500):
        # log-uniform sides from 1 px to 8000 px cover thin strips, tiny icons and huge scans
        width, height = (int(v) for v in np.exp(rng.uniform(0, np.log(8000), 2)).round().clip(1))
        max_num = int(rng.integers(1, 41))
        expected = naive.naive_grid(width, height, 1, max_num)
        assert find_grid(width, height, 1, max_num) == expected, (width, height, max_num)
        cases += 1
    for _ in range(500):  # min_num > 1 too, where same-count ties depend on the reference's order
        width, height = (int(v) for v in rng.integers(1, 3000, 2))
        max_num = int(rng.integers(1, 41))
        min_num = int(rng.integers(1, max_num + 1))
        got = find_grid(width, height, min_num, max_num)
        assert got == naive.naive_grid(width, height, min_num, max_num), (width, height, min_num, max_num)
        assert min_num <= got[0] * got[1] <= max_num
        cases += 1
    assert cases >= 1000


def test_exact_ties_follow_the_reference_order(naive):
    # a tie between 2x2 and 4x1 for a 10x4 image (ratio 2.5): the reference meets 4x1 first
    assert find_grid(10, 4, 4, 4) == naive.naive_grid(10, 4, 4, 4) == (4, 1)
    # same-ratio tie decided by area: 2x2 only once the image has over half of 4 tiles' pixels
    assert find_grid(633, 633) == (1, 1) and find_grid(634, 634) == (2, 2)


def test_bad_grid_arguments_are_rejected():
    with pytest.raises(ValueError):
        find_grid(0, 10)
    with pytest.raises(ValueError):
        find_grid(10, 10, min_num=3, max_num=2)


# --- pixel values -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee", "page"])
@pytest.mark.parametrize("max_num", [1, 6, 12])
def test_pixel_values_equal_naive_reference_on_photos(naive, name, max_num, resize_path):
    image = photos()[name]
    expected = naive.naive_pixel_values(image, max_num=max_num)
    for workers in (1, 3):
        got = preprocess_image(image, max_num=max_num, workers=workers)
        assert got.dtype == np.float32 and got.shape == expected.shape
        assert np.abs(got - expected).max() == 0.0
        assert np.array_equal(got, expected)


@pytest.mark.parametrize(
    ("width", "height", "min_num", "max_num"),
    [(1000, 625, 1, 40), (1800, 900, 1, 12), (37, 911, 1, 12), (700, 300, 2, 9), (90, 1500, 1, 40), (4000, 60, 1, 24)],
)
def test_pixel_values_equal_naive_reference_on_random_sizes(naive, width, height, min_num, max_num, resize_path):
    image = noise(width, height, seed=width * height)
    expected = naive.naive_pixel_values(image, min_num=min_num, max_num=max_num)
    for workers in (1, 4):
        got = preprocess_image(image, max_num=max_num, min_num=min_num, workers=workers)
        assert np.array_equal(got, expected)


def test_every_uint8_value_normalises_like_torchvision():
    # a 448x448 image tiles 1x1 with an identity resize, so every value 0..255 of every band is used
    ramp = (np.arange(448 * 448) % 256).astype(np.uint8).reshape(448, 448)
    image = Image.fromarray(np.stack([ramp, ramp[::-1], ramp.T], axis=-1))
    got = preprocess_image(image, max_num=12, workers=1)[0]
    pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
    assert np.array_equal(got, ((pixels - mean) / std).numpy())


def test_other_modes_are_tiled_after_a_plain_rgb_conversion(naive):
    rgba = np.asarray(noise(500, 300, 1).convert("RGBA")).copy()
    rgba[..., 3] = (np.arange(500) % 256).astype(np.uint8)[None, :]  # alpha is dropped, as the reference does
    for image in (Image.fromarray(rgba), noise(700, 500, 2).convert("L"), noise(640, 480, 3).convert("P")):
        assert np.array_equal(preprocess_image(image), naive.naive_pixel_values(image))


def test_tiles_are_row_major_and_the_thumbnail_comes_last():
    # a 2x2 grid of flat colours resized to 896x896 keeps each colour inside its own tile
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    canvas = Image.new("RGB", (896, 896))
    for k, colour in enumerate(colours):
        canvas.paste(colour, ((k % 2) * 448, (k // 2) * 448, (k % 2 + 1) * 448, (k // 2 + 1) * 448))
    pixels = preprocess_image(canvas, max_num=4)
    assert pixels.shape[0] == 5
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    for k, colour in enumerate(colours):
        centre = pixels[k, :, 224, 224]
        assert np.allclose(centre, (np.asarray(colour, np.float32) / 255 - mean) / std)
    thumbnail = pixels[4]
    assert np.allclose(thumbnail[:, 100, 100], pixels[0, :, 224, 224])  # top-left quarter is red
    assert np.allclose(thumbnail[:, 350, 350], pixels[3, :, 224, 224])  # bottom-right is yellow


def _split_resize(image: Image.Image, target: tuple[int, int], parts: int, rule: str) -> np.ndarray:
    split, pieces = SplitResize(image, target, parts, rule), {}
    for job in split.first_jobs():
        job()
    for job in split.second_jobs(lambda pixels, x0, y0: pieces.update({(x0, y0): pixels})):
        job()
    axis = 1 if all(y0 == 0 for _, y0 in pieces) else 0
    return np.concatenate([pieces[key] for key in sorted(pieces)], axis=axis)


def test_the_installed_pillow_pass_order_is_known():
    # otherwise the threaded path silently falls back to one resize: worth knowing, not a failure of ours
    assert pass_order() in ("horizontal_first", "shrink_rule")


def test_a_resize_split_into_bands_equals_one_pil_resize():
    # the premise of the multi-threaded path, checked directly against PIL on awkward sizes and shapes
    rule = pass_order()
    if rule is None:
        pytest.skip("this Pillow orders its resize passes in a way vlm.resize does not know")
    rng = np.random.default_rng(7)
    for _ in range(150):
        width, height, out_w, out_h = (int(v) for v in rng.integers(1, 700, 4))
        image = noise(width, height, seed=int(width * height))
        whole = np.asarray(image.resize((out_w, out_h), Image.Resampling.BICUBIC))
        parts = int(rng.integers(2, 5))
        assert np.array_equal(_split_resize(image, (out_w, out_h), parts, rule), whole), (width, height, out_w, out_h)


def test_a_wrong_pass_order_is_caught_by_the_split_check():
    # the test above can fail: assuming the other rule breaks images whose height shrinks a lot
    rule = pass_order()
    if rule is None:
        pytest.skip("unknown pass order")
    other = "horizontal_first" if rule == "shrink_rule" else "shrink_rule"
    image = noise(300, 900, seed=3)
    whole = np.asarray(image.resize((280, 100), Image.Resampling.BICUBIC))
    assert not np.array_equal(_split_resize(image, (280, 100), 2, other), whole)


def test_use_thumbnail_false_gives_only_the_tiles():
    assert preprocess_image(Image.new("RGB", (1344, 896)), use_thumbnail=False).shape[0] == 6


# --- transformers ---------------------------------------------------------------------------------


def test_identical_to_transformers_got_ocr2_processor(resize_path):
    module = pytest.importorskip("transformers.models.got_ocr2.image_processing_pil_got_ocr2")
    for max_num in (1, 6, 12, 40):
        images = [*photos().values(), noise(37, 911, 5), noise(1000, 625, 4) if max_num == 40 else noise(900, 450, 6)]
        processor = module.GotOcr2ImageProcessorPil(
            size={"height": 448, "width": 448},
            crop_to_patches=True,
            min_patches=1,
            max_patches=max_num,
            image_mean=list(IMAGENET_MEAN),
            image_std=list(IMAGENET_STD),
            resample=Image.Resampling.BICUBIC,
        )
        theirs = processor(images=images, return_tensors="np")
        ours = preprocess_images(images, max_num=max_num, limits=WIDE)
        assert [int(n) for n in theirs["num_patches"]] == ours.num_patches
        assert np.array_equal(np.asarray(theirs["pixel_values"]), ours.pixel_values), max_num


# --- batches, frames, limits ------------------------------------------------------------------------


def test_batch_stacks_images_in_order_from_any_source(tmp_path):
    coffee = photos()["coffee"]
    path = tmp_path / "chelsea.png"
    photos()["chelsea"].save(path)
    page = photos()["page"]
    buffer = tmp_path / "page.png"
    page.save(buffer)
    batch = preprocess_images([coffee, path, buffer.read_bytes()], max_num=6)
    assert isinstance(batch, Batch) and batch.num_images == 3
    singles = [preprocess_image(image, max_num=6) for image in (coffee, photos()["chelsea"], page)]
    assert batch.num_patches == [len(s) for s in singles]
    assert np.array_equal(batch.pixel_values, np.concatenate(singles))


def test_empty_batch():
    batch = preprocess_images([])
    assert batch.num_patches == [] and batch.pixel_values.shape == (0, 3, 448, 448)


def test_frames_are_one_tile_each_like_the_reference_video_path(naive, resize_path):
    frames = [noise(64, 48, k) for k in range(3)] + [noise(1920, 1080, 9)]
    batch = preprocess_frames(frames)
    assert batch.num_patches == [1, 1, 1, 1]
    expected = np.concatenate([naive.naive_pixel_values(frame, max_num=1) for frame in frames])
    assert np.array_equal(batch.pixel_values, expected)


def test_limits_are_enforced():
    with pytest.raises(TooManyImagesError):
        preprocess_images([Image.new("RGB", (8, 8))] * 3, limits=ImageLimits(max_images=2))
    with pytest.raises(TooManyImagesError):  # more tiles than the deployment allows
        preprocess_images([Image.new("RGB", (8, 8))], max_num=24)
    allowed = preprocess_images([Image.new("RGB", (1800, 900))], max_num=24, limits=ImageLimits(max_tiles=24))
    assert allowed.num_patches == [num_crops(1800, 900, max_num=24)]
    with pytest.raises(TooManyImagesError):  # past the hard cap of 40
        preprocess_image(Image.new("RGB", (8, 8)), max_num=41)
    with pytest.raises(ValidationError):
        ImageLimits(max_tiles=41)
    with pytest.raises(ImageInputError):
        preprocess_images([b"definitely not an image"])
    with pytest.raises(ValueError):
        preprocess_image(Image.new("RGB", (8, 8)), workers=0)


def test_default_tile_budget_comes_from_the_limits():
    batch = preprocess_images([Image.new("RGB", (1800, 900))], limits=ImageLimits(max_tiles=4))
    assert batch.num_patches == [num_crops(1800, 900, max_num=4)] == [3]  # 2x1 and the thumbnail


def test_to_torch_shares_memory_and_converts_on_request():
    batch = preprocess_images([Image.new("RGB", (900, 450), (1, 2, 3))])
    tensor = to_torch(batch)
    assert tensor.dtype == torch.float32 and tensor.data_ptr() == batch.pixel_values.ctypes.data
    half = to_torch(batch, dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16 and tuple(half.shape) == batch.pixel_values.shape


def test_docstring_examples_run():
    assert doctest.testmod(vlm.preprocess).failed == 0
    assert doctest.testmod(vlm.resize).failed == 0
