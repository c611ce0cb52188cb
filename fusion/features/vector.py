"""A fixed-length hand-crafted descriptor of a whole image, for classical classifiers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.feature import hog, local_binary_pattern

from fusion.features.core import check_image, histogram, to_gray
from fusion.features.edges import auto_canny_thresholds
from fusion.messages import Message

HOG_CELLS_PER_BLOCK = 2
MIN_HOG_CELL = 4
AUTO_CANNY_SIGMA = 0.33


@dataclass(frozen=True)
class HandcraftedVector:
    """float32 feature values; `blocks` names the slices "hog", "lbp", "color", "edges" in order."""

    values: np.ndarray
    blocks: dict[str, slice]


def _cells(array: np.ndarray, grid: int) -> Iterator[np.ndarray]:
    """The grid x grid tiles of a 2-D array, row-major (spatial layout for the histogram blocks)."""
    for band in np.array_split(array, grid, axis=0):
        yield from np.array_split(band, grid, axis=1)


def _lbp_block(gray: np.ndarray, points: int, radius: float, grid: int) -> np.ndarray:
    """Normalised uniform-LBP histograms (P + 2 bins) per grid cell."""
    codes = local_binary_pattern(gray, points, radius, "uniform").astype(np.intp)
    return np.concatenate(
        [np.bincount(cell.ravel(), minlength=points + 2) / cell.size for cell in _cells(codes, grid)]
    )


def _colour_block(image: np.ndarray, bins: int) -> np.ndarray:
    """Hue, saturation and value histograms (full 0..255 hue), each summing to 1."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)
    pixels = hsv.shape[0] * hsv.shape[1]
    return np.concatenate([histogram(hsv, channel, bins) / pixels for channel in range(3)])


def _edge_block(gray: np.ndarray, grid: int, orientations: int) -> np.ndarray:
    """Auto-threshold Canny edge density per grid cell, then a magnitude-weighted orientation histogram."""
    low, high, _ = auto_canny_thresholds(gray, AUTO_CANNY_SIGMA)
    edges = cv2.Canny(gray, low, high)
    density = [cv2.countNonZero(cell) / cell.size for cell in _cells(edges, grid)]
    magnitude, angle = cv2.cartToPolar(
        cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1), angleInDegrees=True
    )
    weights, _ = np.histogram(angle % 180.0, bins=orientations, range=(0.0, 180.0), weights=magnitude)
    return np.concatenate([density, weights / max(float(magnitude.sum()), 1e-9)])


def handcrafted_vector(
    image: np.ndarray,
    *,
    size: int = 128,
    hog_orientations: int = 9,
    hog_cells: int = 4,
    lbp_points: int = 8,
    lbp_radius: float = 1.0,
    lbp_grid: int = 2,
    color_bins: int = 16,
    edge_grid: int = 4,
    edge_orientations: int = 8,
) -> HandcraftedVector:
    """Concatenate HOG, LBP, colour and edge descriptors of the image squashed to size x size.

    The square resize (aspect ratio ignored) and HOG on a fixed hog_cells x hog_cells grid make the length
    independent of the input and of `size` (436 values with the defaults), so vectors of different
    photos can feed one classifier.
    """
    check_image(image)
    counts = {
        "hog_orientations": hog_orientations,
        "lbp_points": lbp_points,
        "lbp_grid": lbp_grid,
        "color_bins": color_bins,
        "edge_grid": edge_grid,
        "edge_orientations": edge_orientations,
    }
    not_positive = [f"{name} {value}" for name, value in counts.items() if value < 1]
    if not_positive or not lbp_radius > 0:
        raise ValueError(
            Message(
                "The handcrafted vector needs positive counts and a positive LBP radius, got {values}.",
                values=", ".join(not_positive) or f"lbp_radius {lbp_radius}",
            )
        )
    if hog_cells < HOG_CELLS_PER_BLOCK or size // hog_cells < MIN_HOG_CELL:
        raise ValueError(
            Message(
                "The handcrafted vector needs size >= {minimum} and hog_cells >= {cells}, got size {size} and "
                "hog_cells {hog_cells}; raise size.",
                minimum=MIN_HOG_CELL * max(hog_cells, HOG_CELLS_PER_BLOCK),
                cells=HOG_CELLS_PER_BLOCK,
                size=size,
                hog_cells=hog_cells,
            )
        )
    if max(lbp_grid, edge_grid) > size:
        raise ValueError(
            Message("lbp_grid and edge_grid cannot exceed size {size} (one pixel per cell at least).", size=size)
        )
    hog_pixels_per_cell = size // hog_cells
    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    gray = to_gray(small)
    parts = {
        "hog": hog(
            gray,
            hog_orientations,
            (hog_pixels_per_cell, hog_pixels_per_cell),
            (HOG_CELLS_PER_BLOCK, HOG_CELLS_PER_BLOCK),
            "L2-Hys",
        ),
        "lbp": _lbp_block(gray, lbp_points, lbp_radius, lbp_grid),
        "color": _colour_block(small, color_bins),
        "edges": _edge_block(gray, edge_grid, edge_orientations),
    }
    blocks, start = {}, 0
    for name, values in parts.items():
        blocks[name] = slice(start, start + values.size)
        start += values.size
    return HandcraftedVector(np.concatenate(list(parts.values())).astype(np.float32), blocks)
