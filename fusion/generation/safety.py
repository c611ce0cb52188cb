"""The one shared safety checker (the cache's ``safety-checker``) on every final image, SD-Turbo's too.

A flagged image is replaced by a heavily blurred copy with a visible label, never a silent black square (what
diffusers returns). Previews are not checked: they stay small (see ``decoding``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw, ImageFilter, ImageFont

if TYPE_CHECKING:
    import torch

SAFETY_KEY = "safety-checker"


def check_safety(bundle: Any, decoded: torch.Tensor) -> list[bool]:
    """Which of the images (``decoding.to_bytes``' pixels) the safety checker flags: diffusers'
    ``run_safety_checker`` on the same pixels, without a trip through PIL."""
    # The checker blanks flagged entries of ``images``: it gets a list of its own.
    _, flags = bundle.model(images=list(decoded), clip_input=safety_inputs(bundle, decoded))
    return [bool(flag) for flag in flags]


def safety_inputs(bundle: Any, decoded: torch.Tensor) -> torch.Tensor:
    """The checker's CLIP pixels from ``decoding.to_bytes``' pixels, preprocessed where they are when the processor
    can (transformers' torchvision backend takes a ``device``; its PIL fallback copies them to the CPU)."""
    model = bundle.model
    channels_first = list(decoded.permute(0, 3, 1, 2))
    pixels = bundle.processor(channels_first, return_tensors="pt", device=model.device).pixel_values
    return pixels.to(model.device, model.dtype)


def withheld_image(image: Image.Image) -> Image.Image:
    """A flagged image made unrecognisable (downscaled to a few pixels, blurred) with a visible label."""
    width, height = image.size
    blurred = image.resize((max(1, width // 32), max(1, height // 32)), Image.Resampling.BOX)
    blurred = blurred.resize((width, height), Image.Resampling.BILINEAR)
    blurred = blurred.filter(ImageFilter.GaussianBlur(radius=max(2, min(width, height) // 16)))
    draw = ImageDraw.Draw(blurred)
    font = ImageFont.load_default(size=max(8, width // 16))
    label = "Hidden by the safety checker"
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    x, y = (width - (right - left)) // 2, (height - (bottom - top)) // 2
    draw.rectangle((0, y - 4, width, y + (bottom - top) + 8), fill=(0, 0, 0))
    draw.text((x - left, y - top), label, fill=(255, 255, 255), font=font)
    return blurred
