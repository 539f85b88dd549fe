"""The artifact store: round trips, dedup, metadata, and the content and ids it must refuse."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graph.artifacts import ArtifactMeta, ArtifactStore
from graph.errors import (
    ArtifactNotFoundError,
    ArtifactTooLargeError,
    InvalidArtifactError,
    InvalidArtifactIdError,
    ToGError,
    UnknownTypeError,
)
from graph.types import BBox, ResourceType


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def gradient(width: int = 64, height: int = 32) -> Image.Image:
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    arr[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    return Image.fromarray(arr, "RGB")


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def content_files(store: ArtifactStore) -> list[Path]:
    return sorted(p for p in store.root.rglob("content*") if p.is_file())


def test_image_round_trip_is_lossless_with_metadata(store: ArtifactStore) -> None:
    image = gradient()
    meta = store.put_image(image)
    assert isinstance(meta, ArtifactMeta)
    assert meta.type is ResourceType.IMAGE and meta.mime == "image/png"
    assert (meta.width, meta.height) == (64, 32)
    assert meta.size == store.path(meta.id).stat().st_size == len(store.get_bytes(meta.id))
    assert meta.created.tzinfo is not None and meta.filename is None
    loaded = store.load(meta.id)
    assert isinstance(loaded, Image.Image) and loaded.size == (64, 32)
    assert np.array_equal(np.asarray(loaded), np.asarray(image))
    assert store.meta(meta.id) == meta


def test_same_content_same_id_written_once(store: ArtifactStore) -> None:
    data = png_bytes(gradient())
    first = store.put_bytes(data, "image", filename="a.png")
    second = store.put_bytes(data, "photo", filename="b.png")  # alias of image
    third = store.put_image(Image.open(io.BytesIO(data)))
    assert first.id == second.id
    assert second == first  # the first upload's metadata (filename, created) is kept
    assert third.sha256 == first.sha256 or third.id != first.id  # re-encoding may differ; if equal, same id
    assert len(content_files(store)) == len({first.id, third.id})
    assert [m.id for m in store] == sorted({first.id, third.id})


def test_same_bytes_as_another_type_is_another_artifact(store: ArtifactStore) -> None:
    data = png_bytes(gradient())
    image, mask = store.put_bytes(data, "image"), store.put_bytes(data, "image.mask")
    assert image.id != mask.id and image.sha256 == mask.sha256
    assert store.meta(mask.id).type is ResourceType.MASK


def test_meta_detects_image_format_and_keeps_filename(store: ArtifactStore) -> None:
    buf = io.BytesIO()
    gradient(40, 30).save(buf, format="JPEG")
    meta = store.put_bytes(buf.getvalue(), "image", mime="image/png", filename="../../etc/holiday.jpg")
    assert meta.mime == "image/jpeg"  # detected, not trusted
    assert meta.filename == "holiday.jpg"  # only the name, never a path
    assert (meta.width, meta.height) == (40, 30)
    assert store.path(meta.id).suffix in {".jpg", ".jpeg"}


def test_json_values_round_trip_with_models(store: ArtifactStore) -> None:
    boxes = [BBox(x1=1, y1=2, x2=3, y2=4, label="cat"), {"x1": 0, "y1": 0, "x2": 1, "y2": 1}]
    meta = store.put_json(boxes, "bbox")
    assert meta.type is ResourceType.BBOXES and meta.mime == "application/json"
    assert store.load(meta.id) == [
        {"x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0, "label": "cat"},
        {"x1": 0, "y1": 0, "x2": 1, "y2": 1},
    ]
    assert store.put_json({"b": 1, "a": 2}, "weather").id == store.put_json({"a": 2, "b": 1}, "weather").id
    assert store.load(store.put_json("héllo", "text").id) == "héllo"


def test_media_files_load_as_paths(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "clip.wav"
    source.write_bytes(b"RIFF" + bytes(range(256)) * 10)
    meta = store.put_file(source, "audio")
    assert meta.filename == "clip.wav" and meta.mime.startswith("audio/")
    path = store.load(meta.id)
    assert isinstance(path, Path) and path.read_bytes() == source.read_bytes()
    assert path.suffix == ".wav" and store.root in path.parents


def test_other_file_types_get_a_mime_type(store: ArtifactStore) -> None:
    assert store.put_bytes(b"%PDF-1.7 ...", "pdf", filename="report.pdf").mime == "application/pdf"
    unnamed = store.put_bytes(b"solid cube", "mesh")
    assert unnamed.mime == "application/octet-stream" and store.load(unnamed.id).read_bytes() == b"solid cube"


def test_put_file_missing_source_is_typed(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidArtifactError, match="cannot read"):
        store.put_file(tmp_path / "nope.mp4", "video")
    assert list(store) == []


@pytest.mark.parametrize("data", [b"not an image at all", png_bytes(gradient())[:60], b""])
def test_corrupt_images_are_refused_at_put_time(store: ArtifactStore, data: bytes) -> None:
    with pytest.raises(InvalidArtifactError, match="not a readable image"):
        store.put_bytes(data, "image")
    assert list(store) == [] and content_files(store) == []
    assert list((store.root / ".tmp").iterdir()) == []  # no staging leftovers


def test_images_over_the_pixel_limit_are_refused(tmp_path: Path) -> None:
    small = ArtifactStore(tmp_path / "s", max_pixels=1000)
    with pytest.raises(ArtifactTooLargeError, match="64x32"):
        small.put_bytes(png_bytes(gradient()), "image")
    with pytest.raises(ArtifactTooLargeError):
        small.put_image(gradient())
    assert small.put_image(gradient(20, 20)).width == 20


@pytest.mark.parametrize("side", [8000, 20000])  # 64 MP: our limit; 400 MP: beyond Pillow's own too
def test_decompression_bomb_header_is_refused_without_decoding(store: ArtifactStore, side: int) -> None:
    # a PNG whose header claims side x side pixels: a few bytes on disk, huge once decoded
    small = png_bytes(Image.new("1", (8, 8)))
    ihdr = bytearray(small[12:29])  # chunk type + 13 data bytes
    ihdr[4:12] = struct.pack(">II", side, side)
    bomb = small[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(ihdr)) + small[33:]
    with pytest.raises(ArtifactTooLargeError) as err:
        store.put_bytes(bomb, "image")
    assert isinstance(err.value, InvalidArtifactError) and err.value.to_dict()["code"] == "artifact_too_large"


def test_wrong_kind_of_value_for_type(store: ArtifactStore) -> None:
    with pytest.raises(InvalidArtifactError, match="not UTF-8 JSON"):
        store.put_bytes(b"{broken", "bboxes")
    with pytest.raises(InvalidArtifactError, match="values are files"):
        store.put_json({"a": 1}, "image")
    with pytest.raises(InvalidArtifactError, match="not an image type"):
        store.put_image(gradient(), "audio")
    with pytest.raises(InvalidArtifactError, match="not JSON-serialisable"):
        store.put_json(float("nan"), "number")
    with pytest.raises(InvalidArtifactError, match="needs bytes"):
        store.put_bytes("text", "text")  # type: ignore[arg-type]
    with pytest.raises(UnknownTypeError):
        store.put_bytes(b"{}", "imgae")


@pytest.mark.parametrize(
    "bad_id",
    [
        "../x",
        "image-../../etc",
        "/etc/passwd",
        "image-3fa29b0c1d2e4f5",
        "IMAGE-3fa29b0c1d2e4f56",
        "image-3fa29b0c1d2e4f56/../x",
        "nosuchtype-3fa29b0c1d2e4f56",
        "",
        ".tmp",
        42,
    ],
)
def test_malformed_ids_are_rejected(store: ArtifactStore, bad_id: object) -> None:
    for call in (store.meta, store.path, store.get_bytes, store.load, store.exists):
        with pytest.raises(InvalidArtifactIdError):
            call(bad_id)  # type: ignore[arg-type]
    assert bad_id not in store


def test_unknown_well_formed_id_is_not_found(store: ArtifactStore) -> None:
    assert not store.exists("image-0000000000000000")
    with pytest.raises(ArtifactNotFoundError) as err:
        store.load("image-0000000000000000")
    assert isinstance(err.value, ToGError) and "image-0000000000000000" in str(err.value)


def test_concurrent_puts_of_the_same_content_agree(store: ArtifactStore) -> None:
    data = png_bytes(gradient())
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: store.put_bytes(data, "image").id, range(16)))
    assert len(ids) == 1 and len(content_files(store)) == 1
    assert len(store) == 1


def test_a_second_store_on_the_same_root_sees_the_artifacts(store: ArtifactStore) -> None:
    meta = store.put_json(["a", "b"], "tags")
    again = ArtifactStore(store.root)
    assert again.load(meta.id) == ["a", "b"] and meta.id in again


def test_importing_graph_artifacts_does_not_import_pillow() -> None:
    code = "import sys, graph.artifacts; print('PIL' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_meta_json_is_plain_json(store: ArtifactStore) -> None:
    meta = store.put_image(gradient(8, 8), "mask")
    on_disk = json.loads((store.root / meta.id / "meta.json").read_text())
    assert on_disk["type"] == "mask" and on_disk["width"] == 8 and on_disk["sha256"] == meta.sha256
