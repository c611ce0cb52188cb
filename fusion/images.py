"""Any upload -> an RGB uint8 array, plus notices for the user. The one place images are decoded.

Gradio's own image preprocessing fails on a broken upload before our code runs and shows a bare "Error", so the
panels receive the raw upload (a file path or Gradio's FileData dict, after the UI's file gate) and decode it
here, where every failure becomes an :class:`ImageError` with a message that says what is wrong and what to do.

Memory is bounded by design, because a small file can declare a huge picture (a 62 KB PNG of 7999x7999 pixels
took 600-700 MB to decode with a plain ``Image.open(...).convert()`` pipeline):

- Before anything is decoded, the cost of the decode is estimated from the header (the pixels Pillow will hold,
  at its bytes per pixel for that mode, plus our working copies of the downscaled picture) and refused above
  ``max_bytes`` per image. That is the pixel cap, per mode: with the default 256 MB, an RGB PNG up to about
  50 megapixels (7000x7000) decodes and a 7999x7999 one does not.
- Large pictures are decoded small where the format allows it (JPEG's DCT scaling, ``Image.draft``) and reduced
  by an integer factor right after decoding (``Image.reduce``), so the full-size pixels exist once, briefly.
- All decodes in the process share :data:`DECODE_BUDGET`: a decode waits while others hold its bytes, so any
  number of concurrent uploads cannot take more than the budget at once (``benchmarks/abuse.py``).
"""

from __future__ import annotations

import io
import math
import os
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fusion.messages import Message

DEFAULT_MAX_SIDE = 2048
#: Memory one decode may take; the pixel cap of each mode follows from it (see the module docstring).
DEFAULT_MAX_BYTES = 256 << 20
#: Pillow refuses to open a file that declares more pixels than this, whatever the format: JPEGs decode at up to
#: 1/8 scale, so they may declare more pixels than the memory cap would allow a PNG.
HEADER_MAX_PIXELS = 512_000_000
#: Working memory per pixel of the downscaled picture: Pillow's converted copy, the array and its resize.
WORKING_BYTES_PER_PIXEL = 12
WHITE = 255
SIXTEEN_BITS = "Reduced from 16 bits to 8 bits per channel."

# Pillow only warns between its limit and twice its limit; for this app a bomb warning is an error.
Image.MAX_IMAGE_PIXELS = HEADER_MAX_PIXELS
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray | Mapping[str, Any]
#: Modes ``Image.reduce`` cannot shrink, and what they become first.
_REDUCIBLE_AS = {"P": "RGBA", "PA": "RGBA", "1": "L", "I;16": "I", "I;16B": "I", "I;16L": "I", "I;16N": "I"}


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


