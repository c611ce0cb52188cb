"""Latents to pixels: the pipeline's own VAE decode of the final latents, and small TAESD previews on the way.

The pipeline stops at latents and we decode them with the same VAE call it makes (one image at a time and tiled
above :data:`TILED_DECODE_AREA`, without touching the VAE's flags). Previews are decoded from the current latents
with the tiny autoencoder (TAESD), at most :data:`PREVIEW_MAX_SIDE` pixels: they are not safety-checked, so they
are never shown at full resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PIL import Image

if TYPE_CHECKING:
    import torch

#: The tiny autoencoder that decodes previews.
PREVIEW_KEY = "taesd"
#: Previews are decoded at most this large (they are not safety-checked).
PREVIEW_MAX_SIDE = 128
#: Above this many pixels an image is decoded alone and in tiles, which bounds the VAE's memory.
TILED_DECODE_AREA = 768 * 768


def decode_latents(pipe: Any, latents: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """The pipeline's own VAE decode, as 8-bit pixels (see :func:`to_bytes`); large images are decoded one at a
    time and in tiles."""
    import torch

    scaled = latents / pipe.vae.config.scaling_factor
    height, width = (side * pipe.vae_scale_factor for side in latents.shape[-2:])
    if height * width > TILED_DECODE_AREA and hasattr(pipe.vae, "tiled_decode"):
        pixels = torch.cat([pipe.vae.tiled_decode(one, return_dict=False)[0] for one in scaled.split(1)])
    else:
        pixels = pipe.vae.decode(scaled, return_dict=False, generator=generators)[0]
    return to_bytes(pipe, pixels)


def to_bytes(pipe: Any, pixels: torch.Tensor) -> torch.Tensor:
    """The pixels of ``pipe.image_processor.postprocess(pixels, output_type="pil")`` as an (N, H, W, 3) uint8
    tensor, rounded where the decoder ran: diffusers copies float32 images to the CPU and rounds them there
    (3.9 ms of a one-step SD-Turbo image on an H200, ``benchmarks/GPU.md``), and the safety checker can start
    on them there."""
    import torch

    unit = pipe.image_processor.postprocess(pixels, output_type="pt")
    return (unit.float() * 255).round().to(torch.uint8).permute(0, 2, 3, 1)


def to_pil(decoded: torch.Tensor) -> list[Image.Image]:
    """PIL images of :func:`to_bytes`' pixels."""
    return [Image.fromarray(image) for image in decoded.cpu().numpy()]


def previewer(taesd: Any, pipe: Any) -> Callable[[torch.Tensor], Image.Image]:
    """Decode the first image's latents with TAESD at no more than :data:`PREVIEW_MAX_SIDE` pixels."""
    import torch.nn.functional as F

    def preview(latents: torch.Tensor) -> Image.Image:
        first = latents[:1]
        latent_side = PREVIEW_MAX_SIDE // pipe.vae_scale_factor
        height, width = first.shape[-2:]
        if max(height, width) > latent_side:
            scale = latent_side / max(height, width)
            first = F.interpolate(
                first, size=(max(1, round(height * scale)), max(1, round(width * scale))), mode="area"
            )
        pixels = taesd.decode(first.to(taesd.device, taesd.dtype), return_dict=False)[0]
        return to_pil(to_bytes(pipe, pixels))[0]

    return preview
