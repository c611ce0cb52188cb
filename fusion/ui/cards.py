# ruff: noqa: RUF001  (text for people, with typographic quotes, dashes and multiplication signs)
"""Readable cards instead of JSON: a few numbers, each with its unit and a line saying what it means.

Each card is HTML made here from the numbers an event returned (every text escaped, every label in the request's
language); the JSON itself stays available, unchanged, in a collapsed "Raw data" section of the panel. The
look comes from the page's stylesheet (``fusion/ui/style.py``), in the theme's colours.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fusion.messages import Message
from fusion.ui.i18n import localized


@dataclass(frozen=True)
class Metric:
    """One number of a card: its label, the value as shown (with its unit) and what it means (may be empty)."""

    label: str
    value: str
    meaning: str = ""


def card(metrics: Iterable[Metric], *, title: str = "", lead: str = "", extra: str = "", compact: bool = False) -> str:
    """A card: an optional title and lead sentence, the metrics as a grid of tiles, then ``extra`` HTML; a
    ``compact`` card shows its values in body-size type (settings rather than measurements)."""
    tiles = "".join(
        '<div class="fusion-metric">'
        f'<dt>{_text(metric.label)}</dt><dd class="fusion-value">{_text(metric.value)}</dd>'
        + (f'<dd class="fusion-meaning">{_text(metric.meaning)}</dd>' if metric.meaning else "")
        + "</div>"
        for metric in metrics
    )
    parts = [
        f'<p class="fusion-card-title">{_text(title)}</p>' if title else "",
        f'<p class="fusion-card-lead">{_text(lead)}</p>' if lead else "",
        f'<dl class="fusion-metrics">{tiles}</dl>' if tiles else "",
        extra,
    ]
    classes = "fusion-card fusion-card-compact" if compact else "fusion-card"
    return f'<div class="{classes}">{"".join(parts)}</div>'


def _text(text: str) -> str:
    return html.escape(str(text), quote=True)


# ----------------------------------------------------------------------------------------------- numbers
def count(value: float) -> str:
    """A whole number with thousands separated: 8,731."""
    return f"{round(value):,}"


def number(value: float, digits: int = 3) -> str:
    """A measurement to ``digits`` significant digits, without an exponent for everyday sizes."""
    if not math.isfinite(value):
        return str(value)
    if value and (abs(value) >= 10**digits or abs(value) < 10**-3):
        return f"{value:,.0f}" if abs(value) >= 10**digits else f"{value:.2e}"
    return f"{value:.{digits}g}"


def percent(fraction: float) -> str:
    """A share (0-1) as a percentage: 6.45 %."""
    return f"{100 * fraction:.3g} %"


# ------------------------------------------------------------------------------------- classical features
#: How each number of an operation reads: key -> (label, unit, what it means). Units: "count", "number",
#: "share" (0-1, shown in percent), "percent", "px", "deg", "bits", "text".
FEATURE_NUMBERS: dict[str, tuple[str, str, str]] = {
    "thresholds": ("Thresholds", "text", "Set by hand, or derived from the picture's median brightness."),
    "low_threshold": ("Low threshold", "number", "Gradients weaker than this are never edges."),
    "high_threshold": ("High threshold", "number", "Gradients stronger than this are always edges."),
    "edge_pixels": ("Edge pixels", "count", "Pixels marked as edges."),
    "edge_density": ("Edge density", "share", "Share of the picture on edges: busy pictures score high."),
    "max_gradient": ("Strongest gradient", "number", "The sharpest change of brightness."),
    "mean_gradient": ("Mean gradient", "number", "Average change of brightness: texture and detail."),
    "laplacian_variance": ("Focus (Laplacian variance)", "number", "Higher is sharper; blur lowers it."),
    "mean_intensity": ("Mean brightness", "number", "0 is black, 255 white."),
    "std_intensity": ("Contrast (std. dev.)", "number", "Spread of brightness around the mean."),
    "width": ("Width", "px", ""),
    "height": ("Height", "px", ""),
    "original_width": ("Original width", "px", ""),
    "original_height": ("Original height", "px", ""),
    "scale_factor": ("Scale", "number", "New size over old size."),
    "kernel_size": ("Kernel size", "px", "Width of the filter window."),
    "sigma": ("Sigma", "px", "Spread of the Gaussian: more is blurrier."),
    "diameter": ("Diameter", "px", "Neighbourhood the filter averages."),
    "mean_abs_change": ("Mean change", "number", "How much the filter changed a pixel, on average (0-255)."),
    "lightness_std_before": ("Contrast before", "number", "Spread of lightness (LAB L) before."),
    "lightness_std_after": ("Contrast after", "number", "Spread of lightness (LAB L) after."),
    "black_point": ("Black point", "number", "What black becomes."),
    "white_point": ("White point", "number", "What white becomes."),
    "amount": ("Amount", "number", "How strongly edges are sharpened."),
    "radius": ("Radius", "px", "Size of the detail that is sharpened."),
    "threshold": ("Threshold", "number", "Brightness that splits foreground from background."),
    "foreground_fraction": ("Foreground", "share", "Share of pixels above the threshold."),
    "kernel": ("Kernel", "kernel", "Shape of the structuring element."),
    "iterations": ("Iterations", "count", "How many times the operation was applied."),
    "contours": ("Contours kept", "count", "Outlines at least as large as the minimum area."),
    "contours_found": ("Contours found", "count", "All outlines, small ones included."),
    "contour_area_min": ("Smallest area", "px2", ""),
    "contour_area_median": ("Median area", "px2", ""),
    "contour_area_max": ("Largest area", "px2", ""),
    "contour_area_total": ("Total area", "px2", "Area inside the kept outlines."),
    "components": ("Regions kept", "count", "Connected regions at least as large as the minimum area."),
    "components_found": ("Regions found", "count", "All connected regions, small ones included."),
    "component_area_min": ("Smallest area", "px2", ""),
    "component_area_median": ("Median area", "px2", ""),
    "component_area_max": ("Largest area", "px2", ""),
    "component_area_total": ("Total area", "px2", "Area of the kept regions."),
    "keypoints": ("Keypoints", "count", "Distinctive points found (corners, blobs)."),
    "mean_size": ("Mean size", "px", "Average diameter of the keypoints' neighbourhoods."),
    "corners": ("Corners", "count", "Corner points found."),
    "second_image": ("Second image", "text", ""),
    "detector": ("Detector", "text", ""),
    "keypoints_first": ("Keypoints (first)", "count", "Found in the first image."),
    "keypoints_second": ("Keypoints (second)", "count", "Found in the second image."),
    "good_matches": ("Good matches", "count", "Pairs that pass the ratio test."),
    "inliers": ("Inliers", "count", "Matches consistent with one perspective warp (RANSAC)."),
    "inlier_ratio": ("Inlier ratio", "share", "Share of good matches that agree: near 100 % is a clean match."),
    "homography": ("Homography", "text", "The perspective warp between the images."),
    "corner_error_px": ("Corner error", "px", "How far the estimated warp moves the corners from the true one."),
    "descriptor_length": ("Descriptor length", "count", "Numbers in the HOG feature vector."),
    "cells": ("Cells", "text", "Columns x rows of cells."),
    "histogram_bins": ("Histogram bins", "count", "Distinct texture codes counted."),
    "entropy_bits": ("Texture entropy", "bits", "Variety of local patterns: higher is busier."),
    "dominant_orientation_deg": ("Dominant orientation", "deg", "Direction of the strongest texture."),
    "max_mean_energy": ("Strongest response", "number", "Mean Gabor energy at that orientation."),
    "k": ("Colours", "count", "Clusters k-means looked for."),
    "sampled_pixels": ("Pixels sampled", "count", ""),
}
CHANNEL_MEANS = re.compile(r"mean_(red|green|blue|hue|saturation|value)")
PALETTE = re.compile(r"colour_(\d+)(_percent)?")
UNITS = {"px": " px", "px2": " px²", "deg": "°", "bits": " bits", "percent": " %"}


def feature_card(stats: Mapping[str, Any]) -> str:
    """The card of a classical operation's numbers: each with its unit and meaning; dominant colours as swatches."""
    metrics = [_feature_metric(key, value) for key, value in stats.items() if not PALETTE.fullmatch(key)]
    return card(metrics, extra=palette_html(stats))


