"""Tiny random-weight twins of the diffusion models: Stable Diffusion, ControlNet, TAESD, safety checker.

Sizes follow diffusers' own fast tests (UNet ``block_out_channels=(32, 64)``, CLIP hidden size 32, 2 layers).
The VAE keeps Stable Diffusion's four blocks so its scale factor is 8 like the real one: a 64 px image has
8 x 8 latents, exactly the UNet's ``sample_size``, and TAESD and ControlNet's conditioning embedding (both 8x)
line up with it as they do for the real models.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fusion.tiny import SEED
from fusion.tiny.tokenizers import clip_tokenizer

HIDDEN = 32
#: Latent side of the tiny UNet; times the VAE's scale factor of 8 it gives 64 px images.
SAMPLE_SIZE = 8
#: The CLIP statistics every Stable Diffusion feature extractor normalises with.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: Stable Diffusion 1.5's scheduler configuration (PNDM, as its ``scheduler_config.json`` ships it).
SD_SCHEDULER_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "clip_sample": False,
}


def _unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=SAMPLE_SIZE,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=HIDDEN,
        attention_head_dim=(2, 4),
        norm_num_groups=32,
    )


def _text_encoder(vocab_size: int, bos_token_id: int, eos_token_id: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=HIDDEN,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )
    return CLIPTextModel(config)


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(8, 16, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=SAMPLE_SIZE * 8,
    )


def build_stable_diffusion(folder: Path) -> None:
    """A complete ``StableDiffusionPipeline`` folder (no safety checker: the app shares one)."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    torch.manual_seed(SEED)
    tokenizer = clip_tokenizer()
    pipe = StableDiffusionPipeline(
        vae=_vae(),
        text_encoder=_text_encoder(len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id),
        tokenizer=tokenizer,
        unet=_unet(),
        scheduler=PNDMScheduler.from_config(SD_SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


def build_controlnet(folder: Path) -> None:
    """A ControlNet copied from the tiny UNet (same seed, so it matches the tiny SD twin's UNet)."""
    from diffusers import ControlNetModel

    torch.manual_seed(SEED)
    controlnet = ControlNetModel.from_unet(_unet(), conditioning_embedding_out_channels=(8, 8, 8, 8))
    controlnet.save_pretrained(folder, safe_serialization=True)


def build_taesd(folder: Path) -> None:
    """A tiny ``AutoencoderTiny`` with TAESD's four stages (8x), for live previews."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(SEED)
    taesd = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    )
    taesd.save_pretrained(folder, safe_serialization=True)


def build_safety_checker(folder: Path) -> None:
    """A tiny ``StableDiffusionSafetyChecker`` and its ``CLIPImageProcessor``.

    Its concept thresholds are 1.0, above any cosine similarity, so like a real checker on ordinary images it
    flags nothing; tests that need a flag lower the thresholds on their own loaded copy.
    """
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    torch.manual_seed(SEED)
    config = CLIPConfig(
        text_config={
            "hidden_size": HIDDEN,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
        vision_config={
            "hidden_size": HIDDEN,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 4,
        },
        projection_dim=HIDDEN,
    )
    checker = StableDiffusionSafetyChecker(config)
    with torch.no_grad():
        checker.concept_embeds.copy_(torch.randn_like(checker.concept_embeds))
        checker.special_care_embeds.copy_(torch.randn_like(checker.special_care_embeds))
        checker.concept_embeds_weights.fill_(1.0)
        checker.special_care_embeds_weights.fill_(1.0)
    checker.save_pretrained(folder, safe_serialization=True)
    processor = CLIPImageProcessor(
        size={"shortest_edge": 32},
        crop_size={"height": 32, "width": 32},
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )
    processor.save_pretrained(folder)
