"""Zero-shot CLIP classification, the hybrid handcrafted + CLIP head, and its evaluation.

- :mod:`.labels`      what the user typed -> labels and prompt templates
- :mod:`.embeddings`  CLIP image / text / patch embeddings from a loaded bundle
- :mod:`.zeroshot`    zero-shot scores (softmax or independent), the ``classify`` API
- :mod:`.head`        the hybrid head itself (numpy; fit, explain, save/load as safetensors)
- :mod:`.hybrid`      task functions: featurise, teach by example, explain with a patch heatmap
- :mod:`.evaluation`  held-out / cross-validated accuracy of every head (ablation)
- :mod:`.datasets`    ImageFolder folders and zips, offline datasets
"""

from fusion.classification.datasets import LabelledImages, Split, load_dataset, load_zip, offline_dataset
from fusion.classification.evaluation import AblationResult, cross_validate, evaluate, held_out
from fusion.classification.head import FeatureMatrix, FeatureWeights, HybridHead, fit_head
from fusion.classification.hybrid import (
    Explanation,
    HeadOptions,
    TrainResult,
    explain,
    extract_features,
    train_head,
    zero_shot_head,
)
from fusion.classification.labels import DEFAULT_TEMPLATES, parse_labels, parse_templates
from fusion.classification.zeroshot import ZeroShotOptions, ZeroShotResult, zero_shot

__all__ = [
    "DEFAULT_TEMPLATES",
    "AblationResult",
    "Explanation",
    "FeatureMatrix",
    "FeatureWeights",
    "HeadOptions",
    "HybridHead",
    "LabelledImages",
    "Split",
    "TrainResult",
    "ZeroShotOptions",
    "ZeroShotResult",
    "cross_validate",
    "evaluate",
    "explain",
    "extract_features",
    "fit_head",
    "held_out",
    "load_dataset",
    "load_zip",
    "offline_dataset",
    "parse_labels",
    "parse_templates",
    "train_head",
    "zero_shot",
    "zero_shot_head",
]
