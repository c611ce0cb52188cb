"""Thresholding, morphology and binary-region analysis (contours, connected components)."""

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
    intensity_plot,
    line_thickness,
    operation,
    to_gray,
)
from fusion.messages import Message

ADAPTIVE_METHODS = {"gaussian": cv2.ADAPTIVE_THRESH_GAUSSIAN_C, "mean": cv2.ADAPTIVE_THRESH_MEAN_C}
MORPH_OPERATIONS = {
    "erode": cv2.MORPH_ERODE,
    "dilate": cv2.MORPH_DILATE,
    "open": cv2.MORPH_OPEN,
    "close": cv2.MORPH_CLOSE,
    "gradient": cv2.MORPH_GRADIENT,
    "top-hat": cv2.MORPH_TOPHAT,
    "black-hat": cv2.MORPH_BLACKHAT,
}
KERNEL_SHAPES = {"rect": cv2.MORPH_RECT, "ellipse": cv2.MORPH_ELLIPSE, "cross": cv2.MORPH_CROSS}
MORPH_SOURCES = ("grayscale", "binary (Otsu)", "colour")
CONTOUR_THRESHOLDS = ("otsu", "adaptive", "canny")
CONTOUR_RETRIEVALS = {"external": cv2.RETR_EXTERNAL, "all": cv2.RETR_LIST}
CONNECTIVITIES = ("8", "4")
CONTOUR_COLOUR = (0, 255, 0)


def _binary_type(invert: bool) -> int:
    return cv2.THRESH_BINARY_INV if invert else cv2.THRESH_BINARY


def _otsu(gray: np.ndarray, invert: bool) -> tuple[float, np.ndarray]:
    return cv2.threshold(gray, 0, 255, _binary_type(invert) | cv2.THRESH_OTSU)


def _foreground_fraction(binary: np.ndarray) -> float:
    return round(cv2.countNonZero(binary) / binary.size, 5)


@image_operation
def otsu_threshold(image: np.ndarray, *, invert: bool = False) -> FeatureResult:
    """Global threshold chosen by Otsu's method (maximum between-class variance)."""
    gray = to_gray(image)
    level, binary = _otsu(gray, invert)
    stats = {"threshold": int(level), "foreground_fraction": _foreground_fraction(binary)}
    title = Message("Intensity histogram (Otsu threshold {threshold})", threshold=int(level))
    plot = intensity_plot(title, {"gray": histogram(gray)})
    return FeatureResult(binary, stats, plot)


@image_operation
def adaptive_threshold(
    image: np.ndarray, *, method: str = "gaussian", block_size: int = 31, c: float = 5.0, invert: bool = False
) -> FeatureResult:
    """Local threshold: each pixel against the (Gaussian-weighted) mean of its block minus `c`."""
    binary = cv2.adaptiveThreshold(
        to_gray(image), 255, ADAPTIVE_METHODS[method], _binary_type(invert), block_size, c
    )
    return FeatureResult(binary, {"foreground_fraction": _foreground_fraction(binary)})


@image_operation
def morphology(
    image: np.ndarray,
    *,
    operation: str = "gradient",
    shape: str = "ellipse",
    kernel_size: int = 5,
    iterations: int = 1,
    source: str = "grayscale",
) -> FeatureResult:
    """Erode / dilate / open / close / gradient / top-hat / black-hat on grayscale, Otsu-binary or colour."""
    if source == "colour":
        data = image
    elif source == "grayscale":
        data = to_gray(image)
    else:
        data = _otsu(to_gray(image), False)[1]
    kernel = cv2.getStructuringElement(KERNEL_SHAPES[shape], (kernel_size, kernel_size))
    result = cv2.morphologyEx(data, MORPH_OPERATIONS[operation], kernel, iterations=iterations)
    return FeatureResult(result, {"kernel": f"{kernel_size}x{kernel_size} {shape}", "iterations": iterations})


def area_plot(areas: np.ndarray, title: str) -> PlotData | None:
    """Histogram of region areas on a log10 axis, since region sizes span orders of magnitude."""
    if areas.size == 0:
        return None
    logs = np.log10(np.maximum(areas, 1.0))
    counts, edges = np.histogram(logs, bins=min(20, max(1, areas.size)))
    centres = (edges[:-1] + edges[1:]) / 2.0
    return PlotData("bar", title, "log10(area in pixels)", "regions", {"regions": counts}, x=centres)


def area_stats(areas: np.ndarray, prefix: str) -> dict[str, float]:
    """Min / median / max / total of the kept region areas (zeros when nothing is kept)."""
    if areas.size == 0:
        return {f"{prefix}_area_{name}": 0.0 for name in ("min", "median", "max", "total")}
    values = {"min": areas.min(), "median": np.median(areas), "max": areas.max(), "total": areas.sum()}
    return {f"{prefix}_area_{name}": round(float(value), 2) for name, value in values.items()}


def _binarise(gray: np.ndarray, threshold: str, invert: bool) -> np.ndarray:
    """The mask contours are traced on: Otsu, adaptive (31-pixel Gaussian, C 5) or Canny (not inverted)."""
    if threshold == "otsu":
        return _otsu(gray, invert)[1]
    if threshold == "adaptive":
        return cv2.adaptiveThreshold(gray, 255, ADAPTIVE_METHODS["gaussian"], _binary_type(invert), 31, 5)
    return cv2.Canny(gray, 100, 200)


