"""Preprocessing: colour conversion, resizing, smoothing, denoising and tone adjustments."""

from __future__ import annotations

import cv2
import numpy as np

from fusion.charts import PlotData
from fusion.features.core import (
    FeatureResult,
    choice_param,
    float_param,
    histogram,
    histogram_mean_std,
    image_operation,
    int_param,
    intensity_plot,
    operation,
    to_gray,
)
from fusion.messages import Message

INTERPOLATIONS = {
    "area": cv2.INTER_AREA,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
    "nearest": cv2.INTER_NEAREST,
}
RESIZE_MODES = ("scale", "long side")
MAX_RESIZE_SIDE = 8192


@image_operation
def grayscale(image: np.ndarray) -> FeatureResult:
    """Luma grayscale with its intensity histogram."""
    gray = to_gray(image)
    counts = histogram(gray)
    mean, std = histogram_mean_std(counts)
    stats = {"mean_intensity": mean, "std_intensity": std}
    return FeatureResult(gray, stats, intensity_plot("Intensity histogram", {"gray": counts}))


@image_operation
def resize(
    image: np.ndarray,
    *,
    mode: str = "scale",
    scale: float = 0.5,
    long_side: int = 512,
    interpolation: str = "area",
) -> FeatureResult:
    """Resize by a scale factor (mode "scale") or to a target longest side (mode "long side")."""
    height, width = image.shape[:2]
    factor = scale if mode == "scale" else long_side / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    if max(size) > MAX_RESIZE_SIDE:
        raise ValueError(
            Message(
                "Resizing to {width}x{height} exceeds the {limit}-pixel limit; choose a smaller scale factor or long "
                "side.",
                width=size[0],
                height=size[1],
                limit=MAX_RESIZE_SIDE,
            )
        )
    resized = cv2.resize(image, size, interpolation=INTERPOLATIONS[interpolation])
    stats = {"width": size[0], "height": size[1], "original_width": width, "original_height": height}
    return FeatureResult(resized, {**stats, "scale_factor": round(factor, 4)})


@image_operation
def gaussian_blur(image: np.ndarray, *, kernel_size: int = 5, sigma: float = 0.0) -> FeatureResult:
    """Gaussian smoothing; sigma 0 lets OpenCV derive it from the kernel size (reported in stats)."""
    blurred = cv2.GaussianBlur(image, (kernel_size, kernel_size), sigma)
    used = sigma or 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8
    return FeatureResult(blurred, {"kernel_size": kernel_size, "sigma": round(used, 3)})


@image_operation
def median_blur(image: np.ndarray, *, kernel_size: int = 5) -> FeatureResult:
    """Median filtering: removes salt-and-pepper noise while keeping edges."""
    return FeatureResult(cv2.medianBlur(image, kernel_size), {"kernel_size": kernel_size})


@image_operation
def bilateral_filter(
    image: np.ndarray, *, diameter: int = 9, sigma_color: float = 75.0, sigma_space: float = 75.0
) -> FeatureResult:
    """Edge-preserving smoothing: averages only neighbours of similar colour."""
    filtered = cv2.bilateralFilter(image, diameter, sigma_color, sigma_space)
    return FeatureResult(filtered, {"diameter": diameter})


@image_operation
def nl_means_denoise(
    image: np.ndarray,
    *,
    strength: float = 10.0,
    color_strength: float = 10.0,
    template_size: int = 7,
    search_size: int = 21,
) -> FeatureResult:
    """Non-local means denoising of colour images (cv2.fastNlMeansDenoisingColored)."""
    denoised = cv2.fastNlMeansDenoisingColored(
        image, None, strength, color_strength, template_size, search_size
    )
    change = cv2.norm(image, denoised, cv2.NORM_L1) / image.size
    return FeatureResult(denoised, {"mean_abs_change": round(change, 3)})


