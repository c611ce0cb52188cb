"""Colour statistics: per-channel histograms and dominant colours by k-means."""

from __future__ import annotations

import cv2
import numpy as np

from fusion.charts import PlotData
from fusion.features.core import (
    FeatureResult,
    bin_centres,
    choice_param,
    histogram,
    image_operation,
    int_param,
    operation,
    read_only,
)
from fusion.messages import Message

COLOUR_SPACES = ("RGB", "HSV")
CHANNEL_COLOURS = {
    "RGB": {"red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4"},
    "HSV": {"hue": "#9467bd", "saturation": "#ff7f0e", "value": "#7f7f7f"},
}
PALETTE_SIZE = (640, 160)
KMEANS_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)


@image_operation
def colour_histograms(image: np.ndarray, *, bins: int = 64, space: str = "RGB") -> FeatureResult:
    """Per-channel histograms as pixel fractions; HSV uses OpenCV's full 0..255 hue range."""
    data = image if space == "RGB" else cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)
    names = tuple(CHANNEL_COLOURS[space])
    pixels = float(image.shape[0] * image.shape[1])
    series = {name: histogram(data, channel, bins) / pixels for channel, name in enumerate(names)}
    means = cv2.mean(data)
    stats = {f"mean_{name}": round(means[channel], 3) for channel, name in enumerate(names)}
    plot = PlotData(
        "line",
        Message("{space} histograms", space=space),
        "channel value",
        "fraction of pixels",
        series,
        bin_centres(bins),
        CHANNEL_COLOURS[space],
    )
    return FeatureResult(read_only(image), stats, plot)


def to_hex(colour: np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(value) for value in colour))


def sample_pixels(image: np.ndarray, sample_side: int) -> np.ndarray:
    """Pixels of a copy whose longest side is at most `sample_side` (area-averaged), as float32 (N, 1, 3).

    The 3-channel column layout tells cv2.kmeans unambiguously that each sample has three dimensions,
    even when there is only one pixel.
    """
    height, width = image.shape[:2]
    factor = sample_side / max(height, width)
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image.reshape(-1, 1, 3).astype(np.float32)


def palette_image(colours: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """A strip with one block per colour, width proportional to its share, labelled with the percentage."""
    width, height = PALETTE_SIZE
    edges = np.rint(np.concatenate([[0.0], np.cumsum(shares)]) * width).astype(int)
    row = np.repeat(colours, np.diff(edges), axis=0)
    strip = np.repeat(row[np.newaxis], height, axis=0)  # one repeat: ~50x faster than filling blocks
    for colour, share, start, stop in zip(colours, shares, edges[:-1], edges[1:], strict=True):
        if stop - start >= 48:
            luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
            ink = (0, 0, 0) if luma > 128 else (255, 255, 255)
            cv2.putText(
                strip, f"{share:.0%}", (start + 6, height // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6, ink, 1
            )
    return strip


@image_operation
def dominant_colours(
    image: np.ndarray, *, k: int = 5, attempts: int = 3, sample_side: int = 128, seed: int = 0
) -> FeatureResult:
    """k-means (k-means++ seeding, fixed RNG seed) on a copy downsampled to `sample_side`.

    The downsampling is what keeps this interactive on large photos; colours are sorted by share.
    """
    pixels = sample_pixels(image, sample_side)
    clusters = min(k, len(pixels))
    cv2.setRNGSeed(seed)
    _, labels, centres = cv2.kmeans(pixels, clusters, None, KMEANS_CRITERIA, attempts, cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(labels.ravel(), minlength=clusters)
    order = np.argsort(-counts, kind="stable")
    colours = np.clip(np.rint(centres[order]), 0, 255).astype(np.uint8)
    shares = counts[order] / counts.sum()
    hexes = tuple(to_hex(colour) for colour in colours)
    stats: dict[str, int | float | str] = {"k": clusters, "sampled_pixels": len(pixels)}
    for rank, (code, share) in enumerate(zip(hexes, shares, strict=True), start=1):
        stats[f"colour_{rank}"] = code
        stats[f"colour_{rank}_percent"] = round(100.0 * float(share), 2)
    plot = PlotData(
        "bar",
        "Dominant colours",
        "cluster colour",
        "share of pixels (%)",
        {"share": 100.0 * shares},
        np.array(hexes),
        None,
        hexes,
    )
    return FeatureResult(palette_image(colours, shares), stats, plot)


# ------------------------------------------------------------------ as the dropdown and the API offer them
OPERATIONS = (
    operation(
        "Colour histograms",
        "Colour",
        "Per-channel RGB or HSV histograms.",
        colour_histograms,
        ("bins", int_param("hist_bins", "Bins", 64, 2, 256)),
        ("space", choice_param("hist_space", "Colour space", "RGB", COLOUR_SPACES)),
    ),
    operation(
        "Dominant colours",
        "Colour",
        "Main colours by k-means on a 128-pixel copy, shown as a palette with their shares.",
        dominant_colours,
        ("k", int_param("kmeans_k", "Colours k", 5, 1, 16)),
        ("attempts", int_param("kmeans_attempts", "k-means restarts", 3, 1, 10, info="Best of several runs.")),
    ),
)