@image_operation
def contours(
    image: np.ndarray,
    *,
    threshold: str = "otsu",
    retrieval: str = "external",
    min_area: float = 100,
    invert: bool = False,
) -> FeatureResult:
    """Contours of a binary mask drawn over the image; regions smaller than `min_area` are dropped."""
    binary = _binarise(to_gray(image), threshold, invert)
    found, _ = cv2.findContours(binary, CONTOUR_RETRIEVALS[retrieval], cv2.CHAIN_APPROX_SIMPLE)
    areas = np.array([cv2.contourArea(contour) for contour in found], dtype=np.float64)
    kept = [contour for contour, area in zip(found, areas, strict=True) if area >= min_area]
    areas = areas[areas >= min_area]
    canvas = image.copy()
    cv2.drawContours(canvas, kept, -1, CONTOUR_COLOUR, line_thickness(image))
    stats = {"contours": len(kept), "contours_found": len(found), **area_stats(areas, "contour")}
    return FeatureResult(canvas, stats, area_plot(areas, "Contour areas"))


def label_palette(count: int) -> np.ndarray:
    """Fixed pseudo-random bright colours per label (label 0, the background, is black)."""
    palette = np.random.default_rng(0).integers(64, 256, size=(count, 3), dtype=np.uint8)
    palette[0] = 0
    return palette


@image_operation
def connected_components(
    image: np.ndarray, *, connectivity: str = "8", min_area: int = 20, invert: bool = False
) -> FeatureResult:
    """Label the Otsu foreground; each component gets its own colour, small ones are hidden."""
    binary = _otsu(to_gray(image), invert)[1]
    count, labels, region_stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=int(connectivity))
    areas = region_stats[1:, cv2.CC_STAT_AREA]
    palette = label_palette(count)
    palette[1:][areas < min_area] = 0
    kept = areas[areas >= min_area].astype(np.float64)
    stats = {"components": int(kept.size), "components_found": count - 1, **area_stats(kept, "component")}
    return FeatureResult(palette[labels], stats, area_plot(kept, "Component areas"))


# ------------------------------------------------------------------ as the dropdown and the API offer them
BINARY_INVERT = bool_param(
    "binary_invert",
    "Invert mask",
    False,
    "Swap foreground and background (objects darker than the background).",
)

OPERATIONS = (
    operation(
        "Otsu threshold",
        "Threshold & morphology",
        "Global binarisation at the threshold chosen by Otsu's method.",
        otsu_threshold,
        ("invert", BINARY_INVERT),
    ),
    operation(
        "Adaptive threshold",
        "Threshold & morphology",
        "Local binarisation against the mean of each pixel's neighbourhood (uneven lighting).",
        adaptive_threshold,
        ("method", choice_param("adaptive_method", "Local mean", "gaussian", tuple(ADAPTIVE_METHODS))),
        ("block_size", int_param("adaptive_block_size", "Block size", 31, 3, 255, 2, "Odd neighbourhood size.")),
        ("c", float_param("adaptive_c", "Offset C", 5.0, -50.0, 50.0, 0.5, "Subtracted from the local mean.")),
        ("invert", BINARY_INVERT),
    ),
    operation(
        "Morphology",
        "Threshold & morphology",
        "Erode, dilate, open, close, gradient, top-hat or black-hat with a chosen kernel.",
        morphology,
        ("operation", choice_param("morph_operation", "Operation", "gradient", tuple(MORPH_OPERATIONS))),
        ("shape", choice_param("morph_shape", "Kernel shape", "ellipse", tuple(KERNEL_SHAPES))),
        ("kernel_size", int_param("morph_kernel_size", "Kernel size", 5, 1, 51, info="Kernel width and height.")),
        ("iterations", int_param("morph_iterations", "Iterations", 1, 1, 20, info="Repeat the operation.")),
        ("source", choice_param("morph_source", "Apply to", "grayscale", MORPH_SOURCES)),
    ),
    operation(
        "Contours",
        "Threshold & morphology",
        "Outlines of the regions of a binary mask, with area statistics.",
        contours,
        ("threshold", choice_param("contour_threshold", "Mask from", "otsu", CONTOUR_THRESHOLDS)),
        (
            "retrieval",
            choice_param("contour_retrieval", "Contours", "external", tuple(CONTOUR_RETRIEVALS)),
        ),
        (
            "min_area",
            int_param("contour_min_area", "Minimum area (px)", 100, 0, 1_000_000, info="Drop smaller ones."),
        ),
        ("invert", BINARY_INVERT),
    ),
    operation(
        "Connected components",
        "Threshold & morphology",
        "Label the Otsu foreground's connected regions in distinct colours.",
        connected_components,
        (
            "connectivity",
            choice_param("cc_connectivity", "Connectivity", "8", CONNECTIVITIES, "Neighbours."),
        ),
        (
            "min_area",
            int_param("cc_min_area", "Minimum area (px)", 20, 0, 1_000_000, info="Hide smaller components."),
        ),
        ("invert", BINARY_INVERT),
    ),
)
