"""Descriptor matching between two images: Lowe's ratio test, then a RANSAC homography."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fusion.charts import PlotData
from fusion.features.core import (
    FeatureResult,
    choice_param,
    float_param,
    image_operation,
    int_param,
    line_thickness,
    operation,
    to_gray,
)
from fusion.features.keypoints import orb_detector
from fusion.messages import Message

DETECTORS = ("ORB", "SIFT")
SYNTHETIC_ANGLE = 15.0
SYNTHETIC_SCALE = 0.8
SYNTHETIC_KEYSTONE = 0.08
SYNTHETIC_DESCRIPTION = Message(
    "synthetic warp of the first image (rotated {angle}°, scaled {scale}, top edge narrowed {keystone} per side)",
    angle=f"{SYNTHETIC_ANGLE:g}",
    scale=f"{SYNTHETIC_SCALE:g}",
    keystone=f"{SYNTHETIC_KEYSTONE:.0%}",
)
INLIER_COLOUR = (0, 255, 0)
OUTLIER_COLOUR = (255, 0, 0)
OUTLINE_COLOUR = (255, 255, 0)
MIN_HOMOGRAPHY_MATCHES = 4


@dataclass(frozen=True)
class Matches:
    """Keypoints of both images, the ratio-test survivors and which of them RANSAC kept."""

    keypoints_first: tuple[cv2.KeyPoint, ...]
    keypoints_second: tuple[cv2.KeyPoint, ...]
    good: tuple[cv2.DMatch, ...]
    inliers: np.ndarray
    homography: np.ndarray | None


def synthetic_homography(width: int, height: int) -> np.ndarray:
    """Known 3x3 homography: a mild keystone, then rotation and scaling about the image centre."""
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    shift = SYNTHETIC_KEYSTONE * width
    keystone = cv2.getPerspectiveTransform(
        corners, corners + np.float32([[shift, 0], [-shift, 0], [0, 0], [0, 0]])
    )
    rotation = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), SYNTHETIC_ANGLE, SYNTHETIC_SCALE)
    return np.vstack([rotation, [0.0, 0.0, 1.0]]) @ keystone


def synthetic_warp(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image warped by `synthetic_homography`, and that homography: a match target with ground truth."""
    height, width = image.shape[:2]
    homography = synthetic_homography(width, height)
    return cv2.warpPerspective(image, homography, (width, height)), homography


def _extractor(
    detector: str, n_features: int, shapes: tuple[tuple[int, ...], ...]
) -> tuple[cv2.Feature2D, int]:
    """The descriptor extractor and the matching norm for its descriptors (Hamming for binary ORB)."""
    if detector == "SIFT":
        return cv2.SIFT_create(n_features), cv2.NORM_L2
    return orb_detector(min(shapes, key=min), n_features), cv2.NORM_HAMMING


@image_operation
def find_matches(
    first: np.ndarray,
    second: np.ndarray,
    *,
    detector: str = "ORB",
    n_features: int = 1000,
    ratio: float = 0.75,
    ransac_threshold: float = 5.0,
) -> Matches:
    """Detect and describe both images, keep unambiguous matches, fit a homography with RANSAC."""
    extractor, norm = _extractor(detector, n_features, (first.shape[:2], second.shape[:2]))
    keypoints_first, descriptors_first = extractor.detectAndCompute(to_gray(first), None)
    keypoints_second, descriptors_second = extractor.detectAndCompute(to_gray(second), None)
    good: list[cv2.DMatch] = []
    if descriptors_first is not None and descriptors_second is not None:
        pairs = cv2.BFMatcher(norm).knnMatch(descriptors_first, descriptors_second, k=2)
        good = [pair[0] for pair in pairs if len(pair) == 2 and pair[0].distance < ratio * pair[1].distance]
    homography, inliers = None, np.zeros(len(good), dtype=bool)
    if len(good) >= MIN_HOMOGRAPHY_MATCHES:
        source = np.float32([keypoints_first[match.queryIdx].pt for match in good])
        target = np.float32([keypoints_second[match.trainIdx].pt for match in good])
        homography, mask = cv2.findHomography(source, target, cv2.RANSAC, ransac_threshold)
        if homography is not None:
            inliers = mask.ravel().astype(bool)
    return Matches(tuple(keypoints_first), tuple(keypoints_second), tuple(good), inliers, homography)


