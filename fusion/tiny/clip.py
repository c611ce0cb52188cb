"""The tiny CLIP twin: a random-weight ``CLIPModel`` and its processor, written with ``save_pretrained``.

Sizes follow transformers' own CLIP tests (hidden 32, 2 layers). The image side is 32 px with 8 px patches, so
the vision tower sees a 4x4 grid of patch tokens: small, but enough to exercise the patch-similarity heatmap.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

from fusion.tiny import SEED
from fusion.tiny.tokenizers import CLIP_MAX_LENGTH, clip_tokenizer

IMAGE_SIZE = 32
PATCH_SIZE = 8
HIDDEN_SIZE = 32
PROJECTION_DIM = 32


def build_clip(folder: Path) -> None:
    """Write a complete tiny CLIP (model + processor, safetensors) into ``folder``."""
    tokenizer = clip_tokenizer()
    tower = {
        "hidden_size": HIDDEN_SIZE,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "projection_dim": PROJECTION_DIM,
    }
    config = CLIPConfig(
        text_config={
            **tower,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": CLIP_MAX_LENGTH,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={**tower, "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE},
        projection_dim=PROJECTION_DIM,
    )
    torch.manual_seed(SEED)
    model = CLIPModel(config).eval()
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
