"""Texture and shape descriptors: HOG, local binary patterns and a Gabor filter bank."""

from __future__ import annotations

import math

import cv2
import numpy as np
from skimage.feature import hog, local_binary_pattern

from fusion.charts import PlotData
from fusion.features.core import (
    FeatureResult,
    bin_centres,
    choice_param,
    float_param,
    histogram,
    image_operation,
    int_param,
    operation,
    to_gray,
    to_uint8,
)
from fusion.messages import Message

HOG_BLOCK_NORMS = ("L2-Hys", "L2", "L1", "L1-sqrt")
LBP_METHODS = ("uniform", "default", "ror", "var")
LBP_MAX_BINS = 256
GABOR_ASPECT_RATIO = 0.5


def check_hog_size(shape: tuple[int, ...], pixels_per_cell: int, cells_per_block: int) -> None:
    """skimage needs at least one full block; say so in image terms rather than failing deep inside."""
    needed = pixels_per_cell * cells_per_block
    if min(shape[:2]) < needed:
        raise ValueError(
            Message(
                "HOG needs an image of at least {needed}x{needed} pixels for {cell}-pixel cells and {block}-cell "
                "blocks, got {width}x{height}; use smaller cells or a larger image.",
                needed=needed,
                cell=pixels_per_cell,
                block=cells_per_block,
                width=shape[1],
                height=shape[0],
            )
        )


