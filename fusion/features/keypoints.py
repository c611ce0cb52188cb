"""Keypoint and corner detectors, drawn over the image with their counts.

At most :data:`MAX_DRAWN` of them are drawn, the strongest (by detector response), so that each stays legible on a
picture shown a few hundred pixels wide; the stats count every one found, and a notice says how many are shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from fusion.charts import PlotData
from fusion.features.core import (
    FeatureResult,
    bool_param,
    choice_param,
    float_param,
    image_operation,
    int_param,
    operation,
    to_gray,
)
from fusion.messages import Message

FAST_TYPES = {
    "9/16": cv2.FAST_FEATURE_DETECTOR_TYPE_9_16,
    "7/12": cv2.FAST_FEATURE_DETECTOR_TYPE_7_12,
    "5/8": cv2.FAST_FEATURE_DETECTOR_TYPE_5_8,
}
KEYPOINT_COLOUR = (0, 255, 0)
CORNER_COLOUR = (255, 0, 0)
#: How many are drawn at most: rich keypoints (a circle of their scale, a line of their orientation) cover far more
#: of the picture than corners (a small circle each).
MAX_DRAWN = {"rich": 100, "corners": 300}
SIZE_BINS = 12


def orb_detector(
    shape: tuple[int, ...],
    n_features: int,
    scale_factor: float = 1.2,
    n_levels: int = 8,
    fast_threshold: int = 20,
) -> cv2.ORB:
    """An ORB detector, after checking its pyramid's smallest level is at least one pixel on each side."""
    # OpenCV rounds the last level's size half-to-even, so it must exceed half a pixel.
    needed = math.floor(0.5 * scale_factor ** (n_levels - 1)) + 1
    if min(shape[:2]) < needed:
        raise ValueError(
            Message(
                "ORB with {levels} pyramid levels at scale {scale:g} needs images of at least {needed} pixels on each "
                "side, got {width}x{height}; use a larger image or fewer levels.",
                levels=n_levels,
                scale=scale_factor,
                needed=needed,
                width=shape[1],
                height=shape[0],
            )
        )
    return cv2.ORB_create(n_features, scale_factor, n_levels, fastThreshold=fast_threshold)


def draw_keypoints(image: np.ndarray, keypoints: Sequence[cv2.KeyPoint], *, rich: bool) -> np.ndarray:
    """Rich drawing shows each keypoint's scale (circle) and orientation (radius line)."""
    flags = cv2.DRAW_MATCHES_FLAGS_DRAW_RICH_KEYPOINTS if rich else cv2.DRAW_MATCHES_FLAGS_DEFAULT
    colour = KEYPOINT_COLOUR if rich else CORNER_COLOUR
    return cv2.drawKeypoints(image, keypoints, None, colour, flags)


def strongest(keypoints: Sequence[cv2.KeyPoint], limit: int) -> Sequence[cv2.KeyPoint]:
    """The ``limit`` keypoints with the highest response (detection order among equals), or all of them."""
    if len(keypoints) <= limit:
        return keypoints
    return sorted(keypoints, key=lambda keypoint: -keypoint.response)[:limit]


