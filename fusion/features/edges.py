"""Edge detection: Canny, first-derivative gradients (Sobel, Scharr) and the Laplacian."""

from __future__ import annotations

import cv2
import numpy as np

from fusion.charts import PlotData
from fusion.features.core import (
    FeatureResult,
    bool_param,
    choice_param,
    float_param,
    histogram,
    image_operation,
    int_param,
    operation,
    peak_magnitude,
    to_gray,
    to_uint8,
)
from fusion.messages import Message

GRADIENT_DIRECTIONS = ("magnitude", "x", "y")
#: Bins of the strength histograms of the gradient and Laplacian maps.
STRENGTH_BINS = 64


def auto_canny_thresholds(gray: np.ndarray, sigma: float) -> tuple[int, int, int]:
    """The median heuristic: thresholds (1 ∓ sigma) x median intensity; returns (low, high, median)."""
    cumulative = np.cumsum(histogram(gray))
    median = int(np.searchsorted(cumulative, cumulative[-1] / 2.0))
    return int(max(0.0, (1.0 - sigma) * median)), int(min(255.0, (1.0 + sigma) * median)), median


@image_operation
def canny(
    image: np.ndarray,
    *,
    low: int = 100,
    high: int = 200,
    aperture: int = 3,
    l2_gradient: bool = False,
    auto: bool = False,
    sigma: float = 0.33,
) -> FeatureResult:
    """Canny edges on the grayscale image; with `auto`, thresholds come from the median (see stats)."""
    gray = to_gray(image)
    stats: dict[str, int | float | str] = {"thresholds": "manual"}
    if auto:
        low, high, median = auto_canny_thresholds(gray, sigma)
        stats["thresholds"] = Message("automatic: median {median} ± {sigma}", median=median, sigma=f"{sigma:g}")
    edges = cv2.Canny(gray, low, high, apertureSize=aperture, L2gradient=l2_gradient)
    count = cv2.countNonZero(edges)
    stats |= {"low_threshold": low, "high_threshold": high, "edge_pixels": count}
    stats["edge_density"] = round(count / edges.size, 5)
    return FeatureResult(edges, stats)


def _gradient(image: np.ndarray, direction: str, ksize: int) -> FeatureResult:
    """|d/dx|, |d/dy| or the gradient magnitude (float32, computed in place), shown scaled to uint8."""
    gray = to_gray(image)
    if direction == "magnitude":
        response = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=ksize)
        cv2.magnitude(response, cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=ksize), response)
    else:
        response = cv2.Sobel(gray, cv2.CV_32F, int(direction == "x"), int(direction == "y"), ksize=ksize)
    peak = peak_magnitude(response)
    mean = cv2.norm(response, cv2.NORM_L1) / response.size
    stats = {"max_gradient": round(peak, 3), "mean_gradient": round(mean, 3)}
    return FeatureResult(to_uint8(response), stats, strength_plot("Gradient strengths", response, peak))


def strength_plot(title: str, response: np.ndarray, peak: float) -> PlotData | None:
    """The share of pixels at each strength |response| from 0 to the peak (a response map's histogram)."""
    if peak <= 0:
        return None
    strength = response if direction_free(response) else cv2.absdiff(response, 0.0)
    counts = cv2.calcHist([strength], [0], None, [STRENGTH_BINS], [0.0, float(peak) * (1 + 1e-6)]).ravel()
    shares = counts / max(float(counts.sum()), 1.0)
    centres = (np.arange(STRENGTH_BINS) + 0.5) * (peak / STRENGTH_BINS)
    return PlotData("line", title, "strength", "share of pixels", {"pixels": shares}, x=centres)


def direction_free(response: np.ndarray) -> bool:
    """Whether a response map has no negative values (a magnitude), so that it is its own strength."""
    return cv2.minMaxLoc(response)[0] >= 0


