"""The operation registry behind the UI dropdown and the API: parameter specs, validation, dispatch.

Public parameter names are globally unique (`canny_low`, `morph_kernel_size`, ...) so one flat set of
controls can serve every operation; each `Binding` maps them onto the scikit-image-style keyword
options of the standalone function (`canny(image, low=...)`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from fusion.features import colour, edges, keypoints, matching, preprocess, texture, threshold
from fusion.features.core import FeatureResult, Operation, ParamSpec, ParamValue


@dataclass(frozen=True, eq=False)
class Binding:
    """Calls `implementation` after renaming public parameter names to its keyword options.

    Compared and hashed by identity, so an `Operation` holding it stays hashable.
    """

    implementation: Callable[..., FeatureResult]
    keywords: Mapping[str, str]

    def __call__(self, image: np.ndarray, *args: object, **params: ParamValue) -> FeatureResult:
        return self.implementation(
            image, *args, **{self.keywords[name]: value for name, value in params.items()}
        )


def _int(
    name: str, label: str, default: int, minimum: int, maximum: int, step: int = 1, info: str = ""
) -> ParamSpec:
    return ParamSpec(name, label, "int", default, minimum, maximum, step, info=info)


def _float(
    name: str, label: str, default: float, minimum: float, maximum: float, step: float, info: str = ""
) -> ParamSpec:
    return ParamSpec(name, label, "float", default, minimum, maximum, step, info=info)


def _bool(name: str, label: str, default: bool, info: str = "") -> ParamSpec:
    return ParamSpec(name, label, "bool", default, info=info)


def _choice(name: str, label: str, default: str, choices: tuple[str, ...], info: str = "") -> ParamSpec:
    return ParamSpec(name, label, "choice", default, choices=choices, info=info)


BINARY_INVERT = _bool(
    "binary_invert",
    "Invert mask",
    False,
    "Swap foreground and background (objects darker than the background).",
)
GRADIENT_DIRECTION = _choice(
    "gradient_direction",
    "Gradient direction",
    "magnitude",
    edges.GRADIENT_DIRECTIONS,
    "|d/dx|, |d/dy| or both.",
)


def _operation(
    name: str,
    group: str,
    description: str,
    implementation: Callable[..., FeatureResult],
    *arguments: tuple[str, ParamSpec],
    needs_second_image: bool = False,
) -> Operation:
    """An Operation whose specs map, in order, onto the given keyword options of `implementation`."""
    keywords = {spec.name: keyword for keyword, spec in arguments}
    specs = tuple(spec for _, spec in arguments)
    return Operation(name, group, description, specs, Binding(implementation, keywords), needs_second_image)


_EDGES = (
    _operation(
        "Canny edges",
        "Edges",
        "Thin, connected edges by Canny's hysteresis thresholding of the gradient.",
        edges.canny,
        (
            "low",
            _int("canny_low", "Canny low threshold", 100, 0, 500, info="Weaker gradients are never edges."),
        ),
        (
            "high",
            _int(
                "canny_high", "Canny high threshold", 200, 0, 500, info="Stronger gradients are always edges."
            ),
        ),
        (
            "aperture",
            _int(
                "canny_aperture", "Sobel aperture", 3, 3, 7, 2, "3, 5 or 7; larger needs higher thresholds."
            ),
        ),
        (
            "l2_gradient",
            _bool("canny_l2_gradient", "L2 gradient", False, "Exact magnitude instead of |dx| + |dy|."),
        ),
        (
            "auto",
            _bool("canny_auto", "Automatic thresholds", False, "Derive both thresholds from the median."),
        ),
        (
            "sigma",
            _float("canny_sigma", "Auto-threshold spread", 0.33, 0.0, 1.0, 0.01, "(1 ∓ spread) x median."),
        ),
    ),
    _operation(
        "Sobel gradients",
        "Edges",
        "First derivatives of intensity with a Sobel kernel.",
        edges.sobel,
        ("direction", GRADIENT_DIRECTION),
        ("ksize", _int("sobel_ksize", "Sobel kernel size", 3, 1, 31, 2, "Odd; larger kernels smooth more.")),
    ),
    _operation(
        "Scharr gradients",
        "Edges",
        "First derivatives with the 3x3 Scharr kernel (more accurate orientation than Sobel 3x3).",
        edges.scharr,
        ("direction", GRADIENT_DIRECTION),
    ),
    _operation(
        "Laplacian",
        "Edges",
        "Second derivative (blob and edge response); its variance measures focus.",
        edges.laplacian,
        ("ksize", _int("laplacian_ksize", "Laplacian kernel size", 3, 1, 31, 2, "Odd aperture size.")),
        (
            "smoothing",
            _float("laplacian_smoothing", "Pre-smoothing sigma", 1.0, 0.0, 10.0, 0.1, "0 = no blur."),
        ),
    ),
)

_PREPROCESSING = (
    _operation(
        "Grayscale", "Preprocessing", "Luma grayscale (BT.601) with its histogram.", preprocess.grayscale
    ),
    _operation(
        "Resize",
        "Preprocessing",
        "Resize by a factor or to a target longest side.",
        preprocess.resize,
        (
            "mode",
            _choice("resize_mode", "Resize by", "scale", preprocess.RESIZE_MODES, "Factor or longest side."),
        ),
        (
            "scale",
            _float("resize_scale", "Scale factor", 0.5, 0.05, 4.0, 0.05, "Used when resizing by scale."),
        ),
        (
            "long_side",
            _int("resize_long_side", "Longest side (px)", 512, 16, 4096, info="Used for 'long side'."),
        ),
        (
            "interpolation",
            _choice(
                "resize_interpolation",
                "Interpolation",
                "area",
                tuple(preprocess.INTERPOLATIONS),
                "area for shrinking.",
            ),
        ),
    ),
    _operation(
        "Gaussian blur",
        "Preprocessing",
        "Gaussian smoothing.",
        preprocess.gaussian_blur,
        ("kernel_size", _int("gaussian_kernel", "Gaussian kernel size", 5, 1, 99, 2, "Odd size in pixels.")),
        (
            "sigma",
            _float("gaussian_sigma", "Gaussian sigma", 0.0, 0.0, 30.0, 0.1, "0 = derived from kernel size."),
        ),
    ),
    _operation(
        "Median blur",
        "Preprocessing",
        "Median filter: removes salt-and-pepper noise, keeps edges.",
        preprocess.median_blur,
        ("kernel_size", _int("median_kernel", "Median kernel size", 5, 1, 31, 2, "Odd size in pixels.")),
    ),
    _operation(
        "Bilateral filter",
        "Preprocessing",
        "Edge-preserving smoothing that averages only similar colours.",
        preprocess.bilateral_filter,
        (
            "diameter",
            _int("bilateral_diameter", "Neighbourhood diameter", 9, 1, 25, info="Pixels; slow above 15."),
        ),
        (
            "sigma_color",
            _float("bilateral_sigma_color", "Colour sigma", 75.0, 1.0, 250.0, 1.0, "Colour tolerance."),
        ),
        (
            "sigma_space",
            _float("bilateral_sigma_space", "Space sigma", 75.0, 1.0, 250.0, 1.0, "Spatial reach."),
        ),
    ),
    _operation(
        "Non-local means denoise",
        "Preprocessing",
        "Non-local means denoising of colour images (slow on large images).",
        preprocess.nl_means_denoise,
        (
            "strength",
            _float("nlm_strength", "Luminance strength", 10.0, 1.0, 30.0, 0.5, "Higher removes more noise."),
        ),
        (
            "color_strength",
            _float("nlm_color_strength", "Colour strength", 10.0, 1.0, 30.0, 0.5, "Chroma noise."),
        ),
        ("template_size", _int("nlm_template_size", "Patch size", 7, 3, 15, 2, "Odd; compared patch size.")),
        (
            "search_size",
            _int("nlm_search_size", "Search window", 21, 5, 45, 2, "Odd; time grows with its square."),
        ),
    ),
    _operation(
        "Histogram equalisation",
        "Preprocessing",
        "Global histogram equalisation of lightness (LAB L channel).",
        preprocess.equalize_histogram,
    ),
    _operation(
        "CLAHE",
        "Preprocessing",
        "Contrast-limited adaptive histogram equalisation of lightness (LAB L channel).",
        preprocess.clahe,
        (
            "clip_limit",
            _float("clahe_clip_limit", "Clip limit", 2.0, 0.5, 40.0, 0.5, "Higher = more contrast."),
        ),
        ("tile_grid", _int("clahe_tile_grid", "Tile grid", 8, 1, 32, info="Tiles per side.")),
    ),
    _operation(
        "Gamma / contrast / brightness",
        "Preprocessing",
        "Tone curve contrast x 255 x (v / 255)^gamma + brightness, applied as one lookup table.",
        preprocess.adjust_tone,
        ("gamma", _float("tone_gamma", "Gamma", 0.8, 0.1, 5.0, 0.05, "Below 1 brightens shadows.")),
        ("contrast", _float("tone_contrast", "Contrast", 1.2, 0.0, 3.0, 0.05, "Multiplier; 1 = unchanged.")),
        (
            "brightness",
            _float("tone_brightness", "Brightness", 10.0, -255.0, 255.0, 1.0, "Offset in levels."),
        ),
    ),
    _operation(
        "Unsharp mask",
        "Preprocessing",
        "Sharpening: adds back the difference between the image and its blur.",
        preprocess.unsharp_mask,
        ("amount", _float("unsharp_amount", "Amount", 1.0, 0.0, 5.0, 0.1, "Strength of the sharpening.")),
        (
            "radius",
            _float("unsharp_radius", "Radius (sigma)", 2.0, 0.1, 20.0, 0.1, "Size of the enhanced details."),
        ),
        (
            "threshold",
            _int("unsharp_threshold", "Threshold", 0, 0, 255, info="Leave differences below it alone."),
        ),
    ),
)

_THRESHOLDS = (
    _operation(
        "Otsu threshold",
        "Threshold & morphology",
        "Global binarisation at the threshold chosen by Otsu's method.",
        threshold.otsu_threshold,
        ("invert", BINARY_INVERT),
    ),
    _operation(
        "Adaptive threshold",
        "Threshold & morphology",
        "Local binarisation against the mean of each pixel's neighbourhood (uneven lighting).",
        threshold.adaptive_threshold,
        ("method", _choice("adaptive_method", "Local mean", "gaussian", tuple(threshold.ADAPTIVE_METHODS))),
        ("block_size", _int("adaptive_block_size", "Block size", 31, 3, 255, 2, "Odd neighbourhood size.")),
        ("c", _float("adaptive_c", "Offset C", 5.0, -50.0, 50.0, 0.5, "Subtracted from the local mean.")),
        ("invert", BINARY_INVERT),
    ),
    _operation(
        "Morphology",
        "Threshold & morphology",
        "Erode, dilate, open, close, gradient, top-hat or black-hat with a chosen kernel.",
        threshold.morphology,
        ("operation", _choice("morph_operation", "Operation", "gradient", tuple(threshold.MORPH_OPERATIONS))),
        ("shape", _choice("morph_shape", "Kernel shape", "ellipse", tuple(threshold.KERNEL_SHAPES))),
        ("kernel_size", _int("morph_kernel_size", "Kernel size", 5, 1, 51, info="Kernel width and height.")),
        ("iterations", _int("morph_iterations", "Iterations", 1, 1, 20, info="Repeat the operation.")),
        ("source", _choice("morph_source", "Apply to", "grayscale", threshold.MORPH_SOURCES)),
    ),
    _operation(
        "Contours",
        "Threshold & morphology",
        "Outlines of the regions of a binary mask, with area statistics.",
        threshold.contours,
        ("threshold", _choice("contour_threshold", "Mask from", "otsu", threshold.CONTOUR_THRESHOLDS)),
        (
            "retrieval",
            _choice("contour_retrieval", "Contours", "external", tuple(threshold.CONTOUR_RETRIEVALS)),
        ),
        (
            "min_area",
            _int("contour_min_area", "Minimum area (px)", 100, 0, 1_000_000, info="Drop smaller ones."),
        ),
        ("invert", BINARY_INVERT),
    ),
    _operation(
        "Connected components",
        "Threshold & morphology",
        "Label the Otsu foreground's connected regions in distinct colours.",
        threshold.connected_components,
        (
            "connectivity",
            _choice("cc_connectivity", "Connectivity", "8", threshold.CONNECTIVITIES, "Neighbours."),
        ),
        (
            "min_area",
            _int("cc_min_area", "Minimum area (px)", 20, 0, 1_000_000, info="Hide smaller components."),
        ),
        ("invert", BINARY_INVERT),
    ),
)

_KEYPOINTS = (
    _operation(
        "ORB keypoints",
        "Keypoints",
        "Oriented FAST keypoints over an image pyramid (circle = scale, line = orientation).",
        keypoints.orb_keypoints,
        (
            "n_features",
            _int("orb_features", "Max keypoints", 500, 10, 10_000, info="Strongest ones are kept."),
        ),
        (
            "scale_factor",
            _float("orb_scale_factor", "Pyramid scale", 1.2, 1.01, 2.0, 0.01, "Between levels."),
        ),
        ("n_levels", _int("orb_levels", "Pyramid levels", 8, 1, 16)),
        ("fast_threshold", _int("orb_fast_threshold", "FAST threshold", 20, 1, 100, info="Corner contrast.")),
    ),
    _operation(
        "SIFT keypoints",
        "Keypoints",
        "Scale-invariant difference-of-Gaussians keypoints (circle = scale, line = orientation).",
        keypoints.sift_keypoints,
        ("n_features", _int("sift_features", "Max keypoints", 500, 0, 10_000, info="0 keeps all.")),
        (
            "contrast_threshold",
            _float(
                "sift_contrast_threshold", "Contrast threshold", 0.04, 0.001, 0.2, 0.001, "Drops weak blobs."
            ),
        ),
        (
            "edge_threshold",
            _float("sift_edge_threshold", "Edge threshold", 10.0, 1.0, 50.0, 0.5, "Drops edges."),
        ),
        ("n_octave_layers", _int("sift_octave_layers", "Layers per octave", 3, 1, 8)),
    ),
    _operation(
        "FAST corners",
        "Keypoints",
        "FAST segment-test corners (very fast, no scale or orientation).",
        keypoints.fast_corners,
        (
            "threshold",
            _int("fast_threshold", "Intensity threshold", 20, 1, 255, info="Contrast to the circle."),
        ),
        ("nonmax_suppression", _bool("fast_nonmax", "Non-max suppression", True, "Keep only local maxima.")),
        ("neighbourhood", _choice("fast_type", "Circle test", "9/16", tuple(keypoints.FAST_TYPES))),
    ),
    _operation(
        "Shi-Tomasi corners",
        "Keypoints",
        "Good features to track: strongest minimum-eigenvalue corners, spaced apart.",
        keypoints.shi_tomasi_corners,
        ("max_corners", _int("shi_tomasi_max_corners", "Max corners", 500, 1, 10_000)),
        (
            "quality_level",
            _float("shi_tomasi_quality", "Quality level", 0.01, 0.001, 1.0, 0.001, "x best corner."),
        ),
        ("min_distance", _float("shi_tomasi_min_distance", "Min distance (px)", 10.0, 0.0, 200.0, 1.0)),
        ("block_size", _int("shi_tomasi_block_size", "Block size", 3, 1, 31, info="Neighbourhood size.")),
    ),
    _operation(
        "Harris corners",
        "Keypoints",
        "Harris corner response, local maxima above a fraction of the strongest.",
        keypoints.harris_corners,
        ("block_size", _int("harris_block_size", "Block size", 2, 1, 31, info="Neighbourhood size.")),
        ("ksize", _int("harris_ksize", "Sobel aperture", 3, 1, 31, 2, "Odd derivative aperture.")),
        ("k", _float("harris_k", "Harris k", 0.04, 0.01, 0.25, 0.01, "Typically 0.04-0.06.")),
        (
            "threshold",
            _float("harris_threshold", "Relative threshold", 0.01, 0.001, 1.0, 0.001, "x max response."),
        ),
    ),
)

_MATCHING = (
    _operation(
        "Feature matching",
        "Matching",
        "Match descriptors between two images (ratio test + RANSAC homography). Without a second image, "
        "the first is matched against a known synthetic warp of itself.",
        matching.match_features,
        (
            "detector",
            _choice("match_detector", "Descriptor", "ORB", matching.DETECTORS, "ORB fast, SIFT robust."),
        ),
        ("n_features", _int("match_features", "Max keypoints per image", 1000, 50, 10_000)),
        ("ratio", _float("match_ratio", "Lowe ratio", 0.75, 0.1, 1.0, 0.05, "Lower = stricter matches.")),
        (
            "ransac_threshold",
            _float(
                "match_ransac_threshold", "RANSAC threshold (px)", 5.0, 0.5, 20.0, 0.5, "Inlier distance."
            ),
        ),
        needs_second_image=True,
    ),
)

_DESCRIPTORS = (
    _operation(
        "HOG",
        "HOG",
        "Histogram of oriented gradients: one glyph of gradient orientations per cell.",
        texture.hog_features,
        ("orientations", _int("hog_orientations", "Orientations", 9, 2, 36, info="Bins over 0-180°.")),
        ("pixels_per_cell", _int("hog_pixels_per_cell", "Cell size (px)", 16, 4, 64)),
        (
            "cells_per_block",
            _int("hog_cells_per_block", "Cells per block", 2, 1, 8, info="Normalisation block."),
        ),
        ("block_norm", _choice("hog_block_norm", "Block norm", "L2-Hys", texture.HOG_BLOCK_NORMS)),
    ),
    _operation(
        "LBP texture",
        "Texture",
        "Local binary patterns: each pixel coded by which neighbours are brighter; histogram = texture.",
        texture.lbp,
        ("points", _int("lbp_points", "Neighbours P", 8, 4, 24, info="Sampling points on the circle.")),
        ("radius", _float("lbp_radius", "Radius R", 1.0, 1.0, 10.0, 0.5, "Circle radius in pixels.")),
        (
            "method",
            _choice("lbp_method", "Method", "uniform", texture.LBP_METHODS, "uniform = rotation invariant."),
        ),
    ),
    _operation(
        "Gabor filter bank",
        "Texture",
        "Responses of oriented Gabor filters, one tile per orientation, with energy per orientation.",
        texture.gabor_bank,
        (
            "orientations",
            _int("gabor_orientations", "Orientations", 6, 1, 16, info="Evenly spaced over 180°."),
        ),
        (
            "wavelength",
            _float("gabor_wavelength", "Wavelength λ (px)", 10.0, 2.0, 64.0, 0.5, "Stripe period."),
        ),
        ("sigma", _float("gabor_sigma", "Sigma (px)", 4.0, 0.5, 32.0, 0.5, "Gaussian envelope width.")),
        ("kernel_size", _int("gabor_kernel_size", "Kernel size", 31, 3, 99, 2, "Odd; about 6 x sigma.")),
    ),
)

_COLOUR = (
    _operation(
        "Colour histograms",
        "Colour",
        "Per-channel RGB or HSV histograms.",
        colour.colour_histograms,
        ("bins", _int("hist_bins", "Bins", 64, 2, 256)),
        ("space", _choice("hist_space", "Colour space", "RGB", colour.COLOUR_SPACES)),
    ),
    _operation(
        "Dominant colours",
        "Colour",
        "Main colours by k-means on a 128-pixel copy, shown as a palette with their shares.",
        colour.dominant_colours,
        ("k", _int("kmeans_k", "Colours k", 5, 1, 16)),
        ("attempts", _int("kmeans_attempts", "k-means restarts", 3, 1, 10, info="Best of several runs.")),
    ),
)

OPERATIONS: dict[str, Operation] = {
    operation.name: operation
    for operation in (
        *_EDGES,
        *_PREPROCESSING,
        *_THRESHOLDS,
        *_KEYPOINTS,
        *_MATCHING,
        *_DESCRIPTORS,
        *_COLOUR,
    )
}


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def coerce_param(spec: ParamSpec, value: object) -> ParamValue:
    """Validate one value against its spec, accepting only lossless conversions (5.0 → 5, 1 → True, 8 → "8").

    Integer specs with a step above 1 only accept minimum + n x step (step 2 from an odd minimum: odd sizes).
    """
    where = f"(parameter {spec.name})"
    if spec.kind == "choice":
        text = (
            str(value).strip().lower()
            if isinstance(value, str | int) and not isinstance(value, bool)
            else None
        )
        for choice in spec.choices:
            if text == choice.lower():
                return choice
        raise ValueError(f"{spec.label} must be one of {', '.join(spec.choices)}, got {value!r} {where}.")
    if spec.kind == "bool":
        if isinstance(value, bool | np.bool_) or (isinstance(value, int | np.integer) and value in (0, 1)):
            return bool(value)
        raise ValueError(f"{spec.label} must be true or false, got {value!r} {where}.")
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{spec.label} must be a number, got {value!r} {where}.")
    try:
        number: int | float = float(value)
    except OverflowError:  # an integer beyond float's range
        raise ValueError(
            f"{spec.label} must be between {_number_text(spec.minimum)} and {_number_text(spec.maximum)}, "
            f"got a number far outside that range {where}."
        ) from None
    if not math.isfinite(number):
        raise ValueError(f"{spec.label} must be a finite number, got {value!r} {where}.")
    if spec.kind == "int":
        if not number.is_integer():
            raise ValueError(f"{spec.label} must be a whole number, got {value!r} {where}.")
        number = int(value)
    if not spec.minimum <= number <= spec.maximum:
        raise ValueError(
            f"{spec.label} must be between {_number_text(spec.minimum)} and {_number_text(spec.maximum)}, "
            f"got {_number_text(number)} {where}."
        )
    if spec.kind == "int" and spec.step > 1 and (number - spec.minimum) % spec.step:
        allowed = (
            "an odd number"
            if spec.step == 2 and spec.minimum % 2 == 1
            else f"{spec.minimum} + n x {spec.step}"
        )
        raise ValueError(f"{spec.label} must be {allowed}, got {number} {where}.")
    return number


def get_operation(name: str) -> Operation:
    """The registered operation called `name`, or a ValueError listing the valid names."""
    try:
        return OPERATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown operation {name!r}; choose one of: {', '.join(OPERATIONS)}.") from None


def validate_params(operation: str, params: Mapping[str, object]) -> dict[str, ParamValue]:
    """All parameters of `operation` coerced and range-checked; missing ones take their defaults."""
    specs = get_operation(operation).params
    known = {spec.name for spec in specs}
    unknown = sorted(set(params) - known)
    if unknown:
        valid = ", ".join(spec.name for spec in specs) or "none"
        raise ValueError(
            f"Unknown parameter(s) {', '.join(unknown)} for {operation!r}; valid parameters: {valid}."
        )
    return {
        spec.name: coerce_param(spec, params[spec.name]) if spec.name in params else spec.default
        for spec in specs
    }


def params_for(operation: str, values: Mapping[str, object]) -> dict[str, object]:
    """The entries of `values` that are parameters of `operation`.

    For callers holding one value per control of every operation (a UI): `run_operation` itself rejects
    names the operation does not take, so typos in API calls are not silently ignored.
    """
    names = {spec.name for spec in get_operation(operation).params}
    return {name: value for name, value in values.items() if name in names}


def run_operation(
    image: np.ndarray, operation: str, second_image: np.ndarray | None = None, **params: object
) -> FeatureResult:
    """Run a registered operation with validated parameters.

    `second_image` is used by operations that need one (matching; None = synthetic warp) and ignored
    by the others, so a UI can always pass its second upload.
    """
    entry = get_operation(operation)
    values = validate_params(operation, params)
    if entry.needs_second_image:
        return entry.function(image, second_image, **values)
    return entry.function(image, **values)