def _image_corners(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    return np.float32([[0, 0], [width, 0], [width, height], [0, height]]).reshape(-1, 1, 2)


def draw_matches(first: np.ndarray, second: np.ndarray, matches: Matches) -> np.ndarray:
    """Side by side: outlier matches red, inliers green, the first image's outline projected in yellow."""
    inliers = matches.inliers.astype(np.uint8)
    first_points, second_points = matches.keypoints_first, matches.keypoints_second
    no_singles = cv2.DRAW_MATCHES_FLAGS_NOT_DRAW_SINGLE_POINTS
    canvas = cv2.drawMatches(
        first,
        first_points,
        second,
        second_points,
        matches.good,
        None,
        OUTLIER_COLOUR,
        None,
        1 - inliers,
        no_singles,
    )
    cv2.drawMatches(
        first,
        first_points,
        second,
        second_points,
        matches.good,
        canvas,
        INLIER_COLOUR,
        None,
        inliers,
        no_singles | cv2.DRAW_MATCHES_FLAGS_DRAW_OVER_OUTIMG,
    )
    if matches.homography is not None:
        outline = cv2.perspectiveTransform(_image_corners(first), matches.homography)
        outline[..., 0] += first.shape[1]
        cv2.polylines(canvas, [np.int32(np.round(outline))], True, OUTLINE_COLOUR, line_thickness(canvas))
    return canvas


def corner_error(estimated: np.ndarray, known: np.ndarray, image: np.ndarray) -> float:
    """Mean distance in pixels between the image corners mapped by the estimated and known homography."""
    corners = _image_corners(image)
    difference = cv2.perspectiveTransform(corners, estimated) - cv2.perspectiveTransform(corners, known)
    return float(np.linalg.norm(difference.reshape(-1, 2), axis=1).mean())


@image_operation
def match_features(
    image: np.ndarray,
    second_image: np.ndarray | None = None,
    *,
    detector: str = "ORB",
    n_features: int = 1000,
    ratio: float = 0.75,
    ransac_threshold: float = 5.0,
) -> FeatureResult:
    """Match `image` to `second_image` and draw the matches, RANSAC inliers highlighted.

    Without a second image the target is `synthetic_warp(image)`, whose homography is known, so the
    stats also report how far the estimated homography is from the truth (`corner_error_px`).
    """
    known = None
    if second_image is None:
        second_image, known = synthetic_warp(image)
    matches = find_matches(
        image,
        second_image,
        detector=detector,
        n_features=n_features,
        ratio=ratio,
        ransac_threshold=ransac_threshold,
    )
    inlier_count = int(matches.inliers.sum())
    stats: dict[str, int | float | str] = {
        "second_image": "uploaded" if known is None else SYNTHETIC_DESCRIPTION,
        "detector": detector,
        "keypoints_first": len(matches.keypoints_first),
        "keypoints_second": len(matches.keypoints_second),
        "good_matches": len(matches.good),
        "inliers": inlier_count,
        "inlier_ratio": round(inlier_count / len(matches.good), 4) if matches.good else 0.0,
        "homography": "found",
    }
    if matches.homography is None:
        stats["homography"] = Message(
            "not found: RANSAC needs ≥ {count} consistent good matches", count=MIN_HOMOGRAPHY_MATCHES
        )
    elif known is not None:
        stats["corner_error_px"] = round(corner_error(matches.homography, known, image), 3)
    return FeatureResult(draw_matches(image, second_image, matches), stats, funnel_plot(stats))


def funnel_plot(stats: dict[str, int | float | str]) -> PlotData:
    """From keypoints to inliers: how many survive each step of the matching."""
    steps = {
        "keypoints (first image)": stats["keypoints_first"],
        "keypoints (second image)": stats["keypoints_second"],
        "good matches": stats["good_matches"],
        "RANSAC inliers": stats["inliers"],
    }
    return PlotData(
        "bar", "From keypoints to inliers", "step", "count", {"count": np.array(list(steps.values()))},
        x=np.array(list(steps)),
        named_categories=True,
    )


# ------------------------------------------------------------------ as the dropdown and the API offer them
OPERATIONS = (
    operation(
        "Feature matching",
        "Matching",
        "Match descriptors between two images (ratio test + RANSAC homography). Without a second image, "
        "the first is matched against a known synthetic warp of itself.",
        match_features,
        (
            "detector",
            choice_param("match_detector", "Descriptor", "ORB", DETECTORS, "ORB fast, SIFT robust."),
        ),
        ("n_features", int_param("match_features", "Max keypoints per image", 1000, 50, 10_000)),
        ("ratio", float_param("match_ratio", "Lowe ratio", 0.75, 0.1, 1.0, 0.05, "Lower = stricter matches.")),
        (
            "ransac_threshold",
            float_param(
                "match_ransac_threshold", "RANSAC threshold (px)", 5.0, 0.5, 20.0, 0.5, "Inlier distance."
            ),
        ),
        needs_second_image=True,
    ),
)