class DecodeBudget:
    """Bytes of decoding the whole process may hold at once; a decode waits until its estimate fits."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._used = 0
        self._free = threading.Condition()

    def set_total(self, total: int) -> None:
        with self._free:
            self.total = total
            self._free.notify_all()

    @contextmanager
    def reserve(self, cost: int) -> Iterator[None]:
        """Hold ``cost`` bytes (at most the whole budget) for the length of a decode."""
        with self._free:
            held = min(cost, self.total)
            self._free.wait_for(lambda: self._used + held <= self.total)
            self._used += held
        try:
            yield
        finally:
            with self._free:
                self._used -= held
                self._free.notify_all()

    def in_use(self) -> int:
        with self._free:
            return self._used


#: Shared by every decode of the process: two worst-case decodes at a time by default (``app.py`` sizes it).
DECODE_BUDGET = DecodeBudget(2 * DEFAULT_MAX_BYTES)


def load(
    source: ImageSource | None,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    what: str = "image",
) -> DecodedImage:
    """Decode and normalise ``source``; raise :class:`ImageError` for anything that is not a usable image."""
    if source is None:
        raise ImageError(Message("No {what} was given: upload a picture (PNG, JPEG, WebP, ...).", what=what))
    if isinstance(source, np.ndarray):
        notices: list[str] = []
        pixels = _normalise_array(source, what, notices)
        height, width = pixels.shape[:2]
        return _limit_size(pixels, (width, height), notices, {}, max_side)
    image = source if isinstance(source, Image.Image) else _open(source, what)
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(_no_pixels(what, width, height))
    notices = _format_notices(image)
    _draft(image, max_side)
    with DECODE_BUDGET.reserve(_decode_cost(image, max_side, max_bytes, what)):
        try:
            image.load()
            # After decoding: reading a PNG's text chunks decodes the whole file, which fails on a truncated one.
            text = {str(k): v for k, v in getattr(image, "text", {}).items() if isinstance(v, str)}
            pixels, turned = _to_rgb(_reduce(image, max_side), notices)
        except (OSError, ValueError, SyntaxError) as error:
            raise ImageError(
                Message(
                    "The {what} file is damaged or truncated and could not be decoded ({error}). Re-export it or try "
                    "another file.",
                    what=what,
                    error=str(error),
                )
            ) from None
    original_size = (height, width) if turned else (width, height)
    return _limit_size(pixels, original_size, notices, text, max_side)


def check_header(
    source: str | os.PathLike | bytes | Mapping[str, Any],
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    what: str = "image",
) -> tuple[int, int]:
    """The (width, height) a file declares, after the checks :func:`load` makes before decoding a pixel: that it
    is an image this app reads, has pixels, and fits the decode memory. Cheap (the header only), for telling a
    user at once that an upload cannot be used; raises :class:`ImageError` as :func:`load` would."""
    with _open(source, what) as image:
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageError(_no_pixels(what, width, height))
        _draft(image, max_side)
        _decode_cost(image, max_side, max_bytes, what)
        return width, height


def _open(source: str | os.PathLike | bytes | Mapping[str, Any], what: str) -> Image.Image:
    if isinstance(source, Mapping):
        path = source.get("path")
        if not path:
            raise ImageError(Message("The {what} upload carried no file: upload it again.", what=what))
        source = path
    if isinstance(source, bytes):
        if not source:
            raise ImageError(Message("The {what} file is empty (0 bytes): upload a real picture.", what=what))
        stream: Any = io.BytesIO(source)
        name = "upload"
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            size = path.stat().st_size if path.is_file() else None
        except (OSError, ValueError):  # a name too long for the file system, a NUL byte, no permission
            size = None
        if size is None:
            raise ImageError(Message("The {what} file was not found: upload it again.", what=what))
        if size == 0:
            raise ImageError(
                Message(
                    "The {what} file {name!r} is empty (0 bytes): upload a real picture.", what=what, name=path.name
                )
            )
        stream = path
        name = path.name
    else:
        raise ImageError(
            Message(
                "The {what} must be a file path, bytes, a PIL image or an array, not {kind}.",
                what=what,
                kind=type(source).__name__,
            )
        )
    try:
        image = Image.open(stream)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            Message(
                "The {what} {name!r} declares far too many pixels to decode safely (a guard against decompression "
                "bombs): downscale it first.",
                what=what,
                name=name,
            )
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageError(
            Message(
                "{name!r} is not an image this app can read. Upload a PNG, JPEG, WebP, BMP, GIF or TIFF file.",
                name=name,
            )
        ) from None
    return image


def _format_notices(image: Image.Image) -> list[str]:
    """What the file holds that the RGB picture cannot: more frames, more bits."""
    notices = []
    if getattr(image, "is_animated", False):
        notices.append("This is an animated image: only its first frame was used.")
    if image.mode in {"RGB", "RGBA"} and any(";16" in str(tile.args) for tile in getattr(image, "tile", ())):
        notices.append(SIXTEEN_BITS)
    return notices


def _draft(image: Image.Image, max_side: int) -> None:
    """Let a JPEG decode at 1/2, 1/4 or 1/8 scale when that still leaves at least ``max_side`` pixels."""
    width, height = image.size
    scale = max_side / max(width, height)
    if scale < 1 and image.format == "JPEG":
        image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))


def _reduction(size: tuple[int, int], max_side: int) -> int:
    """The integer factor that shrinks ``size`` as far as possible while keeping at least ``max_side`` pixels."""
    return max(1, max(size) // max_side)


def _pixel_bytes(mode: str) -> int:
    """Bytes Pillow stores per pixel: one for 1-bit, grey and palette pictures, two for 16-bit grey, else four."""
    if mode in {"1", "L", "P"}:
        return 1
    return 2 if mode.startswith("I;16") else 4


def _decode_cost(image: Image.Image, max_side: int, max_bytes: int, what: str) -> int:
    """Bytes this decode will hold at its peak; an :class:`ImageError` above ``max_bytes``."""
    width, height = image.size
    factor = _reduction(image.size, max_side)
    cost = width * height * _pixel_bytes(image.mode)
    if factor > 1 and image.mode in _REDUCIBLE_AS:
        cost += width * height * _pixel_bytes(_REDUCIBLE_AS[image.mode])
    cost += math.ceil(width / factor) * math.ceil(height / factor) * WORKING_BYTES_PER_PIXEL
    if cost > max_bytes:
        raise ImageError(
            Message(
                "The {what} is {width}x{height} pixels: decoding it would take about {needed} MB, more than the "
                "{allowed} MB this app allows for one image. Downscale it first (a JPEG of any size works).",
                what=what,
                width=width,
                height=height,
                needed=cost >> 20,
                allowed=max_bytes >> 20,
            )
        )
    return cost


def _reduce(image: Image.Image, max_side: int) -> Image.Image:
    """Shrink a decoded picture by an integer factor at once (box average), so the full size is let go early.

    Only whole blocks are averaged (a partial block at the edge would be stretched into a whole pixel and shift the
    picture); the fewer than ``factor`` pixels left over at the right and bottom edges are dropped.
    """
    factor = _reduction(image.size, max_side)
    if factor == 1:
        return image
    width, height = image.size
    whole = (0, 0, width - width % factor, height - height % factor)
    mode = image.mode
    if mode not in _REDUCIBLE_AS:
        return image.reduce(factor, whole)
    reduced = image.convert(_REDUCIBLE_AS[mode]).reduce(factor, whole)
    # 16-bit grey goes back to 16 bits, so that its levels are scaled as 16-bit levels whatever the picture's size.
    return reduced.convert(mode) if mode.startswith("I;16") else reduced


def _to_rgb(image: Image.Image, notices: list[str]) -> tuple[np.ndarray, bool]:
    """Apply EXIF orientation and convert any Pillow mode to RGB, compositing transparency on white; the pixels,
    and whether the orientation turned the picture a quarter (width and height swapped)."""
    transposed = ImageOps.exif_transpose(image)
    turned = transposed.size != image.size
    if turned:
        notices.append("Rotated according to the photo's EXIF orientation.")
    image = transposed
    mode = image.mode
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA" if mode == "PA" or "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        return _normalise_array(np.asarray(image), "image", notices), turned
    if mode in {"RGBA", "LA", "RGBa", "La"}:
        background = Image.new("RGBA", image.size, (WHITE, WHITE, WHITE, WHITE))
        image = Image.alpha_composite(background, image.convert("RGBA"))
        notices.append("Transparent areas were placed on a white background.")
    if mode == "CMYK":
        notices.append("Converted from CMYK to RGB.")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8)), turned


def _normalise_array(array: np.ndarray, what: str, notices: list[str]) -> np.ndarray:
    """Bring an array of any common layout and dtype to RGB uint8."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(
            Message(
                "The {what} has shape {shape}; expected (height, width), (height, width, 3) or (height, width, 4).",
                what=what,
                shape=array.shape,
            )
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageError(_no_pixels(what, array.shape[1], array.shape[0]))
    array = _to_uint8(array, notices)
    if array.ndim == 2:
        array = cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    elif array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        array = (array[:, :, :3] * alpha + WHITE * (1.0 - alpha) + 0.5).astype(np.uint8)
        notices.append("Transparent areas were placed on a white background.")
    return np.ascontiguousarray(array)


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
            if SIXTEEN_BITS not in notices:
                notices.append(SIXTEEN_BITS)
            scaled = np.clip(array, 0, 65535).astype(np.uint32) // 257
            return scaled.astype(np.uint8)
        return np.clip(array, 0, 255).astype(np.uint8)
    raise ImageError(
        Message(
            "Pixels of type {dtype} are not supported: use 8- or 16-bit integers or floats.", dtype=str(array.dtype)
        )
    )


def _no_pixels(what: str, width: int, height: int) -> Message:
    return Message(
        "The {what} has no pixels ({width}x{height}): upload a real picture.", what=what, width=width, height=height
    )


def _limit_size(
    pixels: np.ndarray, original_size: tuple[int, int], notices: list[str], text: Mapping[str, str], max_side: int
) -> DecodedImage:
    """Downscale to ``max_side`` (from the size the picture had before any reduction), with a notice."""
    width, height = original_size
    long_side = max(width, height)
    if long_side > max_side:
        scale = max_side / long_side
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if (pixels.shape[1], pixels.shape[0]) != size:
            pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        notices.append(
            Message(
                "Downscaled from {width}x{height} to {new_width}x{new_height} (the limit is {max_side} px).",
                width=width,
                height=height,
                new_width=size[0],
                new_height=size[1],
                max_side=max_side,
            )
        )
    return DecodedImage(pixels=pixels, original_size=(width, height), notices=tuple(notices), text=dict(text))
