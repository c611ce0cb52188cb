"""Task functions around the hybrid head: featurise images, teach by example, classify and explain.

Models come only from the ``cache`` keyword; handcrafted features need no model, so a head with CLIP's weight
at 0 works without one. See :mod:`fusion.classification.head` for the model itself.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from fusion import features
from fusion.cache import ModelCache
from fusion.classification import embeddings
from fusion.classification.datasets import LabelledImages
from fusion.classification.head import (
    DEFAULT_C,
    ClipPrior,
    FeatureMatrix,
    FeatureWeights,
    HybridHead,
    fit_head,
)
from fusion.classification.labels import DEFAULT_TEMPLATES
from fusion.messages import Message

#: Blend of the colour map over the picture in the heatmap.
HEATMAP_ALPHA = 0.5


@dataclass(frozen=True)
class HeadOptions:
    weights: FeatureWeights = field(default_factory=FeatureWeights)
    C: float = DEFAULT_C
    #: Start the CLIP columns from the labels' text embeddings (zero-shot), rather than from zero.
    zero_shot_prior: bool = True
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    #: Side of the square the handcrafted features are computed on.
    feature_size: int = 128
    model_key: str = "clip"


@dataclass(frozen=True, eq=False)
class TrainResult:
    head: HybridHead
    seconds: float
    #: Accuracy on the examples it was trained on (a sanity check, not a held-out estimate).
    train_accuracy: float
    notices: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Explanation:
    #: Label -> probability over exactly the head's labels.
    confidences: dict[str, float]
    top_label: str
    #: Feature family -> how far it pushed the top label above the average label (logit units).
    contributions: dict[str, float]
    #: The top label's centred bias (the part of its lead no feature explains).
    bias: float
    #: The picture with CLIP's patch similarity to the top label overlaid (RGB uint8), if CLIP was available.
    heatmap: np.ndarray | None
    #: The raw patch cosine similarities (rows x cols), if computed.
    patch_similarity: np.ndarray | None
    notices: tuple[str, ...] = ()


def handcrafted_matrix(
    images: Sequence[np.ndarray], *, size: int = 128
) -> tuple[np.ndarray, dict[str, slice]]:
    """Handcrafted vectors of every image, stacked, with the family layout."""
    if not images:
        raise ValueError("No images were given to featurise.")
    vectors = [features.handcrafted_vector(image, size=size) for image in images]
    return np.stack([vector.values for vector in vectors]), dict(vectors[0].blocks)


def clip_model_id(model_key: str, *, cache: ModelCache) -> str:
    """Where ``model_key``'s CLIP currently comes from (heads record it to refuse mismatched features)."""
    with cache.use(model_key) as bundle:
        return embeddings.model_id(bundle)


def clip_image_embeddings(images: Sequence[np.ndarray], *, model_key: str, cache: ModelCache) -> np.ndarray:
    with cache.use(model_key) as bundle:
        return cache.run(lambda: embeddings.encode_images(bundle, images))


def extract_features(
    images: Sequence[np.ndarray],
    *,
    with_clip: bool,
    feature_size: int = 128,
    model_key: str = "clip",
    cache: ModelCache | None = None,
) -> FeatureMatrix:
    """Raw features of every image: always the handcrafted families, CLIP's embedding when asked."""
    handcrafted, blocks = handcrafted_matrix(images, size=feature_size)
    if not with_clip:
        return FeatureMatrix(handcrafted, blocks)
    if cache is None:
        raise ValueError("CLIP features need the model cache; set the CLIP weight to 0 to go without CLIP.")
    return FeatureMatrix(handcrafted, blocks, clip_image_embeddings(images, model_key=model_key, cache=cache))


def clip_prior(
    labels: Sequence[str], templates: Sequence[str], *, model_key: str = "clip", cache: ModelCache
) -> ClipPrior:
    """The labels' ensembled text embeddings: the head's zero-shot starting point."""
    with cache.use(model_key) as bundle:
        text = cache.run(lambda: embeddings.label_embeddings(bundle, labels, templates))
        return ClipPrior(text, embeddings.logit_scale(bundle), embeddings.model_id(bundle))


def train_head(
    examples: LabelledImages, options: HeadOptions = HeadOptions(), *, cache: ModelCache
) -> TrainResult:
    """Fit the hybrid head on labelled examples (any number per label, zero included)."""
    labels = examples.labels
    if len(labels) < 2:
        raise ValueError("Teach at least two labels: a classifier needs something to tell apart.")
    weights = options.weights
    notices = list(examples.notices)
    without = [label for label, count in examples.counts().items() if count == 0]
    if without and not (weights.uses_clip and options.zero_shot_prior):
        raise ValueError(
            Message(
                "These labels have no examples: {labels}. Add examples of them, or keep CLIP's weight above 0 with the "
                "zero-shot start so CLIP's text embeddings stand in for them.",
                labels=", ".join(without[:10]),
            )
        )
    if without:
        notices.append(
            Message("No examples yet for {labels}: CLIP's zero-shot prior stands in.", labels=", ".join(without[:10]))
        )
    started = time.perf_counter()
    matrix = (
        extract_features(
            examples.images,
            with_clip=weights.uses_clip,
            feature_size=options.feature_size,
            model_key=options.model_key,
            cache=cache,
        )
        if len(examples)
        else FeatureMatrix(np.zeros((0, 0), np.float32), {})
    )
    prior = (
        clip_prior(labels, options.templates, model_key=options.model_key, cache=cache)
        if weights.uses_clip and options.zero_shot_prior
        else None
    )
    head = fit_head(
        matrix,
        examples.targets,
        labels,
        weights=weights,
        C=options.C,
        prior=prior,
        feature_size=options.feature_size,
        model_key=options.model_key,
        model_id=clip_model_id(options.model_key, cache=cache) if weights.uses_clip else "",
        templates=options.templates,
    )
    seconds = time.perf_counter() - started
    accuracy = (
        float((head.logits(matrix).argmax(axis=1) == examples.targets).mean())
        if len(matrix)
        else float("nan")
    )
    return TrainResult(head, seconds, accuracy, tuple(notices))


