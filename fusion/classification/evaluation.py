"""Held-out accuracy of every head: the ablation in the UI, the benchmark and ``python -m fusion evaluate``.

Heads compared (same features, same folds):

- ``classical``: the handcrafted families only (HOG, LBP, colour, edges), multinomial logistic regression.
- ``zero-shot``: CLIP's text embeddings of the label names, no training at all.
- ``linear probe``: logistic regression on CLIP's image embedding alone.
- ``fused``: the hybrid head with the user's weights, starting from the zero-shot prior.

No leakage: features are computed per image (nothing is fitted across images), and every statistic that is
fitted (standardisation means and deviations, the head's weights) is fitted on the training part of each fold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fusion.cache import ModelCache
from fusion.charts import PlotData
from fusion.classification.datasets import LabelledImages, Split
from fusion.classification.head import (
    CLIP_FAMILY,
    HANDCRAFTED_FAMILIES,
    ClipPrior,
    FeatureMatrix,
    FeatureWeights,
    fit_head,
)
from fusion.classification.hybrid import HeadOptions, clip_prior, extract_features
from fusion.messages import Message
from fusion.numbers import one_of

HEADS = ("classical", "zero-shot", "linear probe", "fused")
CLIP_HEADS = ("zero-shot", "linear probe", "fused")
DEFAULT_FOLDS = 5
DEFAULT_OPTIONS = HeadOptions()


@dataclass(frozen=True)
class AblationRow:
    head: str
    #: Mean accuracy over folds (or the single test split).
    accuracy: float
    #: Standard deviation over folds (0 for a single split).
    spread: float
    folds: tuple[float, ...]
    #: Mean seconds to fit the head on one training part (features excluded).
    fit_seconds: float
    families: str


@dataclass(frozen=True)
class AblationResult:
    rows: tuple[AblationRow, ...]
    #: How accuracy was measured, e.g. "5-fold stratified cross-validation".
    protocol: str
    labels: tuple[str, ...]
    train_size: int
    test_size: int
    notices: tuple[str, ...] = ()

    def table(self) -> list[list[object]]:
        """Rows for a ``gr.Dataframe`` with :data:`TABLE_HEADERS`."""
        return [
            [
                row.head,
                round(row.accuracy, 4),
                round(row.spread, 4),
                row.families,
                round(row.fit_seconds * 1000, 1),
            ]
            for row in self.rows
        ]

    def plot(self) -> PlotData:
        return PlotData(
            "bar",
            Message("Held-out accuracy ({protocol})", protocol=self.protocol),
            "head",
            "accuracy",
            {"accuracy": np.array([row.accuracy for row in self.rows])},
            x=np.array([row.head for row in self.rows]),
            named_categories=True,
        )

    def markdown(self) -> str:
        lines = [
            "| head | accuracy | ± | features | fit ms |",
            "| --- | ---: | ---: | --- | ---: |",
            *(
                f"| {row.head} | {row.accuracy:.4f} | {row.spread:.4f} | {row.families} | "
                f"{row.fit_seconds * 1000:.1f} |"
                for row in self.rows
            ),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "protocol": self.protocol,
            "labels": list(self.labels),
            "train_size": self.train_size,
            "test_size": self.test_size,
            "rows": [
                {
                    "head": row.head,
                    "accuracy": row.accuracy,
                    "spread": row.spread,
                    "folds": list(row.folds),
                    "fit_seconds": row.fit_seconds,
                    "families": row.families,
                }
                for row in self.rows
            ],
            "notices": list(self.notices),
        }


TABLE_HEADERS = ["head", "accuracy", "± (folds)", "features", "fit ms"]

Predictor = Callable[[FeatureMatrix, np.ndarray, FeatureMatrix], np.ndarray]


def _head_predictor(
    weights: FeatureWeights, options: HeadOptions, prior: ClipPrior | None, labels
) -> Predictor:
    def predict(train: FeatureMatrix, targets: np.ndarray, test: FeatureMatrix) -> np.ndarray:
        head = fit_head(train, targets, labels, weights=weights, C=options.C, prior=prior)
        return head.logits(test).argmax(axis=1)

    return predict


def _zero_shot_predictor(prior: ClipPrior) -> Predictor:
    def predict(_train: FeatureMatrix, _targets: np.ndarray, test: FeatureMatrix) -> np.ndarray:
        assert test.clip is not None
        return (test.clip @ prior.text_embeddings.T).argmax(axis=1)

    return predict


def _predictors(
    heads: Sequence[str], options: HeadOptions, prior: ClipPrior | None, labels: tuple[str, ...]
) -> tuple[dict[str, tuple[Predictor, str]], list[str]]:
    """The heads that can run with these weights and models, with the families each uses."""
    weights = options.weights
    handcrafted = tuple(family for family in HANDCRAFTED_FAMILIES if weights.of(family) > 0)
    predictors: dict[str, tuple[Predictor, str]] = {}
    notices = []
    for name in heads:
        one_of(name, HEADS, "head")
        if name in CLIP_HEADS and prior is None:
            notices.append(Message("Skipped {name}: it needs CLIP.", name=name))
            continue
        if name == "classical":
            if not handcrafted:
                notices.append("Skipped classical: every handcrafted weight is 0.")
                continue
            predictors[name] = (
                _head_predictor(weights.only(*HANDCRAFTED_FAMILIES), options, None, labels),
                "+".join(handcrafted),
            )
        elif name == "zero-shot":
            predictors[name] = (_zero_shot_predictor(prior), "CLIP text")
        elif name == "linear probe":
            probe = FeatureWeights(hog=0, lbp=0, color=0, edges=0, clip=1)
            predictors[name] = (_head_predictor(probe, options, None, labels), CLIP_FAMILY)
        else:
            fused_prior = prior if options.zero_shot_prior and weights.uses_clip else None
            predictors[name] = (
                _head_predictor(weights, options, fused_prior, labels),
                "+".join(weights.active) + (" (zero-shot start)" if fused_prior else ""),
            )
    return predictors, notices


def _rows(
    predictors: dict[str, tuple[Predictor, str]],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    matrix: FeatureMatrix,
    targets: np.ndarray,
) -> tuple[AblationRow, ...]:
    rows = []
    for name, (predict, families) in predictors.items():
        scores, seconds = [], []
        for train, test in splits:
            started = time.perf_counter()
            predicted = predict(matrix.take(train), targets[train], matrix.take(test))
            seconds.append(time.perf_counter() - started)
            scores.append(float((predicted == targets[test]).mean()))
        rows.append(
            AblationRow(
                name,
                float(np.mean(scores)),
                float(np.std(scores)),
                tuple(scores),
                float(np.mean(seconds)),
                families,
            )
        )
    return tuple(rows)


def _features_and_prior(
    images: Sequence[np.ndarray],
    labels: tuple[str, ...],
    heads: Sequence[str],
    options: HeadOptions,
    cache: ModelCache | None,
) -> tuple[FeatureMatrix, ClipPrior | None]:
    with_clip = cache is not None and any(name in CLIP_HEADS for name in heads)
    matrix = extract_features(
        images,
        with_clip=with_clip,
        feature_size=options.feature_size,
        model_key=options.model_key,
        cache=cache,
    )
    prior = (
        clip_prior(labels, options.templates, model_key=options.model_key, cache=cache) if with_clip else None
    )
    return matrix, prior


def cross_validate(
    dataset: LabelledImages,
    options: HeadOptions = DEFAULT_OPTIONS,
    *,
    cache: ModelCache | None,
    folds: int = DEFAULT_FOLDS,
    heads: Sequence[str] = HEADS,
) -> AblationResult:
    """Stratified k-fold accuracy of every head (``cache=None`` runs the classical head only)."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(dataset.targets, minlength=len(dataset.labels))
    smallest = int(counts[counts > 0].min()) if counts.any() else 0
    if (counts > 0).sum() < 2:
        raise ValueError("Cross-validation needs examples of at least two labels.")
    if smallest < 2:
        raise ValueError(
            "Every label needs at least 2 examples to cross-validate (one to train, one to test)."
        )
    used = max(2, min(folds, smallest))
    notices = list(dataset.notices)
    if used < folds:
        notices.append(
            Message("Used {used} folds: the smallest label has only {smallest} examples.", used=used, smallest=smallest)
        )
    folds = used
    matrix, prior = _features_and_prior(dataset.images, dataset.labels, heads, options, cache)
    predictors, skipped = _predictors(heads, options, prior, dataset.labels)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    splits = list(splitter.split(np.zeros(len(dataset)), dataset.targets))
    return AblationResult(
        _rows(predictors, splits, matrix, dataset.targets),
        Message("{folds}-fold stratified cross-validation", folds=folds),
        dataset.labels,
        train_size=len(splits[0][0]),
        test_size=len(splits[0][1]),
        notices=tuple(notices + skipped),
    )


