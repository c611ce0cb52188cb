"""CLIP embeddings from a loaded ``ModelBundle``: images, prompt ensembles and per-patch similarities.

Every function takes the bundle the caller holds with ``cache.use(...)`` and returns float32 numpy arrays, so
nothing above this module touches tensors. Embeddings are L2-normalised, as CLIP compares them by cosine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from fusion.classification.labels import fill
from fusion.registry import ModelBundle

#: Prompts per forward pass: bounds activation memory when hundreds of labels meet several templates.
TEXT_BATCH = 256
IMAGE_BATCH = 64


def _normalise(vectors: torch.Tensor) -> np.ndarray:
    vectors = vectors.float()
    return (vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)).cpu().numpy()


def logit_scale(bundle: ModelBundle) -> float:
    """CLIP's learned temperature: logits are ``logit_scale * cosine``."""
    return float(bundle.model.logit_scale.detach().float().exp().cpu())


def model_id(bundle: ModelBundle) -> str:
    """Where the model was loaded from (Hub id or folder): recorded in saved heads to catch mismatches."""
    return str(bundle.model.config.name_or_path)


def embedding_size(bundle: ModelBundle) -> int:
    return int(bundle.model.config.projection_dim)


@torch.inference_mode()
def encode_texts(bundle: ModelBundle, prompts: Sequence[str]) -> np.ndarray:
    """Normalised text embeddings, one row per prompt (prompts past 77 tokens are truncated)."""
    model, tokenizer = bundle.model, bundle.processor.tokenizer
    rows = []
    for start in range(0, len(prompts), TEXT_BATCH):
        tokens = tokenizer(
            list(prompts[start : start + TEXT_BATCH]), padding=True, truncation=True, return_tensors="pt"
        ).to(model.device)
        rows.append(_normalise(model.get_text_features(**tokens).pooler_output))
    return np.concatenate(rows) if rows else np.zeros((0, embedding_size(bundle)), np.float32)


def label_embeddings(bundle: ModelBundle, labels: Sequence[str], templates: Sequence[str]) -> np.ndarray:
    """One embedding per label: its template embeddings averaged and renormalised (CLIP's ensembling)."""
    prompts = [fill(template, label) for label in labels for template in templates]
    per_prompt = encode_texts(bundle, prompts).reshape(len(labels), len(templates), -1)
    mean = per_prompt.mean(axis=1)
    return (mean / np.linalg.norm(mean, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)


def prompt_ensemble(bundle: ModelBundle, prompts: Sequence[str]) -> np.ndarray:
    """One normalised embedding for a set of finished prompts (the neutral "none of these" class)."""
    mean = encode_texts(bundle, prompts).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def _pixel_values(bundle: ModelBundle, images: Sequence[np.ndarray]) -> torch.Tensor:
    pil_images = [Image.fromarray(image) for image in images]
    pixels = bundle.processor.image_processor(images=pil_images, return_tensors="pt")["pixel_values"]
    return pixels.to(bundle.model.device, bundle.model.dtype)


@torch.inference_mode()
def encode_images(bundle: ModelBundle, images: Sequence[np.ndarray]) -> np.ndarray:
    """Normalised image embeddings of RGB uint8 arrays, one row per image."""
    rows = []
    for start in range(0, len(images), IMAGE_BATCH):
        pixels = _pixel_values(bundle, images[start : start + IMAGE_BATCH])
        rows.append(_normalise(bundle.model.get_image_features(pixel_values=pixels).pooler_output))
    return np.concatenate(rows) if rows else np.zeros((0, embedding_size(bundle)), np.float32)


@torch.inference_mode()
def patch_similarity(bundle: ModelBundle, image: np.ndarray, text_embedding: np.ndarray) -> np.ndarray:
    """Cosine between each vision patch token and a text embedding, as a (rows, cols) grid.

    Patch tokens go through the same ``post_layernorm`` and ``visual_projection`` as CLIP's class token, so
    they live in the joint embedding space (the trick of MaskCLIP-style dense CLIP maps; coarse but honest).
    """
    model = bundle.model
    hidden = model.vision_model(pixel_values=_pixel_values(bundle, [image])).last_hidden_state
    patches = model.visual_projection(model.vision_model.post_layernorm(hidden[0, 1:]))
    similarity = _normalise(patches) @ np.asarray(text_embedding, np.float32)
    vision = model.config.vision_config
    side = vision.image_size // vision.patch_size
    return similarity.reshape(side, side).astype(np.float32)


def crop_box(bundle: ModelBundle, height: int, width: int) -> tuple[int, int, int, int]:
    """The part of a ``height`` x ``width`` image CLIP actually sees, as (top, left, rows, cols).

    CLIP's processor resizes the shortest edge and centre-crops a square: patch maps cover only that square.
    """
    processor = bundle.processor.image_processor
    shortest = getattr(processor.size, "shortest_edge", None)
    crop_height = getattr(processor.crop_size, "height", None)
    crop_width = getattr(processor.crop_size, "width", None)
    if not (processor.do_resize and processor.do_center_crop and shortest and crop_height and crop_width):
        return 0, 0, height, width
    scale = shortest / min(height, width)
    rows, cols = min(height, round(crop_height / scale)), min(width, round(crop_width / scale))
    return (height - rows) // 2, (width - cols) // 2, rows, cols
