"""Every kind of upload decodes to RGB uint8, and every broken one gets a message that says what to do."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from fusion import images
from fusion.images import ImageError


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return data.chelsea()


def test_rgb_png_is_unchanged(photo: np.ndarray) -> None:
    decoded = images.load(encode(Image.fromarray(photo)))
    np.testing.assert_array_equal(decoded.pixels, photo)
    assert decoded.notices == ()
    assert decoded.original_size == (photo.shape[1], photo.shape[0])


def test_gray_becomes_three_equal_channels() -> None:
    gray = data.camera()
    decoded = images.load(encode(Image.fromarray(gray)))
    assert decoded.pixels.shape == (*gray.shape, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded.pixels[:, :, channel], gray)


def test_rgba_is_composited_on_white(photo: np.ndarray) -> None:
    rgba = np.dstack([photo, np.zeros(photo.shape[:2], np.uint8)])
    rgba[:10, :10, 3] = 255
    decoded = images.load(encode(Image.fromarray(rgba, "RGBA")))
    assert (decoded.pixels[20:, 20:] == 255).all()
    np.testing.assert_array_equal(decoded.pixels[:10, :10], photo[:10, :10])
    assert any("white" in notice for notice in decoded.notices)


def test_half_transparent_pixels_blend_with_white() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 128
    decoded = images.load(rgba)
    assert abs(int(decoded.pixels[0, 0, 0]) - 127) <= 1


def test_sixteen_bit_png_keeps_its_range() -> None:
    ramp = np.tile(np.linspace(0, 65535, 300).astype(np.uint16), (20, 1))
    decoded = images.load(encode(Image.fromarray(ramp)))
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels[0, 0, 0] == 0 and decoded.pixels[0, -1, 0] == 255
    np.testing.assert_array_equal(decoded.pixels[:, :, 0], (ramp // 257).astype(np.uint8))
    assert any("16 bits" in notice for notice in decoded.notices)


def test_dark_sixteen_bit_array_is_scaled_not_clipped() -> None:
    dark = np.full((5, 5), 200, np.uint16)
    assert images.load(dark).pixels[0, 0, 0] == 200 // 257


def test_palette_with_transparency_and_cmyk(photo: np.ndarray) -> None:
    palette = Image.fromarray(photo).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 0
    decoded = images.load(encode(palette))
    assert decoded.pixels.shape == photo.shape
    cmyk = images.load(encode(Image.fromarray(photo).convert("CMYK"), "JPEG", quality=95))
    assert cmyk.pixels.shape == photo.shape
    assert np.abs(cmyk.pixels.astype(int) - photo.astype(int)).mean() < 12
    assert any("CMYK" in notice for notice in cmyk.notices)


def test_exif_orientation_is_applied(photo: np.ndarray) -> None:
    image = Image.fromarray(photo)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    decoded = images.load(encode(image, "JPEG", exif=exif, quality=95))
    assert decoded.pixels.shape == (photo.shape[1], photo.shape[0], 3)
    assert any("EXIF" in notice for notice in decoded.notices)


def test_float_and_bool_arrays() -> None:
    assert images.load(np.ones((3, 3), np.float32)).pixels.max() == 255
    assert images.load(np.eye(3, dtype=bool)).pixels[0, 0, 0] == 255


def test_large_image_is_downscaled_with_notice(photo: np.ndarray) -> None:
    decoded = images.load(photo, max_side=200)
    assert max(decoded.pixels.shape[:2]) == 200
    assert decoded.original_size == (451, 300)
    assert any("Downscaled" in notice for notice in decoded.notices)


def test_png_text_chunks_are_kept(photo: np.ndarray) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a cat\nSteps: 4")
    decoded = images.load(encode(Image.fromarray(photo), pnginfo=info))
    assert decoded.text["parameters"] == "a cat\nSteps: 4"


def test_path_and_filedata_dict(tmp_path: Path, photo: np.ndarray) -> None:
    path = tmp_path / "cat.png"
    Image.fromarray(photo).save(path)
    np.testing.assert_array_equal(images.load(path).pixels, photo)
    np.testing.assert_array_equal(images.load({"path": str(path), "meta": {}}).pixels, photo)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (None, "No image"),
        (b"", "empty"),
        (b"this is not an image at all", "not an image"),
        ({"path": None}, "no file"),
        (np.zeros((0, 5), np.uint8), "no pixels"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
    ],
)
def test_unusable_inputs_say_what_is_wrong(payload: object, expected: str) -> None:
    with pytest.raises(ImageError, match=expected):
        images.load(payload)  # type: ignore[arg-type]


def test_truncated_file_is_reported(photo: np.ndarray) -> None:
    jpeg = encode(Image.fromarray(photo), "JPEG")
    with pytest.raises(ImageError, match="damaged or truncated"):
        images.load(jpeg[: len(jpeg) // 2])


def png_header(width: int, height: int, colour_type: int = 2) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and holds none: only its header can be read."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")  # as fusion.images sets it in the app
def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(ImageError, match="decompression bombs"):
        images.load(png_header(30_000, 20_000))


def test_the_pixel_cap_follows_from_the_memory_allowed_per_decode() -> None:
    # 7999 x 7999 RGB: Pillow holds 4 bytes a pixel, 244 MB, plus the working copies of the downscaled picture.
    cap = r"7999x7999 pixels: decoding it would take about \d+ MB, more than the 256 MB"
    with pytest.raises(ImageError, match=cap):
        images.load(png_header(7999, 7999))
    # The same size in grey (one byte a pixel) is within the cap: it gets as far as decoding, and that fails.
    with pytest.raises(ImageError, match="damaged or truncated"):
        images.load(png_header(7999, 7999, colour_type=0))
    with pytest.raises(ImageError, match="more than the 16 MB"):
        images.load(png_header(3000, 2000), max_bytes=16 << 20)


def test_a_large_jpeg_decodes_at_reduced_scale_within_a_cap_its_png_exceeds() -> None:
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8))
    with pytest.raises(ImageError, match="more than the 16 MB"):
        images.load(encode(picture), max_side=512, max_bytes=16 << 20)
    decoded = images.load(encode(picture, "JPEG", quality=90), max_side=512, max_bytes=16 << 20)
    assert decoded.pixels.shape == (384, 512, 3)
    assert decoded.original_size == (4000, 3000)


def test_a_reduced_decode_matches_an_area_downscale_of_the_full_picture() -> None:
    import cv2

    big = cv2.resize(data.astronaut(), (5412, 4000), interpolation=cv2.INTER_CUBIC)
    decoded = images.load(encode(Image.fromarray(big)), max_side=512)
    direct = images.load(big, max_side=512)
    assert decoded.pixels.shape == direct.pixels.shape == (378, 512, 3)
    assert decoded.notices == direct.notices
    assert np.abs(decoded.pixels.astype(int) - direct.pixels).mean() < 2.5


def test_the_decode_budget_makes_decodes_wait_for_each_other() -> None:
    import threading

    budget = images.DecodeBudget(100)
    order: list[str] = []
    with budget.reserve(80):
        waiter = threading.Thread(target=lambda: budget.reserve(50).__enter__() or order.append("second"))
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive() and budget.in_use() == 80
        order.append("first done")
    waiter.join(5)
    assert order == ["first done", "second"]
    with budget.reserve(10**9):  # a decode larger than the whole budget holds all of it, and does not wait forever
        pass


def test_animated_and_sixteen_bit_colour_files_say_what_was_dropped(photo: np.ndarray) -> None:
    import cv2

    frames = [Image.fromarray(photo), Image.fromarray(255 - photo)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    assert any("first frame" in notice for notice in images.load(buffer.getvalue()).notices)
    deep = (photo.astype(np.uint16) * 257)[:, :, ::-1]
    decoded = images.load(cv2.imencode(".png", deep)[1].tobytes())
    assert "Reduced from 16 bits to 8 bits per channel." in decoded.notices
    np.testing.assert_array_equal(decoded.pixels, photo)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not found"):
        images.load(tmp_path / "nope.png")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        images.load(empty)


def test_the_header_check_answers_as_loading_would_without_decoding(photo: np.ndarray) -> None:
    """What an upload is checked with as it arrives: the refusals of :func:`images.load` that need no pixel."""
    assert images.check_header(encode(Image.fromarray(photo), "PNG")) == (photo.shape[1], photo.shape[0])
    for payload, expected in [
        (b"this is not an image at all", "not an image"),
        (b"", "empty"),
        (png_header(7999, 7999), "more than the 256 MB"),
    ]:
        with pytest.raises(ImageError, match=expected):
            images.check_header(payload)
    # A header that promises a picture the file does not hold passes: decoding it, later, says so.
    assert images.check_header(png_header(64, 32)) == (64, 32)
    with pytest.raises(ImageError, match="damaged or truncated"):
        images.load(png_header(64, 32))