def _feature_metric(key: str, value: Any) -> Metric:
    channel = CHANNEL_MEANS.fullmatch(key)
    if channel:
        return Metric(localized(Message("Mean {channel}", channel=channel[1])), number(value), "")
    label, unit, meaning = FEATURE_NUMBERS.get(key, (key.replace("_", " ").capitalize(), "number", ""))
    return Metric(localized(label), _shown(value, unit), localized(meaning) if meaning else "")


def _shown(value: Any, unit: str) -> str:
    kernel = re.fullmatch(r"(\d+x\d+) (\w+)", str(value)) if unit == "kernel" else None
    if kernel:  # "5x5 ellipse": the size, then the shape as the shape choices name it
        return f"{kernel[1]} {localized(kernel[2])}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return localized(value if isinstance(value, str) else str(value))  # a Message keeps its template
    if unit == "share":
        return percent(value)
    if unit == "count":
        return count(value)
    return number(value) + UNITS.get(unit, "")


def palette_html(stats: Mapping[str, Any]) -> str:
    """Dominant colours as swatches with their shares (``colour_1``, ``colour_1_percent``, ...), if any."""
    swatches = []
    for rank in range(1, 100):
        code = stats.get(f"colour_{rank}")
        if not isinstance(code, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", code):
            break
        share = stats.get(f"colour_{rank}_percent")
        shown = f"{code} · {share:.1f} %" if isinstance(share, int | float) else code
        swatches.append(
            f'<li><span class="fusion-swatch" style="background:{code}" aria-hidden="true"></span>{_text(shown)}</li>'
        )
    return f'<ul class="fusion-palette">{"".join(swatches)}</ul>' if swatches else ""


# ------------------------------------------------------------------------------------------ report card
def report_card(report: Mapping[str, Any] | None) -> str:
    """The report card of an image (``fusion.flows.ReportCard.to_dict()``) without its zero-shot scores and
    histograms, which the panel shows as a label list and a chart."""
    if not report:
        return ""
    metrics = [_clip_metric(report.get("clip_score"))]
    metrics += [
        Metric(
            localized("Sharpness"),
            number(float(report["sharpness"])),
            localized("Variance of the Laplacian: higher is crisper; below about 100 looks blurred."),
        ),
        Metric(
            localized("Edge density"),
            percent(float(report["edge_density"])),
            localized("Share of pixels on Canny edges: busy pictures score high."),
        ),
    ]
    metrics += _fidelity_metrics(report.get("fidelity"))
    caption = str(report.get("caption") or "")
    return card(
        metrics,
        title=localized("Report card"),
        lead=localized(Message("BLIP sees: “{caption}”", caption=caption)) if caption else "",
        extra=_mean_colour(report.get("colour_means") or {}),
    )


def _clip_metric(score: Any) -> Metric:
    label = localized("Prompt match (CLIPScore)")
    if score is None:
        return Metric(label, "–", localized("No prompt was given, so there is nothing to match."))
    return Metric(
        label,
        f"{float(score):.1f} / 100",
        localized("100 × CLIP cosine of picture and prompt; with real CLIP about 30 or more is a good match."),
    )


def _fidelity_metrics(fidelity: Mapping[str, Any] | None) -> list[Metric]:
    if not fidelity:
        return []
    edges = fidelity.get("edges") or {}
    metrics = [
        Metric(
            localized("Edges kept (F1)"),
            f"{float(edges.get('f1', 0.0)):.2f}",
            localized(
                Message(
                    "How well the result's edges follow the control map (IoU {iou}): 1 is the same edges.",
                    iou=f"{float(edges.get('iou', 0.0)):.2f}",
                )
            ),
        )
    ]
    keypoints = fidelity.get("keypoints")
    if keypoints:
        metrics.append(
            Metric(
                localized("Keypoint agreement"),
                percent(float(keypoints["inlier_ratio"])),
                localized(
                    Message(
                        "{inliers} of {matches} ORB matches with the source fit one perspective warp.",
                        inliers=keypoints["inliers"],
                        matches=keypoints["matches"],
                    )
                ),
            )
        )
    distance = fidelity.get("histogram_distance")
    if distance is not None:
        metrics.append(
            Metric(
                localized("Colour distance"),
                f"{float(distance):.2f}",
                localized("Between the colour histograms of source and result: 0 same colours, 1 none shared."),
            )
        )
    return metrics


def _mean_colour(means: Mapping[str, Any]) -> str:
    try:
        red, green, blue = (round(float(means[f"mean_{name}"])) for name in ("red", "green", "blue"))
    except (KeyError, TypeError, ValueError):
        return ""
    code = f"#{red:02x}{green:02x}{blue:02x}"
    label = localized(
        Message("Mean colour {code} (R {red} · G {green} · B {blue})", code=code, red=red, green=green, blue=blue)
    )
    return (
        f'<p class="fusion-mean-colour"><span class="fusion-swatch" style="background:{code}" aria-hidden="true">'
        f"</span>{_text(label)}</p>"
    )


# --------------------------------------------------------------------------------------------- run card
def run_card(card_data: Mapping[str, Any] | None) -> str:
    """What a Fusion result was made with, at a glance: model, seed, steps, size, the edge map or the mode; the
    versions in one line. The whole card (every setting) is in the PNG and the raw data."""
    if not card_data:
        return ""
    settings = card_data.get("settings") or {}
    generation = settings.get("generation") or {}
    metrics = []
    if generation:
        metrics += [
            Metric(localized("Model"), str(generation.get("model", ""))),
            Metric(localized("Seed"), str(generation.get("seed", ""))),
            Metric(localized("Steps"), str(generation.get("steps", ""))),
            Metric(localized("Guidance"), str(generation.get("guidance", ""))),
            Metric(localized("Size"), f"{generation.get('width', '?')} × {generation.get('height', '?')} px"),
            Metric(localized("Scheduler"), localized(str(generation.get("scheduler", "")))),
        ]
    edges = settings.get("edges")
    if edges:
        thresholds = ""
        if "canny_low" in edges:
            thresholds = f" {edges['canny_low']}/{edges['canny_high']}"
        metrics.append(Metric(localized("Edge map"), localized(str(edges.get("operation", ""))) + thresholds))
    reimagined = settings.get("reimagine")
    if reimagined:
        metrics.append(Metric(localized("Mode"), str(reimagined.get("mode", ""))))
    versions = " · ".join(f"{name} {version}" for name, version in (card_data.get("versions") or {}).items())
    footer = f'<p class="fusion-card-foot">{_text(versions)}</p>' if versions else ""
    return card(metrics, title=localized("Run card (also in the PNG)"), extra=footer, compact=True)


# ------------------------------------------------------------------------------------------- similarity
def similarity_card(similarity: Mapping[str, Any] | None) -> str:
    """The round trip of re-imagine: how close the new picture and its caption came back."""
    if not similarity:
        return ""
    metrics = [
        Metric(
            localized("Picture similarity"),
            f"{float(similarity['image_image']):.2f}",
            localized("CLIP cosine of the source and the new picture: 1 is the same picture."),
        ),
        Metric(
            localized("Prompt vs new caption"),
            f"{float(similarity['prompt_vs_new_caption']):.2f}",
            localized("CLIP cosine of the prompt and what BLIP sees in the new picture."),
        ),
    ]
    caption = str(similarity.get("new_caption") or "")
    lead = localized(Message("BLIP sees in the new picture: “{caption}”", caption=caption)) if caption else ""
    return card(metrics, title=localized("Round trip"), lead=lead)