def _on_lightness(image: np.ndarray, equalise: cv2.CLAHE | None) -> FeatureResult:
    """Equalise the L channel of LAB (global when `equalise` is None), so hues are left untouched.

    The channel is swapped in place and converted back into the same buffer: half the work of the usual
    split / merge, which pays for the before/after histograms of the plot.
    """
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lightness = cv2.extractChannel(lab, 0)
    equalised = cv2.equalizeHist(lightness) if equalise is None else equalise.apply(lightness)
    cv2.insertChannel(equalised, lab, 0)
    result = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB, dst=lab)
    series = {"before": histogram(lightness), "after": histogram(equalised)}
    stats = {f"lightness_std_{name}": histogram_mean_std(counts)[1] for name, counts in series.items()}
    return FeatureResult(result, stats, intensity_plot("Lightness histogram (LAB L)", series))


@image_operation
def equalize_histogram(image: np.ndarray) -> FeatureResult:
    """Global histogram equalisation of the lightness channel."""
    return _on_lightness(image, None)


@image_operation
def clahe(image: np.ndarray, *, clip_limit: float = 2.0, tile_grid: int = 8) -> FeatureResult:
    """Contrast-limited adaptive histogram equalisation of the lightness channel."""
    return _on_lightness(image, cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tile_grid, tile_grid)))


def tone_curve(gamma: float, contrast: float, brightness: float) -> np.ndarray:
    """The 256-entry lookup table contrast * 255 * (v / 255) ** gamma + brightness, clipped to uint8."""
    levels = np.arange(256, dtype=np.float64) / 255.0
    return np.clip(np.rint(contrast * 255.0 * levels**gamma + brightness), 0, 255).astype(np.uint8)


@image_operation
def adjust_tone(
    image: np.ndarray, *, gamma: float = 0.8, contrast: float = 1.2, brightness: float = 10.0
) -> FeatureResult:
    """Gamma, contrast and brightness in one lookup table (one cv2.LUT pass, no float image)."""
    curve = tone_curve(gamma, contrast, brightness)
    plot = PlotData("line", "Tone curve", "input level", "output level", {"curve": curve}, x=np.arange(256))
    return FeatureResult(
        cv2.LUT(image, curve), {"black_point": int(curve[0]), "white_point": int(curve[-1])}, plot
    )


@image_operation
def unsharp_mask(
    image: np.ndarray, *, amount: float = 1.0, radius: float = 2.0, threshold: int = 0
) -> FeatureResult:
    """Sharpen by adding back `amount` x (image - Gaussian blur of sigma `radius`).

    Pixels whose difference from the blur is below `threshold` keep their value, so flat noisy
    areas are not amplified.
    """
    blurred = cv2.GaussianBlur(image, (0, 0), radius)
    sharpened = cv2.addWeighted(image, 1.0 + amount, blurred, -amount, 0.0)
    if threshold > 0:
        np.copyto(sharpened, image, where=cv2.absdiff(image, blurred) < threshold)
    return FeatureResult(sharpened, {"amount": amount, "radius": radius})