@image_operation
def hog_features(
    image: np.ndarray,
    *,
    orientations: int = 9,
    pixels_per_cell: int = 16,
    cells_per_block: int = 2,
    block_norm: str = "L2-Hys",
) -> FeatureResult:
    """HOG of the grayscale image with skimage's glyph visualisation and the mean orientation profile."""
    check_hog_size(image.shape, pixels_per_cell, cells_per_block)
    descriptor, visual = hog(
        to_gray(image),
        orientations,
        (pixels_per_cell, pixels_per_cell),
        (cells_per_block, cells_per_block),
        block_norm,
        visualize=True,
    )
    profile = descriptor.reshape(-1, orientations).mean(axis=0)
    plot = PlotData(
        "bar",
        "Mean HOG energy per orientation",
        "gradient orientation (degrees)",
        "mean normalised energy",
        {"energy": profile},
        x=bin_centres(orientations, 180.0),
    )
    cells = (image.shape[0] // pixels_per_cell, image.shape[1] // pixels_per_cell)
    stats = {"descriptor_length": int(descriptor.size), "cells": f"{cells[1]}x{cells[0]}"}
    return FeatureResult(to_uint8(visual), stats, plot)


def lbp_bins(points: int, method: str) -> tuple[int, float]:
    """Histogram bins and upper code bound for an LBP map (at most LBP_MAX_BINS, shared by wide codes)."""
    if method == "uniform":
        return points + 2, float(points + 2)
    return min(2**points, LBP_MAX_BINS), float(2**points)


@image_operation
def lbp(image: np.ndarray, *, points: int = 8, radius: float = 1.0, method: str = "uniform") -> FeatureResult:
    """Local binary patterns (skimage) shown as an image, with the code histogram as the texture signature.

    "var" is the local contrast variance rather than a code, so its histogram spans 0..max in 64 bins.
    """
    codes = local_binary_pattern(to_gray(image), points, radius, method)
    if method == "var":
        np.nan_to_num(codes, copy=False, nan=0.0)
        bins, upper = 64, max(float(cv2.minMaxLoc(codes)[1]), 1e-6) * (1.0 + 1e-6)
    else:
        bins, upper = lbp_bins(points, method)
    # calcHist takes uint8 or float32; integer codes below 256 fit in uint8, the cheapest copy.
    small_codes = method != "var" and upper <= 256
    counts = histogram(codes.astype(np.uint8 if small_codes else np.float32), bins=bins, upper=upper)
    share = counts / max(float(counts.sum()), 1.0)
    entropy = float(-(share[share > 0] * np.log2(share[share > 0])).sum())
    plot = PlotData(
        "bar",
        Message("LBP histogram ({method})", method=method),
        "code",
        "pixels",
        {"pixels": counts},
        x=bin_centres(bins, upper),
    )
    stats = {"histogram_bins": bins, "entropy_bits": round(entropy, 4)}
    return FeatureResult(to_uint8(codes), stats, plot)


def gabor_kernels(
    orientations: int, wavelength: float, sigma: float, kernel_size: int, aspect_ratio: float
) -> list[np.ndarray]:
    """Real Gabor kernels at evenly spaced angles in [0°, 180°).

    Each is made zero-mean (flat areas respond 0) and scaled to unit L1 norm (responses stay in
    intensity units whatever the kernel size).
    """
    kernels = []
    for index in range(orientations):
        theta = math.pi * index / orientations
        kernel = cv2.getGaborKernel(
            (kernel_size, kernel_size), sigma, theta, wavelength, aspect_ratio, 0.0, cv2.CV_32F
        )
        kernel -= kernel.mean()
        kernels.append(kernel / max(float(np.abs(kernel).sum()), 1e-12))
    return kernels


def tile_layout(count: int, shape: tuple[int, int]) -> tuple[np.ndarray, list[tuple[slice, slice]], int]:
    """A black float32 canvas for `count` tiles in a near-square grid, each tile's slices, and the factor.

    Every tile is the image shrunk by the same integer factor (the larger grid side), so tiles keep the
    image's aspect ratio and INTER_AREA can take its fast path on a crop to a multiple of the factor.
    """
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    factor = max(rows, columns)
    height, width = max(1, shape[0] // factor), max(1, shape[1] // factor)
    cells = [
        (slice(row * height, (row + 1) * height), slice(column * width, (column + 1) * width))
        for row, column in (divmod(index, columns) for index in range(count))
    ]
    return np.zeros((rows * height, columns * width), dtype=np.float32), cells, factor


@image_operation
def gabor_bank(
    image: np.ndarray,
    *,
    orientations: int = 6,
    wavelength: float = 10.0,
    sigma: float = 4.0,
    kernel_size: int = 31,
    aspect_ratio: float = GABOR_ASPECT_RATIO,
) -> FeatureResult:
    """|response| of a Gabor bank tiled in a grid (one tile per orientation, shared scale), with mean energy.

    Responses are reduced to their tile one at a time, so memory stays at one full-size response.
    """
    gray = to_gray(image).astype(np.float32)
    kernels = gabor_kernels(orientations, wavelength, sigma, kernel_size, aspect_ratio)
    grid, cells, factor = tile_layout(len(kernels), gray.shape)
    energy = np.empty(len(kernels))
    for index, (kernel, (rows, columns)) in enumerate(zip(kernels, cells, strict=True)):
        response = cv2.filter2D(gray, cv2.CV_32F, kernel)
        energy[index] = cv2.norm(response, cv2.NORM_L2SQR) / response.size
        height, width = rows.stop - rows.start, columns.stop - columns.start
        crop = np.abs(response, out=response)[: height * factor, : width * factor]
        grid[rows, columns] = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    angles = np.arange(orientations) * 180.0 / orientations
    plot = PlotData(
        "line",
        "Mean Gabor energy per orientation",
        "orientation (degrees)",
        "mean energy",
        {"energy": energy},
        angles,
    )
    stats = {"dominant_orientation_deg": round(float(angles[int(np.argmax(energy))]), 2)}
    stats["max_mean_energy"] = round(float(energy.max()), 3)
    return FeatureResult(to_uint8(grid), stats, plot)


# ------------------------------------------------------------------ as the dropdown and the API offer them
OPERATIONS = (
    operation(
        "HOG",
        "HOG",
        "Histogram of oriented gradients: one glyph of gradient orientations per cell.",
        hog_features,
        ("orientations", int_param("hog_orientations", "Orientations", 9, 2, 36, info="Bins over 0-180°.")),
        ("pixels_per_cell", int_param("hog_pixels_per_cell", "Cell size (px)", 16, 4, 64)),
        (
            "cells_per_block",
            int_param("hog_cells_per_block", "Cells per block", 2, 1, 8, info="Normalisation block."),
        ),
        ("block_norm", choice_param("hog_block_norm", "Block norm", "L2-Hys", HOG_BLOCK_NORMS)),
    ),
    operation(
        "LBP texture",
        "Texture",
        "Local binary patterns: each pixel coded by which neighbours are brighter; histogram = texture.",
        lbp,
        ("points", int_param("lbp_points", "Neighbours P", 8, 4, 24, info="Sampling points on the circle.")),
        ("radius", float_param("lbp_radius", "Radius R", 1.0, 1.0, 10.0, 0.5, "Circle radius in pixels.")),
        (
            "method",
            choice_param("lbp_method", "Method", "uniform", LBP_METHODS, "uniform = rotation invariant."),
        ),
    ),
    operation(
        "Gabor filter bank",
        "Texture",
        "Responses of oriented Gabor filters, one tile per orientation, with energy per orientation.",
        gabor_bank,
        (
            "orientations",
            int_param("gabor_orientations", "Orientations", 6, 1, 16, info="Evenly spaced over 180°."),
        ),
        (
            "wavelength",
            float_param("gabor_wavelength", "Wavelength λ (px)", 10.0, 2.0, 64.0, 0.5, "Stripe period."),
        ),
        ("sigma", float_param("gabor_sigma", "Sigma (px)", 4.0, 0.5, 32.0, 0.5, "Gaussian envelope width.")),
        ("kernel_size", int_param("gabor_kernel_size", "Kernel size", 31, 3, 99, 2, "Odd; about 6 x sigma.")),
    ),
)