def drawn(
    image: np.ndarray, keypoints: Sequence[cv2.KeyPoint], *, rich: bool, what: str = "keypoints"
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The picture with the strongest keypoints drawn, and a notice when not all of them could be."""
    shown = strongest(keypoints, MAX_DRAWN["rich" if rich else "corners"])
    notices = ()
    if len(shown) < len(keypoints):
        notices = (
            Message(
                "The picture shows the {shown} strongest of the {found} {what} found, so that each stays "
                "legible; the numbers count all of them.",
                shown=len(shown),
                found=len(keypoints),
                what=what,
            ),
        )
    return draw_keypoints(image, shown, rich=rich), notices


def size_plot(sizes: Sequence[float]) -> PlotData | None:
    """How many keypoints were found at each scale (their diameter in pixels)."""
    if not len(sizes):
        return None
    counts, edges = np.histogram(np.asarray(sizes, dtype=np.float64), bins=SIZE_BINS)
    centres = (edges[:-1] + edges[1:]) / 2.0
    return PlotData("bar", "Keypoint sizes", "diameter (pixels)", "keypoints", {"keypoints": counts}, x=centres)


def _scale_space_result(image: np.ndarray, keypoints: Sequence[cv2.KeyPoint]) -> FeatureResult:
    sizes = [keypoint.size for keypoint in keypoints]
    stats = {"keypoints": len(keypoints), "mean_size": round(float(np.mean(sizes)), 3) if sizes else 0.0}
    picture, notices = drawn(image, keypoints, rich=True)
    return FeatureResult(picture, stats, size_plot(sizes), notices)


def _corner_result(image: np.ndarray, points: np.ndarray) -> FeatureResult:
    """Draw (N, 2) float32 x/y corner positions, strongest first, as small circles."""
    keypoints = cv2.KeyPoint_convert(points) if len(points) else ()
    picture, notices = drawn(image, keypoints, rich=False, what="corners")
    return FeatureResult(picture, {"corners": len(points)}, notices=notices)


@image_operation
def orb_keypoints(
    image: np.ndarray,
    *,
    n_features: int = 500,
    scale_factor: float = 1.2,
    n_levels: int = 8,
    fast_threshold: int = 20,
) -> FeatureResult:
    """ORB: oriented FAST keypoints on an image pyramid (binary BRIEF descriptors)."""
    detector = orb_detector(image.shape, n_features, scale_factor, n_levels, fast_threshold)
    return _scale_space_result(image, detector.detect(to_gray(image), None))


@image_operation
def sift_keypoints(
    image: np.ndarray,
    *,
    n_features: int = 500,
    contrast_threshold: float = 0.04,
    edge_threshold: float = 10.0,
    n_octave_layers: int = 3,
) -> FeatureResult:
    """SIFT: difference-of-Gaussians blobs with scale and dominant orientation (0 features = all)."""
    detector = cv2.SIFT_create(n_features, n_octave_layers, contrast_threshold, edge_threshold)
    return _scale_space_result(image, detector.detect(to_gray(image), None))


@image_operation
def fast_corners(
    image: np.ndarray, *, threshold: int = 20, nonmax_suppression: bool = True, neighbourhood: str = "9/16"
) -> FeatureResult:
    """FAST segment-test corners: a pixel brighter/darker than n contiguous circle pixels."""
    detector = cv2.FastFeatureDetector_create(threshold, nonmax_suppression, FAST_TYPES[neighbourhood])
    keypoints = detector.detect(to_gray(image), None)
    picture, notices = drawn(image, keypoints, rich=False)
    return FeatureResult(picture, {"keypoints": len(keypoints)}, notices=notices)


@image_operation
def shi_tomasi_corners(
    image: np.ndarray,
    *,
    max_corners: int = 500,
    quality_level: float = 0.01,
    min_distance: float = 10.0,
    block_size: int = 3,
) -> FeatureResult:
    """Shi-Tomasi "good features to track": strongest minimum-eigenvalue corners, spaced apart."""
    corners = cv2.goodFeaturesToTrack(
        to_gray(image), max_corners, quality_level, min_distance, blockSize=block_size
    )
    return _corner_result(image, np.empty((0, 2), np.float32) if corners is None else corners.reshape(-1, 2))


def harris_points(response: np.ndarray, threshold: float) -> np.ndarray:
    """x/y of 3x3 local maxima of the Harris response above `threshold` x its maximum, strongest first."""
    peak = cv2.minMaxLoc(response)[1]
    maxima = (response == cv2.dilate(response, None)) & (response > threshold * peak)
    rows, columns = np.nonzero(maxima)
    order = np.argsort(-response[rows, columns], kind="stable")
    return np.column_stack((columns[order], rows[order])).astype(np.float32)


@image_operation
def harris_corners(
    image: np.ndarray, *, block_size: int = 2, ksize: int = 3, k: float = 0.04, threshold: float = 0.01
) -> FeatureResult:
    """Harris corners: local maxima of det(M) - k·trace(M)² above a fraction of the strongest one."""
    response = cv2.cornerHarris(to_gray(image), block_size, ksize, k)
    return _corner_result(image, harris_points(response, threshold))


# ------------------------------------------------------------------ as the dropdown and the API offer them
OPERATIONS = (
    operation(
        "ORB keypoints",
        "Keypoints",
        "Oriented FAST keypoints over an image pyramid (circle = scale, line = orientation).",
        orb_keypoints,
        (
            "n_features",
            int_param("orb_features", "Max keypoints", 500, 10, 10_000, info="Strongest ones are kept."),
        ),
        (
            "scale_factor",
            float_param("orb_scale_factor", "Pyramid scale", 1.2, 1.01, 2.0, 0.01, "Between levels."),
        ),
        ("n_levels", int_param("orb_levels", "Pyramid levels", 8, 1, 16)),
        ("fast_threshold", int_param("orb_fast_threshold", "FAST threshold", 20, 1, 100, info="Corner contrast.")),
    ),
    operation(
        "SIFT keypoints",
        "Keypoints",
        "Scale-invariant difference-of-Gaussians keypoints (circle = scale, line = orientation).",
        sift_keypoints,
        ("n_features", int_param("sift_features", "Max keypoints", 500, 0, 10_000, info="0 keeps all.")),
        (
            "contrast_threshold",
            float_param(
                "sift_contrast_threshold", "Contrast threshold", 0.04, 0.001, 0.2, 0.001, "Drops weak blobs."
            ),
        ),
        (
            "edge_threshold",
            float_param("sift_edge_threshold", "Edge threshold", 10.0, 1.0, 50.0, 0.5, "Drops edges."),
        ),
        ("n_octave_layers", int_param("sift_octave_layers", "Layers per octave", 3, 1, 8)),
    ),
    operation(
        "FAST corners",
        "Keypoints",
        "FAST segment-test corners (very fast, no scale or orientation).",
        fast_corners,
        (
            "threshold",
            int_param("fast_threshold", "Intensity threshold", 20, 1, 255, info="Contrast to the circle."),
        ),
        ("nonmax_suppression", bool_param("fast_nonmax", "Non-max suppression", True, "Keep only local maxima.")),
        ("neighbourhood", choice_param("fast_type", "Circle test", "9/16", tuple(FAST_TYPES))),
    ),
    operation(
        "Shi-Tomasi corners",
        "Keypoints",
        "Good features to track: strongest minimum-eigenvalue corners, spaced apart.",
        shi_tomasi_corners,
        ("max_corners", int_param("shi_tomasi_max_corners", "Max corners", 500, 1, 10_000)),
        (
            "quality_level",
            float_param("shi_tomasi_quality", "Quality level", 0.01, 0.001, 1.0, 0.001, "x best corner."),
        ),
        ("min_distance", float_param("shi_tomasi_min_distance", "Min distance (px)", 10.0, 0.0, 200.0, 1.0)),
        ("block_size", int_param("shi_tomasi_block_size", "Block size", 3, 1, 31, info="Neighbourhood size.")),
    ),
    operation(
        "Harris corners",
        "Keypoints",
        "Harris corner response, local maxima above a fraction of the strongest.",
        harris_corners,
        ("block_size", int_param("harris_block_size", "Block size", 2, 1, 31, info="Neighbourhood size.")),
        ("ksize", int_param("harris_ksize", "Sobel aperture", 3, 1, 31, 2, "Odd derivative aperture.")),
        ("k", float_param("harris_k", "Harris k", 0.04, 0.01, 0.25, 0.01, "Typically 0.04-0.06.")),
        (
            "threshold",
            float_param("harris_threshold", "Relative threshold", 0.01, 0.001, 1.0, 0.001, "x max response."),
        ),
    ),
)