# ------------------------------------------------------------------ as the dropdown and the API offer them
OPERATIONS = (
    operation(
        "Grayscale", "Preprocessing", "Luma grayscale (BT.601) with its histogram.", grayscale
    ),
    operation(
        "Resize",
        "Preprocessing",
        "Resize by a factor or to a target longest side.",
        resize,
        (
            "mode",
            choice_param("resize_mode", "Resize by", "scale", RESIZE_MODES, "Factor or longest side."),
        ),
        (
            "scale",
            float_param("resize_scale", "Scale factor", 0.5, 0.05, 4.0, 0.05, "Used when resizing by scale."),
        ),
        (
            "long_side",
            int_param("resize_long_side", "Longest side (px)", 512, 16, 4096, info="Used for 'long side'."),
        ),
        (
            "interpolation",
            choice_param(
                "resize_interpolation",
                "Interpolation",
                "area",
                tuple(INTERPOLATIONS),
                "area for shrinking.",
            ),
        ),
    ),
    operation(
        "Gaussian blur",
        "Preprocessing",
        "Gaussian smoothing.",
        gaussian_blur,
        ("kernel_size", int_param("gaussian_kernel", "Gaussian kernel size", 5, 1, 99, 2, "Odd size in pixels.")),
        (
            "sigma",
            float_param("gaussian_sigma", "Gaussian sigma", 0.0, 0.0, 30.0, 0.1, "0 = derived from kernel size."),
        ),
    ),
    operation(
        "Median blur",
        "Preprocessing",
        "Median filter: removes salt-and-pepper noise, keeps edges.",
        median_blur,
        ("kernel_size", int_param("median_kernel", "Median kernel size", 5, 1, 31, 2, "Odd size in pixels.")),
    ),
    operation(
        "Bilateral filter",
        "Preprocessing",
        "Edge-preserving smoothing that averages only similar colours.",
        bilateral_filter,
        (
            "diameter",
            int_param("bilateral_diameter", "Neighbourhood diameter", 9, 1, 25, info="Pixels; slow above 15."),
        ),
        (
            "sigma_color",
            float_param("bilateral_sigma_color", "Colour sigma", 75.0, 1.0, 250.0, 1.0, "Colour tolerance."),
        ),
        (
            "sigma_space",
            float_param("bilateral_sigma_space", "Space sigma", 75.0, 1.0, 250.0, 1.0, "Spatial reach."),
        ),
    ),
    operation(
        "Non-local means denoise",
        "Preprocessing",
        "Non-local means denoising of colour images (slow on large images).",
        nl_means_denoise,
        (
            "strength",
            float_param("nlm_strength", "Luminance strength", 10.0, 1.0, 30.0, 0.5, "Higher removes more noise."),
        ),
        (
            "color_strength",
            float_param("nlm_color_strength", "Colour strength", 10.0, 1.0, 30.0, 0.5, "Chroma noise."),
        ),
        ("template_size", int_param("nlm_template_size", "Patch size", 7, 3, 15, 2, "Odd; compared patch size.")),
        (
            "search_size",
            int_param("nlm_search_size", "Search window", 21, 5, 45, 2, "Odd; time grows with its square."),
        ),
    ),
    operation(
        "Histogram equalisation",
        "Preprocessing",
        "Global histogram equalisation of lightness (LAB L channel).",
        equalize_histogram,
    ),
    operation(
        "CLAHE",
        "Preprocessing",
        "Contrast-limited adaptive histogram equalisation of lightness (LAB L channel).",
        clahe,
        (
            "clip_limit",
            float_param("clahe_clip_limit", "Clip limit", 2.0, 0.5, 40.0, 0.5, "Higher = more contrast."),
        ),
        ("tile_grid", int_param("clahe_tile_grid", "Tile grid", 8, 1, 32, info="Tiles per side.")),
    ),
    operation(
        "Gamma / contrast / brightness",
        "Preprocessing",
        "Tone curve contrast x 255 x (v / 255)^gamma + brightness, applied as one lookup table.",
        adjust_tone,
        ("gamma", float_param("tone_gamma", "Gamma", 0.8, 0.1, 5.0, 0.05, "Below 1 brightens shadows.")),
        ("contrast", float_param("tone_contrast", "Contrast", 1.2, 0.0, 3.0, 0.05, "Multiplier; 1 = unchanged.")),
        (
            "brightness",
            float_param("tone_brightness", "Brightness", 10.0, -255.0, 255.0, 1.0, "Offset in levels."),
        ),
    ),
    operation(
        "Unsharp mask",
        "Preprocessing",
        "Sharpening: adds back the difference between the image and its blur.",
        unsharp_mask,
        ("amount", float_param("unsharp_amount", "Amount", 1.0, 0.0, 5.0, 0.1, "Strength of the sharpening.")),
        (
            "radius",
            float_param("unsharp_radius", "Radius (sigma)", 2.0, 0.1, 20.0, 0.1, "Size of the enhanced details."),
        ),
        (
            "threshold",
            int_param("unsharp_threshold", "Threshold", 0, 0, 255, info="Leave differences below it alone."),
        ),
    ),
)
