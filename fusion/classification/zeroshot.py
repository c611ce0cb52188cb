"""Zero-shot classification with CLIP over labels the user types.

Two ways to score, because they answer different questions:

- ``softmax``: "which one of these is it?" The scores are CLIP's softmax over ``logit_scale * cosine`` and sum
  to one, exactly what transformers' zero-shot-image-classification pipeline computes for a single template.
- ``independent``: "is this label present?" Each label is scored on its own as a two-way softmax against a
  neutral prompt ensemble ("a photo of something", ...):
  ``sigmoid(logit_scale * (cos(label) - cos(neutral)))``.
  A score above 0.5 means CLIP finds the label a better description than a generic one; labels at or above the
  threshold are reported as present. Adding or removing other labels never changes a label's score.

With several templates each label's text embedding is the renormalised mean over templates (CLIP's prompt
ensembling). An optional "none of these" class uses the same neutral ensemble in softmax mode.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fusion.cache import ModelCache
from fusion.classification import embeddings
from fusion.classification.labels import DEFAULT_TEMPLATES, parse_labels
from fusion.features.core import check_image
from fusion.messages import Message
from fusion.numbers import one_of

ScoreMode = Literal["softmax", "independent"]
SCORE_MODES: tuple[ScoreMode, ...] = ("softmax", "independent")
NONE_LABEL = "none of these"
NEUTRAL_PROMPTS = ("a photo.", "a photo of something.", "a picture of an object.")


@dataclass(frozen=True)
class ZeroShotOptions:
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    mode: ScoreMode = "softmax"
    #: Independent mode: labels scoring at least this are reported as present.
    threshold: float = 0.5
    #: Softmax mode: add a "none of these" class scored against the neutral prompts.
    include_none: bool = False
    model_key: str = "clip"

    def __post_init__(self) -> None:
        one_of(self.mode, SCORE_MODES, "scoring mode")
        if not self.templates:
            raise ValueError("Give at least one prompt template, for example: a photo of a {}.")
        if not isinstance(self.threshold, numbers.Real):
            raise ValueError(
                Message("The threshold must be a number between 0 and 1, got {value!r}.", value=self.threshold)
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(Message("The threshold must lie between 0 and 1, got {value}.", value=self.threshold))


@dataclass(frozen=True)
class ZeroShotResult:
    labels: tuple[str, ...]
    #: One score in [0, 1] per label, in the order of ``labels``.
    scores: tuple[float, ...]
    mode: ScoreMode
    threshold: float
    #: The "none of these" share in softmax mode when asked for, else ``None``.
    none_score: float | None = None
    notices: tuple[str, ...] = ()

    @property
    def top_label(self) -> str:
        return self.labels[int(np.argmax(self.scores))]

    @property
    def present(self) -> tuple[str, ...]:
        """Independent mode: labels at or above the threshold, best first."""
        if self.mode != "independent":
            return ()
        ranked = sorted(zip(self.scores, self.labels, strict=True), reverse=True)
        return tuple(label for score, label in ranked if score >= self.threshold)

    def confidences(self) -> dict[str, float]:
        """Label -> score for ``gr.Label``, plus "none of these" when it was scored."""
        scores = dict(zip(self.labels, self.scores, strict=True))
        if self.none_score is not None:
            scores[NONE_LABEL] = self.none_score
        return scores


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def score(
    image_embeddings: np.ndarray,
    label_embeddings: np.ndarray,
    neutral_embedding: np.ndarray | None,
    scale: float,
    mode: ScoreMode,
) -> np.ndarray:
    """Scores of each image (rows) for each label (columns); softmax appends a neutral column if given."""
    logits = scale * image_embeddings @ label_embeddings.T
    if mode == "independent":
        if neutral_embedding is None:
            raise ValueError("Independent scoring needs the neutral prompt embedding.")
        neutral = scale * image_embeddings @ neutral_embedding
        return 1.0 / (1.0 + np.exp(-(logits - neutral[:, None])))
    if neutral_embedding is not None:
        logits = np.concatenate([logits, (scale * image_embeddings @ neutral_embedding)[:, None]], axis=1)
    return _softmax(logits)


def zero_shot(
    image: np.ndarray,
    labels: str | Sequence[str],
    options: ZeroShotOptions = ZeroShotOptions(),
    *,
    cache: ModelCache,
) -> ZeroShotResult:
    """Score ``labels`` (typed text, or a list; see :func:`parse_labels`) for one RGB uint8 image."""
    parsed, notices = parse_labels(labels)
    check_image(image)
    mode = options.mode
    notes = list(notices)
    if mode == "softmax" and len(parsed) == 1 and not options.include_none:
        mode = "independent"
        notes.append(
            "With a single label a softmax always gives it 100%, so it was scored on its own against a "
            "neutral prompt instead (independent mode). Add more labels to compare them."
        )
    with_none = options.include_none and mode == "softmax"
    if with_none and NONE_LABEL in (label.casefold() for label in parsed):
        with_none = False
        notes.append(
            Message("{label!r} is already one of your labels, so it was not added a second time.", label=NONE_LABEL)
        )
    with cache.use(options.model_key) as bundle:
        image_embedding, label_embedding, neutral, scale = cache.run(
            lambda: (
                embeddings.encode_images(bundle, [image]),
                embeddings.label_embeddings(bundle, parsed, options.templates),
                embeddings.prompt_ensemble(bundle, NEUTRAL_PROMPTS)
                if with_none or mode == "independent"
                else None,
                embeddings.logit_scale(bundle),
            )
        )
    scores = score(image_embedding, label_embedding, neutral, scale, mode)[0]
    return ZeroShotResult(
        labels=parsed,
        scores=tuple(float(value) for value in scores[: len(parsed)]),
        mode=mode,
        threshold=options.threshold,
        none_score=float(scores[-1]) if with_none else None,
        notices=tuple(notes),
    )
