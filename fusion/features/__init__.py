"""Classical image features: every operation behind the UI dropdown and the API, plus a fixed vector.

Inputs are RGB uint8 arrays of shape (H, W, 3); no function mutates its input. User-facing problems
(bad parameters, images too small for an operation, OpenCV failures) are raised as ValueError.
"""

from fusion.features.colour import colour_histograms, dominant_colours
from fusion.features.core import FeatureResult, Operation, ParamSpec
from fusion.features.edges import canny, laplacian, scharr, sobel
from fusion.features.keypoints import (
    fast_corners,
    harris_corners,
    orb_keypoints,
    shi_tomasi_corners,
    sift_keypoints,
)
from fusion.features.matching import Matches, find_matches, match_features, synthetic_warp
from fusion.features.operations import (
    OPERATIONS,
    coerce_param,
    get_operation,
    params_for,
    run_operation,
    validate_params,
)
from fusion.features.preprocess import (
    adjust_tone,
    bilateral_filter,
    clahe,
    equalize_histogram,
    gaussian_blur,
    grayscale,
    median_blur,
    nl_means_denoise,
    resize,
    unsharp_mask,
)
from fusion.features.texture import gabor_bank, hog_features, lbp
from fusion.features.threshold import (
    adaptive_threshold,
    connected_components,
    contours,
    morphology,
    otsu_threshold,
)
from fusion.features.vector import HandcraftedVector, handcrafted_vector

__all__ = [
    "OPERATIONS",
    "FeatureResult",
    "HandcraftedVector",
    "Matches",
    "Operation",
    "ParamSpec",
    "adaptive_threshold",
    "adjust_tone",
    "bilateral_filter",
    "canny",
    "clahe",
    "coerce_param",
    "colour_histograms",
    "connected_components",
    "contours",
    "dominant_colours",
    "equalize_histogram",
    "fast_corners",
    "find_matches",
    "gabor_bank",
    "gaussian_blur",
    "get_operation",
    "grayscale",
    "handcrafted_vector",
    "harris_corners",
    "hog_features",
    "laplacian",
    "lbp",
    "match_features",
    "median_blur",
    "morphology",
    "nl_means_denoise",
    "orb_keypoints",
    "otsu_threshold",
    "params_for",
    "resize",
    "run_operation",
    "scharr",
    "shi_tomasi_corners",
    "sift_keypoints",
    "sobel",
    "synthetic_warp",
    "unsharp_mask",
    "validate_params",
]
