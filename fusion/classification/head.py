"""The hybrid head: one linear softmax classifier over [handcrafted families | CLIP image embedding].

Feature vector. Each family is brought to a comparable scale and then multiplied by the user's weight:

- handcrafted families (``hog``, ``lbp``, ``color``, ``edges`` of :func:`fusion.features.handcrafted_vector`):
  every dimension is standardised with the training examples' mean and standard deviation, then the family is
  divided by the square root of its length, so each family has an expected squared norm of one whatever its
  size (HOG has hundreds of values, edges a couple of dozen). On scikit-learn's digits this beat a single
  scale per family at every number of examples we tried (1, 3, 10 per class and the full split).
- ``clip``: CLIP's image embedding, L2-normalised as CLIP itself compares images and texts; also norm one.

A weight of zero removes a family; a larger weight makes its coefficients cheaper under the penalty below, so
the classifier leans on it more (the same role as a feature weight in the hand-tuned original).

Model. ``logits = W x + b``, fitted by L-BFGS on the summed cross-entropy plus ``||W - W0||² / (2C)`` (and the
same for ``b``, which keeps labels without examples reachable). ``W0`` is the zero-shot starting point: the
CLIP columns hold ``logit_scale * text_embedding / clip_weight`` of each label, everything else is zero. So
with no examples the head *is* CLIP zero-shot (same probabilities); each example moves it away from that prior
only as far as the data justify, so it improves with each example instead of starting as a 1-shot probe.
With ``W0 = 0`` the objective is exactly scikit-learn's multinomial ``LogisticRegression`` (tests check it),
which is what the classical-only and linear-probe heads are. We fit it ourselves because scikit-learn cannot
regularise towards a non-zero starting point.

Heads are saved as safetensors (numpy arrays) with a JSON metadata header; never pickle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file
from scipy.optimize import minimize

from fusion.classification.labels import DEFAULT_TEMPLATES
from fusion.messages import Message

HANDCRAFTED_FAMILIES = ("hog", "lbp", "color", "edges")
CLIP_FAMILY = "clip"
FAMILIES = (*HANDCRAFTED_FAMILIES, CLIP_FAMILY)
#: Inverse penalty strength; 10 was best or within 0.5 points of best on digits (1-shot to full split).
DEFAULT_C = 10.0
MAX_WEIGHT = 10.0
HEAD_FORMAT = "fusion-hybrid-head/1"
_METADATA_KEY = "fusion_head"


@dataclass(frozen=True)
class FeatureWeights:
    """How much each feature family counts (0 switches it off)."""

    hog: float = 1.0
    lbp: float = 1.0
    color: float = 1.0
    edges: float = 1.0
    clip: float = 1.0

    def __post_init__(self) -> None:
        for family in FAMILIES:
            value = getattr(self, family)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= MAX_WEIGHT):
                raise ValueError(
                    Message(
                        "The {family} weight must be a number from 0 to {maximum:g}, got {value!r}.",
                        family=family,
                        maximum=MAX_WEIGHT,
                        value=value,
                    )
                )
        if not self.active:
            raise ValueError(
                "Every feature weight is 0: give at least one family (for example CLIP) a weight."
            )

    def of(self, family: str) -> float:
        return float(getattr(self, family))

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(family for family in FAMILIES if getattr(self, family) > 0)

    @property
    def uses_clip(self) -> bool:
        return self.clip > 0

    def only(self, *families: str) -> FeatureWeights:
        """These weights with every other family switched off."""
        return FeatureWeights(
            **{family: self.of(family) if family in families else 0.0 for family in FAMILIES}
        )


@dataclass(frozen=True, eq=False)
class FeatureMatrix:
    """Raw features of N images, before standardisation and weighting (cheap to slice for folds)."""

    handcrafted: np.ndarray
    #: Columns of ``handcrafted`` per family, as :class:`fusion.features.HandcraftedVector` names them.
    blocks: Mapping[str, slice]
    #: L2-normalised CLIP image embeddings, or ``None`` when CLIP was not run.
    clip: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.handcrafted)

    def take(self, index: np.ndarray) -> FeatureMatrix:
        return FeatureMatrix(
            self.handcrafted[index], self.blocks, None if self.clip is None else self.clip[index]
        )

    def family(self, name: str) -> np.ndarray:
        if name == CLIP_FAMILY:
            if self.clip is None:
                raise ValueError("These features were extracted without CLIP; set the CLIP weight to 0.")
            return self.clip
        return self.handcrafted[:, self.blocks[name]]


@dataclass(frozen=True, eq=False)
class ClipPrior:
    """The labels' ensembled CLIP text embeddings and CLIP's logit scale: the zero-shot starting point."""

    text_embeddings: np.ndarray
    scale: float
    model_id: str


@dataclass(frozen=True, eq=False)
class HybridHead:
    labels: tuple[str, ...]
    weights: FeatureWeights
    #: Columns of the fused vector per family, in order (only families with a weight above 0).
    layout: Mapping[str, slice]
    #: Standardisation of each handcrafted family: per-dimension mean and divisor.
    centres: Mapping[str, np.ndarray]
    scales: Mapping[str, np.ndarray]
    coef: np.ndarray
    intercept: np.ndarray
    #: Length of each handcrafted family the head was trained on (guards against a changed feature extractor).
    family_sizes: Mapping[str, int] = field(default_factory=dict)
    feature_size: int = 128
    model_key: str = "clip"
    #: Where the CLIP model came from (empty when the head does not use CLIP).
    model_id: str = ""
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    examples: int = 0
    C: float = DEFAULT_C

    @property
    def uses_clip(self) -> bool:
        return CLIP_FAMILY in self.layout

    def fused(self, features: FeatureMatrix) -> np.ndarray:
        """The standardised, weighted, concatenated feature vector of every image."""
        parts = []
        for family in self.layout:
            values = features.family(family).astype(np.float64)
            if family == CLIP_FAMILY:
                values = values / np.linalg.norm(values, axis=1, keepdims=True).clip(1e-12)
            else:
                if values.shape[1] != self.family_sizes[family]:
                    raise ValueError(
                        Message(
                            "This head expects {expected} {family} values but the features have {got}; it was trained "
                            "with other feature settings: train it again.",
                            expected=self.family_sizes[family],
                            family=family,
                            got=values.shape[1],
                        )
                    )
                values = (values - self.centres[family]) / self.scales[family]
            parts.append(self.weights.of(family) * values)
        fused = np.concatenate(parts, axis=1)
        if fused.shape[1] != self.coef.shape[1]:
            raise ValueError(
                Message(
                    "This head expects {expected} feature values but got {got}; the CLIP model differs from the one it "
                    "was trained with: train it again.",
                    expected=self.coef.shape[1],
                    got=fused.shape[1],
                )
            )
        return fused

    def logits(self, features: FeatureMatrix) -> np.ndarray:
        return self.fused(features) @ self.coef.T + self.intercept

    def probabilities(self, features: FeatureMatrix) -> np.ndarray:
        return softmax(self.logits(features))

    def contributions(self, features: FeatureMatrix, label_index: np.ndarray) -> np.ndarray:
        """How far each family pushed each image's ``label_index`` logit above the average label's.

        Returns (N, families). Softmax only sees logits relative to each other, so contributions use
        coefficients centred over labels: the sum over families plus the centred bias is that label's logit
        minus the mean logit.
        """
        fused = self.fused(features)
        centred = self.coef - self.coef.mean(axis=0, keepdims=True)
        rows = centred[np.asarray(label_index)]
        return np.stack(
            [(rows[:, columns] * fused[:, columns]).sum(axis=1) for columns in self.layout.values()], axis=1
        )

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the head as safetensors with a JSON header (labels, weights, layout, model, templates)."""
        tensors = {"coef": self.coef.astype(np.float32), "intercept": self.intercept.astype(np.float32)}
        for family in self.centres:
            tensors[f"centre.{family}"] = self.centres[family].astype(np.float32)
            tensors[f"scale.{family}"] = self.scales[family].astype(np.float32)
        header = {
            "format": HEAD_FORMAT,
            "labels": list(self.labels),
            "weights": asdict(self.weights),
            "layout": {family: [columns.start, columns.stop] for family, columns in self.layout.items()},
            "family_sizes": dict(self.family_sizes),
            "feature_size": self.feature_size,
            "model_key": self.model_key,
            "model_id": self.model_id,
            "templates": list(self.templates),
            "examples": self.examples,
            "C": self.C,
        }
        path = Path(path)
        save_file(tensors, str(path), metadata={_METADATA_KEY: json.dumps(header)})
        return path

    @classmethod
    def load(cls, path: str | Path) -> HybridHead:
        """Read a head written by :meth:`save`; anything else is a ``ValueError`` saying so."""
        name = Path(path).name
        try:
            with safe_open(str(path), framework="np") as handle:
                header = json.loads((handle.metadata() or {})[_METADATA_KEY])
            tensors = load_file(str(path))
            if header.get("format") != HEAD_FORMAT:
                raise KeyError("format")
            layout = {family: slice(start, stop) for family, (start, stop) in header["layout"].items()}
            handcrafted = [family for family in layout if family != CLIP_FAMILY]
            head = cls(
                labels=tuple(header["labels"]),
                weights=FeatureWeights(**header["weights"]),
                layout=layout,
                centres={family: tensors[f"centre.{family}"].astype(np.float64) for family in handcrafted},
                scales={family: tensors[f"scale.{family}"].astype(np.float64) for family in handcrafted},
                coef=tensors["coef"].astype(np.float64),
                intercept=tensors["intercept"].astype(np.float64),
                family_sizes={family: int(size) for family, size in header["family_sizes"].items()},
                feature_size=int(header["feature_size"]),
                model_key=str(header["model_key"]),
                model_id=str(header["model_id"]),
                templates=tuple(header["templates"]),
                examples=int(header["examples"]),
                C=float(header["C"]),
            )
        except (SafetensorError, OSError, KeyError, TypeError, ValueError):
            raise ValueError(
                Message(
                    "{name!r} is not a classifier head saved by this app (a .safetensors file from 'Download head'); "
                    "train a head and download it again.",
                    name=name,
                )
            ) from None
        if head.coef.shape != (len(head.labels), max(columns.stop for columns in layout.values())):
            raise ValueError(Message("{name!r} is damaged: its weights do not match its labels and layout.", name=name))
        return head


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _standardisation(features: FeatureMatrix, family: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and divisor (std * sqrt(length), constant dimensions left unscaled)."""
    values = features.family(family).astype(np.float64)
    std = values.std(axis=0)
    std[std < 1e-8] = 1.0
    return values.mean(axis=0), std * math.sqrt(values.shape[1])


def fit_head(
    features: FeatureMatrix,
    targets: np.ndarray,
    labels: tuple[str, ...],
    *,
    weights: FeatureWeights = FeatureWeights(),
    C: float = DEFAULT_C,
    prior: ClipPrior | None = None,
    feature_size: int = 128,
    model_key: str = "clip",
    model_id: str = "",
    templates: tuple[str, ...] = DEFAULT_TEMPLATES,
) -> HybridHead:
    """Fit the head on labelled features (``targets`` index ``labels``); with no examples, the zero-shot head.

    ``prior`` gives the CLIP columns their zero-shot starting point (and is required with no examples). The
    remaining arguments are recorded in the head so it featurises new images the same way (``model_id``: where
    the CLIP model came from, taken from ``prior`` when there is one).
    """
    if not C > 0 or not math.isfinite(C):
        raise ValueError(Message("The regularisation C must be a positive number, got {value!r}.", value=C))
    targets = np.asarray(targets, dtype=np.intp)
    active = weights.active if len(features) else ((CLIP_FAMILY,) if weights.uses_clip else ())
    if not active or (not len(features) and prior is None):
        raise ValueError(
            "With no examples the head has only CLIP's zero-shot text embeddings to go on: give CLIP a "
            "weight above 0, or add examples of each label."
        )
    centres, scales, layout, start = {}, {}, {}, 0
    family_sizes = {}
    for family in active:
        size = features.family(family).shape[1] if len(features) else len(prior.text_embeddings[0])
        if family != CLIP_FAMILY:
            centres[family], scales[family] = _standardisation(features, family)
            family_sizes[family] = size
        layout[family] = slice(start, start + size)
        start += size
    init = np.zeros((len(labels), start))
    if prior is not None and CLIP_FAMILY in layout:
        init[:, layout[CLIP_FAMILY]] = prior.scale * prior.text_embeddings / weights.clip
    head = HybridHead(
        labels=labels,
        weights=weights,
        layout=layout,
        centres=centres,
        scales=scales,
        coef=init,
        intercept=np.zeros(len(labels)),
        family_sizes=family_sizes,
        model_id=(prior.model_id if prior is not None else model_id) if CLIP_FAMILY in layout else "",
        feature_size=feature_size,
        model_key=model_key,
        templates=templates,
        examples=len(features),
        C=C,
    )
    if not len(features):
        return head
    coef, intercept = fit_softmax_regression(head.fused(features), targets, init, C)
    return replace(head, coef=coef, intercept=intercept)


def fit_softmax_regression(
    inputs: np.ndarray,
    targets: np.ndarray,
    init: np.ndarray,
    C: float,
    *,
    tol: float = 1e-5,
    max_iter: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise summed cross-entropy + ``(||W - init||² + ||b||²) / (2C)`` with L-BFGS, from ``init``.

    The objective is divided by the number of examples (same minimum) so ``tol`` means the same at any size,
    as in scikit-learn's solver.
    """
    classes, width = init.shape
    count = len(targets)
    one_hot = np.zeros((len(targets), classes))
    one_hot[np.arange(len(targets)), targets] = 1.0

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, intercept = theta[: classes * width].reshape(classes, width), theta[classes * width :]
        logits = inputs @ coef.T + intercept
        logits -= logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits).sum(axis=1))
        loss = float((log_norm - (logits * one_hot).sum(axis=1)).sum())
        residual = np.exp(logits - log_norm[:, None]) - one_hot
        shift = coef - init
        loss += (float((shift**2).sum()) + float((intercept**2).sum())) / (2 * C)
        grad_coef = residual.T @ inputs + shift / C
        grad_intercept = residual.sum(axis=0) + intercept / C
        return loss / count, np.concatenate([grad_coef.ravel(), grad_intercept]) / count

    start = np.concatenate([init.ravel(), np.zeros(classes)])
    stop = {"maxiter": max_iter, "gtol": tol, "ftol": tol * 1e-4}  # ftol tied to tol, or it stops first
    result = minimize(objective, start, jac=True, method="L-BFGS-B", options=stop)
    theta = result.x
    return theta[: classes * width].reshape(classes, width), theta[classes * width :]
