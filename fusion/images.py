"""Any upload -> an RGB uint8 array, plus notices for the user. The one place images are decoded.

Gradio's own image preprocessing fails on a broken upload before our code runs and shows a bare "Error", so the
panels receive the raw upload (a file path or Gradio's FileData dict) and decode it here, where every failure
becomes an :class:`ImageError` with a message that says what is wrong and what to do.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 64_000_000
DEFAULT_MAX_SIDE = 2048
WHITE = 255

# Pillow only warns between its limit and twice its limit; for this app a bomb warning is an error, and the
# limit set per call (``max_pixels``) is also checked explicitly from the header before any decoding.
Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray | Mapping[str, Any]


class ImageError(ValueError):
    """An upload that cannot be used; the message is meant for the user."""


@dataclass(frozen=True)
class DecodedImage:
    """A normalised image: ``pixels`` is always contiguous RGB uint8 of shape (H, W, 3)."""

    pixels: np.ndarray
    original_size: tuple[int, int]  # (width, height) before any downscale
    notices: tuple[str, ...] = ()
    #: Text chunks of the file (PNG ``parameters`` written by generators, for example).
    text: Mapping[str, str] = field(default_factory=dict)


def load(
    source: ImageSource | None,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    what: str = "image",
) -> DecodedImage:
    """Decode and normalise ``source``; raise :class:`ImageError` for anything that is not a usable image."""
    if source is None:
        raise ImageError(f"No {what} was given: upload a picture (PNG, JPEG, WebP, ...) or pick an example.")
    if isinstance(source, np.ndarray):
        pixels, notices = _normalise_array(source, what)
        return _limit_size(pixels, notices, {}, max_side)
    image = source if isinstance(source, Image.Image) else _open(source, what)
    _check_pixels(image, max_pixels, what)
    try:
        pixels, notices = _to_rgb(image)
        # After decoding: reading a PNG's text chunks decodes the whole file, which fails on a truncated one.
        text = {str(k): v for k, v in getattr(image, "text", {}).items() if isinstance(v, str)}
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(
            f"The {what} file is damaged or truncated and could not be decoded ({error}). "
            "Re-export it or try another file."
        ) from None
    return _limit_size(pixels, notices, text, max_side)


def _open(source: str | os.PathLike | bytes | Mapping[str, Any], what: str) -> Image.Image:
    if isinstance(source, Mapping):
        path = source.get("path")
        if not path:
            raise ImageError(f"The {what} upload carried no file: upload it again.")
        source = path
    if isinstance(source, bytes):
        if not source:
            raise ImageError(f"The {what} file is empty (0 bytes): upload a real picture.")
        stream: Any = io.BytesIO(source)
        name = "upload"
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            size = path.stat().st_size if path.is_file() else None
        except (OSError, ValueError):  # a name too long for the file system, a NUL byte, no permission
            size = None
        if size is None:
            raise ImageError(f"The {what} file {path.name[:80]!r} was not found: upload it again.")
        if size == 0:
            raise ImageError(f"The {what} file {path.name!r} is empty (0 bytes): upload a real picture.")
        stream = path
        name = path.name
    else:
        raise ImageError(
            f"The {what} must be a file path, bytes, a PIL image or an array, not {type(source).__name__}."
        )
    try:
        return Image.open(stream)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"The {what} {name!r} declares far too many pixels to decode safely (a guard against "
            "decompression bombs): downscale it first."
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageError(
            f"{name!r} is not an image this app can read. Upload a PNG, JPEG, WebP, BMP, GIF or TIFF file."
        ) from None


def _check_pixels(image: Image.Image, max_pixels: int, what: str) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(f"The {what} has no pixels ({width}x{height}): upload a real picture.")
    if width * height > max_pixels:
        raise ImageError(
            f"The {what} is {width}x{height} pixels, more than the {max_pixels:,} this app decodes "
            "(a guard against decompression bombs): downscale it first."
        )


def _to_rgb(image: Image.Image) -> tuple[np.ndarray, list[str]]:
    """Apply EXIF orientation and convert any Pillow mode to RGB, compositing transparency on white."""
    notices: list[str] = []
    image.load()
    transposed = ImageOps.exif_transpose(image)
    if transposed is not image and transposed.size != image.size:
        notices.append("Rotated according to the photo's EXIF orientation.")
    image = transposed
    mode = image.mode
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA" if mode == "PA" or "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        return _normalise_array(np.asarray(image), "image")
    if mode in {"RGBA", "LA", "RGBa", "La"}:
        background = Image.new("RGBA", image.size, (WHITE, WHITE, WHITE, WHITE))
        image = Image.alpha_composite(background, image.convert("RGBA"))
        notices.append("Transparent areas were placed on a white background.")
    if mode == "CMYK":
        notices.append("Converted from CMYK to RGB.")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8)), notices


def _normalise_array(array: np.ndarray, what: str) -> tuple[np.ndarray, list[str]]:
    """Bring an array of any common layout and dtype to RGB uint8."""
    notices: list[str] = []
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(
            f"The {what} has shape {array.shape}; expected (height, width), (height, width, 3) or (height, width, 4)."
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageError(f"The {what} has no pixels ({array.shape[1]}x{array.shape[0]}): upload a real picture.")
    array = _to_uint8(array, notices)
    if array.ndim == 2:
        array = cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    elif array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        array = (array[:, :, :3] * alpha + WHITE * (1.0 - alpha) + 0.5).astype(np.uint8)
        notices.append("Transparent areas were placed on a white background.")
    return np.ascontiguousarray(array), notices


def _to_uint8(array: np.ndarray, notices: list[str]) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        scale = 255.0 if finite.size and float(finite.max()) <= 1.0 else 1.0
        return np.clip(finite * scale + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        peak = int(array.max()) if array.size else 0
        if array.dtype == np.uint16 or peak > 255:
            notices.append("Reduced from 16 bits to 8 bits per channel.")
            scaled = np.clip(array, 0, 65535).astype(np.uint32) // 257
            return scaled.astype(np.uint8)
        return np.clip(array, 0, 255).astype(np.uint8)
    raise ImageError(f"Pixels of type {array.dtype} are not supported: use 8- or 16-bit integers or floats.")


def _limit_size(pixels: np.ndarray, notices: list[str], text: Mapping[str, str], max_side: int) -> DecodedImage:
    height, width = pixels.shape[:2]
    long_side = max(height, width)
    if long_side > max_side:
        scale = max_side / long_side
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        notices.append(f"Downscaled from {width}x{height} to {size[0]}x{size[1]} (the limit is {max_side} px).")
    return DecodedImage(pixels=pixels, original_size=(width, height), notices=tuple(notices), text=dict(text))