def held_out(
    split: Split,
    options: HeadOptions = DEFAULT_OPTIONS,
    *,
    cache: ModelCache | None,
    heads: Sequence[str] = HEADS,
) -> AblationResult:
    """Train on ``split.train``, report accuracy on ``split.test`` (which is never seen while fitting)."""
    if split.train.labels != split.test.labels:
        raise ValueError("The train and test splits must share their labels.")
    images = split.train.images + split.test.images
    targets = np.concatenate([split.train.targets, split.test.targets])
    matrix, prior = _features_and_prior(images, split.train.labels, heads, options, cache)
    predictors, skipped = _predictors(heads, options, prior, split.train.labels)
    train = np.arange(len(split.train))
    test = np.arange(len(split.train), len(images))
    return AblationResult(
        _rows(predictors, [(train, test)], matrix, targets),
        "held-out test split",
        split.train.labels,
        train_size=len(train),
        test_size=len(test),
        notices=split.train.notices + split.test.notices + tuple(skipped),
    )


def evaluate(
    dataset: LabelledImages | Split,
    options: HeadOptions = DEFAULT_OPTIONS,
    *,
    cache: ModelCache | None,
    folds: int = DEFAULT_FOLDS,
    heads: Sequence[str] = HEADS,
) -> AblationResult:
    """A fixed split is scored held-out; a single set is cross-validated."""
    if isinstance(dataset, Split):
        return held_out(dataset, options, cache=cache, heads=heads)
    return cross_validate(dataset, options, cache=cache, folds=folds, heads=heads)