def zero_shot_head(
    labels: Sequence[str], options: HeadOptions = HeadOptions(), *, cache: ModelCache
) -> HybridHead:
    """The head before any example: CLIP zero-shot expressed as the hybrid head's CLIP columns."""
    empty = LabelledImages((), np.zeros(0, np.intp), tuple(labels))
    return train_head(empty, options, cache=cache).head


def head_features(
    images: Sequence[np.ndarray], head: HybridHead, *, cache: ModelCache | None
) -> FeatureMatrix:
    """Featurise images exactly as ``head`` was trained (size, CLIP model)."""
    return extract_features(
        images,
        with_clip=head.uses_clip,
        feature_size=head.feature_size,
        model_key=head.model_key,
        cache=cache,
    )


def check_model(head: HybridHead, *, cache: ModelCache) -> None:
    """Refuse a head trained on another CLIP model's embeddings (they are not comparable)."""
    if not head.uses_clip:
        return
    current = clip_model_id(head.model_key, cache=cache)
    if head.model_id != current:
        raise ValueError(
            Message(
                "This head was trained on features of {model_id!r}, but {key!r} is now {current!r}: train it again "
                "with this model.",
                model_id=head.model_id,
                key=head.model_key,
                current=current,
            )
        )


def overlay_heatmap(image: np.ndarray, grid: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Colour-map ``grid`` (min-max scaled) over ``box`` of the image; the part CLIP never saw is dimmed."""
    top, left, rows, cols = box
    span = float(grid.max() - grid.min())
    scaled = (grid - grid.min()) / span if span > 0 else np.zeros_like(grid)
    heat = cv2.resize((scaled * 255).astype(np.uint8), (cols, rows), interpolation=cv2.INTER_CUBIC)
    colours = cv2.cvtColor(cv2.applyColorMap(heat, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    result = (image.astype(np.float32) * 0.5).astype(np.uint8)
    region = image[top : top + rows, left : left + cols]
    result[top : top + rows, left : left + cols] = cv2.addWeighted(
        region, 1 - HEATMAP_ALPHA, colours, HEATMAP_ALPHA, 0.0
    )
    return result


def patch_heatmap(
    image: np.ndarray, label: str, templates: Sequence[str], *, model_key: str = "clip", cache: ModelCache
) -> tuple[np.ndarray, np.ndarray]:
    """CLIP's patch-by-patch similarity to ``label`` as a grid, and overlaid on the image."""
    with cache.use(model_key) as bundle:

        def compute() -> tuple[np.ndarray, tuple[int, int, int, int]]:
            text = embeddings.label_embeddings(bundle, [label], templates)[0]
            grid = embeddings.patch_similarity(bundle, image, text)
            return grid, embeddings.crop_box(bundle, *image.shape[:2])

        grid, box = cache.run(compute)
    return grid, overlay_heatmap(image, grid, box)


def explain(image: np.ndarray, head: HybridHead, *, cache: ModelCache, heatmap: bool = True) -> Explanation:
    """Classify one image with ``head``, split the top label's lead by feature family, map it with CLIP."""
    check_model(head, cache=cache)
    matrix = head_features([image], head, cache=cache)
    probabilities = head.probabilities(matrix)[0]
    top = int(np.argmax(probabilities))
    parts = head.contributions(matrix, np.array([top]))[0]
    computed = dict(zip(head.layout, (float(value) for value in parts), strict=True))
    contributions = {family: computed.get(family, 0.0) for family in head.weights.active}
    notices = []
    if not head.examples:
        notices.append("No examples taught yet: this is CLIP zero-shot, so only the CLIP family contributes.")
    grid = overlay = None
    if heatmap:
        grid, overlay = patch_heatmap(
            image, head.labels[top], head.templates, model_key=head.model_key, cache=cache
        )
        if not head.uses_clip:
            notices.append(
                "This head does not use CLIP; the heatmap shows where CLIP would see the top label."
            )
    return Explanation(
        confidences=dict(zip(head.labels, (float(p) for p in probabilities), strict=True)),
        top_label=head.labels[top],
        contributions=contributions,
        bias=float(head.intercept[top] - head.intercept.mean()),
        heatmap=overlay,
        patch_similarity=grid,
        notices=tuple(notices),
    )
