"""Flows across panels: edge-guided generation, re-imagine round trips, report cards and run cards.

This module only composes the task modules (generation, captioning, classification, features); every model
goes through the ``cache`` keyword argument and every metric below is a pure function of numpy arrays, so the
fidelity numbers can be tested on synthetic cases with known answers.

- Edge-guided generation: an edge operation of the classical panel (Canny or a gradient, with its parameters)
  makes the control map, and SD 1.5 is conditioned on it through ControlNet-Canny
  (:data:`fusion.generation.CONTROLNET_KEY`, built around the cached SD components with ``from_pipe``).
- Structure fidelity compares the generated image's edge map (same operation, same parameters) with the
  control map: IoU and F1 of the edge pixels, within :data:`EDGE_TOLERANCE_PX` pixels as is usual for
  edge benchmarks (a one-pixel shift is not a miss).
- A run card is one JSON document with the settings, model ids and library versions behind a result; it is
  also stored in the PNG's :data:`RUN_CARD_CHUNK` text chunk, and :func:`restore_run_card` reads it back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np
from PIL import Image

from fusion import captioning, features, generation
from fusion.classification import embeddings, zeroshot
from fusion.features.core import check_image
from fusion.messages import Message
from fusion.numbers import one_of

if TYPE_CHECKING:
    from fusion.cache import ModelCache

RUN_CARD_CHUNK = "fusion_run_card"
RUN_CARD_FORMAT = "fusion-run-card/1"
CLIP_KEY = "clip"
DEFAULT_EDGE_OPERATION = "Canny edges"
#: Edge operations the classical panel offers that make a usable control map.
EDGE_OPERATIONS = tuple(name for name, op in features.OPERATIONS.items() if op.group == "Edges")
#: Edge pixels within this distance count as matching (the usual tolerance of edge benchmarks).
EDGE_TOLERANCE_PX = 1
#: Gradient maps are grey levels; pixels at or above this are edges when binarised.
EDGE_LEVEL = 128
HISTOGRAM_BINS = 32
REPORT_HISTOGRAM_BINS = 16
VERSIONED_PACKAGES = (
    "fusion",
    "torch",
    "diffusers",
    "transformers",
    "gradio",
    "numpy",
    "opencv-python-headless",
)
ReimagineMode = Literal["txt2img", "img2img"]
DEFAULT_OPTIONS = generation.GenerationOptions()


# ------------------------------------------------------------------------------------------ pure metrics
@dataclass(frozen=True)
class EdgeAgreement:
    """How well two binary edge maps agree (1: the same edges, 0: none in common)."""

    iou: float
    precision: float
    recall: float
    f1: float


def binary_edges(edge_map: np.ndarray) -> np.ndarray:
    """A bool edge mask of an edge map (grey or RGB; Canny's 0/255 or a gradient's grey levels)."""
    grey = edge_map if edge_map.ndim == 2 else edge_map.max(axis=2)
    return grey >= EDGE_LEVEL


def edge_agreement(
    predicted: np.ndarray, reference: np.ndarray, *, tolerance_px: int = EDGE_TOLERANCE_PX
) -> EdgeAgreement:
    """IoU, precision, recall and F1 of ``predicted`` edges against ``reference`` edges of the same size.

    A predicted pixel is correct when a reference edge lies within ``tolerance_px`` (and vice versa for
    recall); IoU uses the same tolerant matches. Two empty maps agree perfectly.
    """
    if predicted.shape[:2] != reference.shape[:2]:
        raise ValueError(
            Message(
                "Edge maps differ in size: {size} vs {other_size}.",
                size=predicted.shape[:2],
                other_size=reference.shape[:2],
            )
        )
    first, second = binary_edges(predicted), binary_edges(reference)
    if not first.any() and not second.any():
        return EdgeAgreement(1.0, 1.0, 1.0, 1.0)
    kernel = np.ones((2 * tolerance_px + 1,) * 2, np.uint8)
    near_second = cv2.dilate(second.astype(np.uint8), kernel).astype(bool)
    near_first = cv2.dilate(first.astype(np.uint8), kernel).astype(bool)
    true_predicted = int((first & near_second).sum())
    true_reference = int((second & near_first).sum())
    precision = true_predicted / first.sum() if first.any() else 0.0
    recall = true_reference / second.sum() if second.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    missed = int(second.sum()) - true_reference
    false = int(first.sum()) - true_predicted
    iou = true_reference / (true_reference + missed + false)
    return EdgeAgreement(float(iou), float(precision), float(recall), float(f1))


@dataclass(frozen=True)
class KeypointAgreement:
    """ORB matches between two images and the share RANSAC keeps under one homography."""

    matches: int
    inliers: int
    inlier_ratio: float


def keypoint_agreement(first: np.ndarray, second: np.ndarray) -> KeypointAgreement:
    """ORB ratio-test matches and RANSAC homography inliers (the classical panel's matching)."""
    found = features.find_matches(first, second)
    matches, inliers = len(found.good), int(found.inliers.sum())
    return KeypointAgreement(matches, inliers, inliers / matches if matches else 0.0)


def colour_histogram(image: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict[str, np.ndarray]:
    """Per-channel RGB histograms as pixel fractions (the classical panel's colour histograms)."""
    return dict(features.colour_histograms(image, bins=bins).plot.series)


def histogram_distance(first: np.ndarray, second: np.ndarray, bins: int = HISTOGRAM_BINS) -> float:
    """Hellinger distance of the RGB histograms, averaged over channels: 0 same colours, 1 disjoint."""
    ours, theirs = colour_histogram(first, bins), colour_histogram(second, bins)
    distances = [math.sqrt(max(0.0, 1.0 - float(np.sqrt(ours[name] * theirs[name]).sum()))) for name in ours]
    return float(np.mean(distances))


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian (no smoothing): the classic focus measure, higher is sharper."""
    return float(features.laplacian(image, smoothing=0.0).stats["laplacian_variance"])


def edge_density(image: np.ndarray) -> float:
    """Share of pixels on Canny edges at the default thresholds."""
    return float(features.canny(image).stats["edge_density"])


def cosine(first: np.ndarray, second: np.ndarray) -> float:
    """Cosine similarity of two vectors (CLIP embeddings are already normalised, others need not be), kept in
    [-1, 1]: float32 rounding puts a vector's cosine with itself at 1.0000001."""
    norm = float(np.linalg.norm(first) * np.linalg.norm(second))
    return float(np.clip(first @ second / norm, -1.0, 1.0)) if norm else 0.0


# -------------------------------------------------------------------------------------------- edge maps
@dataclass(frozen=True)
class EdgeSettings:
    """Which classical edge operation makes the control map, with its parameters (features' names)."""

    operation: str = DEFAULT_EDGE_OPERATION
    params: Mapping[str, Any] = field(default_factory=dict)


def control_map(image: np.ndarray, edges: EdgeSettings = EdgeSettings()) -> np.ndarray:
    """The edge map of ``image`` as RGB uint8 (white edges on black): ControlNet-Canny's input format."""
    one_of(edges.operation, EDGE_OPERATIONS, "edge operation")
    own = features.params_for(edges.operation, edges.params)
    edge_image = features.run_operation(image, edges.operation, **own).image
    return edge_image if edge_image.ndim == 3 else np.repeat(edge_image[:, :, None], 3, axis=2)


# --------------------------------------------------------------------------------------------- reports
@dataclass(frozen=True)
class Fidelity:
    """Structure fidelity of a conditioned result against its control map and source image."""

    edges: EdgeAgreement
    keypoints: KeypointAgreement | None
    histogram_distance: float | None


@dataclass(frozen=True)
class ReportCard:
    """What a generated (or any) image is, measured by every panel."""

    caption: str
    zero_shot: Mapping[str, float]
    clip_score: float | None
    sharpness: float
    edge_density: float
    colour_means: Mapping[str, float]
    colour_histogram: Mapping[str, tuple[float, ...]]
    fidelity: Fidelity | None = None
    notices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fidelity(
    image: np.ndarray, control: np.ndarray, edges: EdgeSettings, source: np.ndarray | None = None
) -> Fidelity:
    """The result's edges (same operation and parameters) against the control map; ORB and colours
    against the source image when there is one. Control and source are resized to the result first."""
    height, width = image.shape[:2]
    control = cv2.resize(control, (width, height), interpolation=cv2.INTER_NEAREST)
    agreement = edge_agreement(control_map(image, edges), control)
    if source is None:
        return Fidelity(agreement, None, None)
    source = cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA)
    return Fidelity(agreement, keypoint_agreement(source, image), histogram_distance(source, image))


def clip_scores(image: np.ndarray, texts: Sequence[str], *, cache: ModelCache) -> tuple[float, ...]:
    """CLIPScore (100 x cosine, floored at 0, as in Hessel et al. 2021) of one image against each text."""
    with cache.use(CLIP_KEY) as bundle:
        image_embedding, text_embeddings = cache.run(
            lambda: (embeddings.encode_images(bundle, [image])[0], embeddings.encode_texts(bundle, texts))
        )
    return tuple(max(0.0, 100.0 * float(row @ image_embedding)) for row in text_embeddings)


def report_card(
    image: np.ndarray,
    *,
    prompt: str = "",
    labels: str = "",
    control: np.ndarray | None = None,
    edges: EdgeSettings = EdgeSettings(),
    source: np.ndarray | None = None,
    cache: ModelCache,
) -> ReportCard:
    """Caption, zero-shot scores on ``labels``, CLIPScore against ``prompt``, classical statistics, and
    structure fidelity when ``control`` (the control map) is given."""
    check_image(image)
    caption = captioning.caption([image], cache=cache).captions[0][0]
    notices: list[str] = []
    scores: dict[str, float] = {}
    if labels.strip():
        result = zeroshot.zero_shot(image, labels, cache=cache)
        scores = result.confidences()
        notices += result.notices
    clip_score = clip_scores(image, [prompt], cache=cache)[0] if prompt.strip() else None
    colours = features.colour_histograms(image, bins=REPORT_HISTOGRAM_BINS)
    return ReportCard(
        caption=caption,
        zero_shot=scores,
        clip_score=clip_score,
        sharpness=sharpness(image),
        edge_density=edge_density(image),
        colour_means={name: float(value) for name, value in colours.stats.items()},
        colour_histogram={
            name: tuple(round(float(value), 5) for value in series)
            for name, series in colours.plot.series.items()
        },
        fidelity=None if control is None else fidelity(image, control, edges, source),
        notices=tuple(notices),
    )


# --------------------------------------------------------------------------------------------- run cards
def library_versions() -> dict[str, str]:
    """Installed versions of the libraries behind a result (missing ones are left out)."""
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def generation_settings(options: generation.GenerationOptions) -> dict[str, Any]:
    """The JSON-safe settings of resolved generation options (images are inputs, not settings)."""
    settings = asdict(replace(options, init_image=None, control_image=None))
    for image_field in ("init_image", "control_image"):
        settings.pop(image_field)
    return settings


def run_card(settings: Mapping[str, Mapping[str, Any]], models: Mapping[str, str]) -> dict[str, Any]:
    """One JSON document: each panel's settings, the model ids (key -> Hub id or folder) and versions."""
    return {
        "format": RUN_CARD_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": {panel: dict(values) for panel, values in settings.items()},
        "models": dict(models),
        "versions": library_versions(),
    }


def attach_run_card(image: Image.Image, card: Mapping[str, Any]) -> Image.Image:
    """Store the card in the image's PNG text chunks (Gradio and :func:`generation.save_png` keep them)."""
    image.info[RUN_CARD_CHUNK] = json.dumps(card, sort_keys=True)
    return image


def restore_run_card(source: str | Mapping[str, Any] | Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The per-panel settings of a run card given as JSON text, a parsed card, or a PNG's text chunks."""
    if isinstance(source, Mapping) and RUN_CARD_CHUNK in source:
        source = source[RUN_CARD_CHUNK]
    if isinstance(source, str):
        try:
            source = json.loads(source)
        except json.JSONDecodeError as error:
            raise ValueError(
                Message(
                    "This run card is not valid JSON ({error}, position {position}).",
                    error=error.msg,
                    position=error.pos,
                )
            ) from None
    if not isinstance(source, Mapping) or source.get("format") != RUN_CARD_FORMAT:
        raise ValueError(
            Message(
                "This is not a fusion run card (expected format {expected!r}): load the JSON or PNG that a result of "
                "the Fusion tab came with.",
                expected=RUN_CARD_FORMAT,
            )
        )
    settings = source.get("settings")
    if not isinstance(settings, Mapping):
        raise ValueError("The run card has no settings to restore.")
    return {str(panel): dict(values) for panel, values in settings.items() if isinstance(values, Mapping)}


def models_used(cache: ModelCache, keys: Sequence[str]) -> dict[str, str]:
    """Model key -> the Hub id or tiny-twin folder it was loaded from, for the run card."""
    settings = cache.settings
    if settings.models == "tiny":
        return {key: str(settings.tiny_dir / key) for key in keys}
    return {key: settings.model_id(key) for key in keys}


# ------------------------------------------------------------------------------------------------ flows
@dataclass(frozen=True)
class EdgesResult:
    """An edge-guided generation: the control map beside the result, with a report card per image."""

    control: np.ndarray
    generation: generation.GenerationResult
    reports: tuple[ReportCard, ...]
    card: Mapping[str, Any]
    notices: tuple[str, ...] = ()


def _sized_for(image: np.ndarray, options: generation.GenerationOptions, *, cache: ModelCache) -> Any:
    """Follow the image's aspect ratio at about the model's native pixel area unless a size was given (the same
    rule as an img2img init image, :func:`generation.init_image_size`)."""
    if options.width is not None or options.height is not None:
        return options
    with cache.use(generation.get_preset(options.model).key) as base:
        native = generation.native_size(base)
    height, width = image.shape[:2]
    width, height = generation.init_image_size(width, height, native)
    return replace(options, width=width, height=height)


def edges_to_image(
    image: np.ndarray,
    options: generation.GenerationOptions = DEFAULT_OPTIONS,
    *,
    edges: EdgeSettings = EdgeSettings(),
    labels: str = "",
    cache: ModelCache,
) -> EdgesResult:
    """Generate with SD 1.5 conditioned on ``image``'s edge map through ControlNet-Canny, then report."""
    check_image(image)
    control = control_map(image, edges)
    sized = _sized_for(image, replace(options, control_image=control), cache=cache)
    result = generation.generate(sized, cache=cache)
    reports = tuple(
        report_card(
            np.asarray(picture.convert("RGB")),
            prompt=result.options.prompt,
            labels=labels,
            control=control,
            edges=edges,
            source=image,
            cache=cache,
        )
        for picture in result.images
    )
    card = run_card(
        {
            "edges": {"operation": edges.operation, **features.params_for(edges.operation, edges.params)},
            "generation": generation_settings(result.options),
            "report": {"labels": labels},
        },
        models_used(
            cache,
            (
                result.options.model,
                generation.CONTROLNET_KEY,
                captioning.CAPTION_MODEL_KEYS["base"],
                CLIP_KEY,
            ),
        ),
    )
    for picture in result.images:
        attach_run_card(picture, card)
    return EdgesResult(control, result, reports, card, result.notices)


@dataclass(frozen=True)
class ReimagineResult:
    """Image -> caption -> prompt -> new image, and how close the round trip came back."""

    caption: str
    prompt: str
    generation: generation.GenerationResult
    #: CLIP cosine of the source and the new image.
    image_similarity: float
    #: CLIP cosine of the prompt and the new image's caption.
    text_similarity: float
    new_caption: str
    report: ReportCard
    card: Mapping[str, Any]
    notices: tuple[str, ...] = ()


def reimagine(
    image: np.ndarray,
    options: generation.GenerationOptions = DEFAULT_OPTIONS,
    *,
    mode: ReimagineMode = "txt2img",
    labels: str = "",
    cache: ModelCache,
) -> ReimagineResult:
    """Caption ``image`` (BLIP), generate from ``options.prompt`` or else that caption (txt2img, or img2img
    starting from the image), then compare: CLIP image-image and prompt-vs-new-caption similarity."""
    check_image(image)
    if mode not in ("txt2img", "img2img"):
        raise ValueError(Message("Unknown re-imagine mode {mode!r}; choose txt2img or img2img.", mode=mode))
    caption = captioning.caption([image], cache=cache).captions[0][0]
    prompt = options.prompt.strip() or caption
    wanted = replace(options, prompt=prompt, init_image=image if mode == "img2img" else None)
    result = generation.generate(_sized_for(image, wanted, cache=cache), cache=cache)
    generated = np.asarray(result.images[0].convert("RGB"))
    report = report_card(generated, prompt=prompt, labels=labels, cache=cache)
    with cache.use(CLIP_KEY) as bundle:
        pictures, texts = cache.run(
            lambda: (
                embeddings.encode_images(bundle, [image, generated]),
                embeddings.encode_texts(bundle, [prompt, report.caption]),
            )
        )
    card = run_card(
        {"reimagine": {"mode": mode, "labels": labels}, "generation": generation_settings(result.options)},
        models_used(cache, (result.options.model, captioning.CAPTION_MODEL_KEYS["base"], CLIP_KEY)),
    )
    attach_run_card(result.images[0], card)
    return ReimagineResult(
        caption=caption,
        prompt=prompt,
        generation=result,
        image_similarity=cosine(pictures[0], pictures[1]),
        text_similarity=cosine(texts[0], texts[1]),
        new_caption=report.caption,
        report=report,
        card=card,
        notices=result.notices + report.notices,
    )