@image_operation
def sobel(image: np.ndarray, *, direction: str = "magnitude", ksize: int = 3) -> FeatureResult:
    """Sobel derivative (x, y or magnitude) with a ksize x ksize aperture."""
    return _gradient(image, direction, ksize)


@image_operation
def scharr(image: np.ndarray, *, direction: str = "magnitude") -> FeatureResult:
    """Scharr derivative: a 3x3 kernel that is more rotation-invariant than Sobel's."""
    return _gradient(image, direction, cv2.FILTER_SCHARR)


@image_operation
def laplacian(image: np.ndarray, *, ksize: int = 3, smoothing: float = 1.0) -> FeatureResult:
    """|Laplacian| after optional Gaussian smoothing (sigma `smoothing`, 0 = none).

    The Laplacian's variance is the classic focus measure, so it is reported in stats.
    """
    gray = to_gray(image)
    if smoothing > 0:
        gray = cv2.GaussianBlur(gray, (0, 0), smoothing)
    response = cv2.Laplacian(gray, cv2.CV_32F, ksize=ksize)
    # E[x^2] - E[x]^2 from two reductions that accumulate in float64: half the cost of cv2.meanStdDev.
    variance = cv2.norm(response, cv2.NORM_L2SQR) / response.size - cv2.mean(response)[0] ** 2
    plot = strength_plot("Laplacian strengths", response, peak_magnitude(response))
    return FeatureResult(to_uint8(response), {"laplacian_variance": round(variance, 3)}, plot)


# ------------------------------------------------------------------ as the dropdown and the API offer them
GRADIENT_DIRECTION = choice_param(
    "gradient_direction",
    "Gradient direction",
    "magnitude",
    GRADIENT_DIRECTIONS,
    "|d/dx|, |d/dy| or both.",
)

OPERATIONS = (
    operation(
        "Canny edges",
        "Edges",
        "Thin, connected edges by Canny's hysteresis thresholding of the gradient.",
        canny,
        (
            "low",
            int_param("canny_low", "Canny low threshold", 100, 0, 500, info="Weaker gradients are never edges."),
        ),
        (
            "high",
            int_param(
                "canny_high", "Canny high threshold", 200, 0, 500, info="Stronger gradients are always edges."
            ),
        ),
        (
            "aperture",
            int_param(
                "canny_aperture", "Sobel aperture", 3, 3, 7, 2, "3, 5 or 7; larger needs higher thresholds."
            ),
        ),
        (
            "l2_gradient",
            bool_param("canny_l2_gradient", "L2 gradient", False, "Exact magnitude instead of |dx| + |dy|."),
        ),
        (
            "auto",
            bool_param("canny_auto", "Automatic thresholds", False, "Derive both thresholds from the median."),
        ),
        (
            "sigma",
            float_param("canny_sigma", "Auto-threshold spread", 0.33, 0.0, 1.0, 0.01, "(1 ∓ spread) x median."),
        ),
    ),
    operation(
        "Sobel gradients",
        "Edges",
        "First derivatives of intensity with a Sobel kernel.",
        sobel,
        ("direction", GRADIENT_DIRECTION),
        ("ksize", int_param("sobel_ksize", "Sobel kernel size", 3, 1, 31, 2, "Odd; larger kernels smooth more.")),
    ),
    operation(
        "Scharr gradients",
        "Edges",
        "First derivatives with the 3x3 Scharr kernel (more accurate orientation than Sobel 3x3).",
        scharr,
        ("direction", GRADIENT_DIRECTION),
    ),
    operation(
        "Laplacian",
        "Edges",
        "Second derivative (blob and edge response); its variance measures focus.",
        laplacian,
        ("ksize", int_param("laplacian_ksize", "Laplacian kernel size", 3, 1, 31, 2, "Odd aperture size.")),
        (
            "smoothing",
            float_param("laplacian_smoothing", "Pre-smoothing sigma", 1.0, 0.0, 10.0, 0.1, "0 = no blur."),
        ),
    ),
)
