"""Shared types and helpers for the classical feature operations.

Everything here is deliberately cheap: the operations are benchmarked against the bare OpenCV /
scikit-image calls, so helpers avoid copies and dtype conversions that the library call does not need.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from fusion.charts import PlotData
from fusion.messages import Message

ParamValue = int | float | bool | str
Stats = dict[str, int | float | str]

DISPLAY_QUANTILE = 0.995
DISPLAY_SAMPLES = 16_384


@dataclass(frozen=True)
class ParamSpec:
    """One user-facing parameter; `name` is unique across all operations."""

    name: str
    label: str
    kind: Literal["int", "float", "bool", "choice"]
    default: ParamValue
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    info: str = ""


@dataclass(frozen=True)
class FeatureResult:
    """What every operation returns: a displayable uint8 image, JSON-safe stats, an optional plot and notices
    about the picture (what it leaves out), for the user."""

    image: np.ndarray
    stats: Stats
    plot: PlotData | None = None
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    """A UI/API entry: `function(image, **params)` takes the public parameter names of `params`."""

    name: str
    group: str
    description: str
    params: tuple[ParamSpec, ...]
    function: Callable[..., FeatureResult]
    needs_second_image: bool = False


@dataclass(frozen=True, eq=False)
class Binding:
    """Calls `implementation` after renaming public parameter names to its keyword options.

    Compared and hashed by identity, so an `Operation` holding it stays hashable.
    """

    implementation: Callable[..., FeatureResult]
    keywords: Mapping[str, str]

    def __call__(self, image: np.ndarray, *args: object, **params: ParamValue) -> FeatureResult:
        return self.implementation(image, *args, **{self.keywords[name]: value for name, value in params.items()})


def operation(
    name: str,
    group: str,
    description: str,
    implementation: Callable[..., FeatureResult],
    *arguments: tuple[str, ParamSpec],
    needs_second_image: bool = False,
) -> Operation:
    """An entry of the dropdown and the API: its specs map, in order, onto keyword options of `implementation`
    (public names are unique across all operations, ``canny_low``; the function's own are short, ``low``)."""
    keywords = {spec.name: keyword for keyword, spec in arguments}
    specs = tuple(spec for _, spec in arguments)
    return Operation(name, group, description, specs, Binding(implementation, keywords), needs_second_image)


def int_param(
    name: str, label: str, default: int, minimum: int, maximum: int, step: int = 1, info: str = ""
) -> ParamSpec:
    return ParamSpec(name, label, "int", default, minimum, maximum, step, info=info)


def float_param(
    name: str, label: str, default: float, minimum: float, maximum: float, step: float, info: str = ""
) -> ParamSpec:
    return ParamSpec(name, label, "float", default, minimum, maximum, step, info=info)


def bool_param(name: str, label: str, default: bool, info: str = "") -> ParamSpec:
    return ParamSpec(name, label, "bool", default, info=info)


def choice_param(name: str, label: str, default: str, choices: tuple[str, ...], info: str = "") -> ParamSpec:
    return ParamSpec(name, label, "choice", default, choices=choices, info=info)


def check_image(image: object, what: str = "image") -> None:
    """Reject anything but a non-empty RGB uint8 (H, W, 3) array with a message saying how to fix it."""
    if not isinstance(image, np.ndarray):
        raise ValueError(
            Message(
                "The {what} must be a numpy array, got {kind}; upload an image first.",
                what=what,
                kind=type(image).__name__,
            )
        )
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(
            Message(
                "The {what} must be a non-empty RGB uint8 array of shape (H, W, 3), got dtype {dtype} and shape "
                "{shape}; convert it with the image loader before running an operation.",
                what=what,
                dtype=str(image.dtype),
                shape=image.shape,
            )
        )


def image_operation(function: Callable[..., FeatureResult]) -> Callable[..., FeatureResult]:
    """Validate the input image(s) and turn OpenCV failures into ValueErrors a user can act on."""

    @functools.wraps(function)
    def wrapper(image: np.ndarray, *args: object, **kwargs: object) -> FeatureResult:
        check_image(image)
        second_image = args[0] if args else kwargs.get("second_image")
        if second_image is not None:
            check_image(second_image, "second image")
        try:
            return function(image, *args, **kwargs)
        except cv2.error as error:
            height, width = image.shape[:2]
            raise ValueError(
                Message(
                    "{name} failed on this {width}x{height} image: OpenCV reported '{error}' in {where}. Try a larger "
                    "image or smaller parameters.",
                    name=function.__name__,
                    width=width,
                    height=height,
                    error=error.err,
                    where=error.func or "a filter",
                )
            ) from error

    return wrapper


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luma (ITU-R BT.601) grayscale, the input OpenCV's detectors expect."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def peak_magnitude(values: np.ndarray) -> float:
    """Largest absolute value of a single-channel response map (no temporary array)."""
    low, high, _, _ = cv2.minMaxLoc(values)
    return max(-low, high)


def display_peak(values: np.ndarray) -> float:
    """The level shown as white: the 99.5th percentile of |values| (the maximum if that is 0).

    Scaling by the maximum lets a few extreme responses turn everything else black. The percentile is
    read from a regular subsample of about DISPLAY_SAMPLES values, so it costs a few hundredths of a ms.
    """
    stride = max(1, math.ceil(math.sqrt(values.size / DISPLAY_SAMPLES)))
    sample = np.abs(values[::stride, ::stride]).ravel()
    rank = int(DISPLAY_QUANTILE * (sample.size - 1))
    peak = float(np.partition(sample, rank)[rank])
    return peak if peak > 0 else peak_magnitude(values)


def to_uint8(values: np.ndarray) -> np.ndarray:
    """|values| scaled to 0..255 for display (`display_peak` maps to 255), in one saturating pass.

    Signed responses (derivatives, filter outputs) are shown by strength, which is what one reads in
    them; all-zero maps stay black. Values must be finite.
    """
    peak = display_peak(values)
    return cv2.convertScaleAbs(values, alpha=255.0 / peak if peak > 0 else 0.0)


def histogram(image: np.ndarray, channel: int = 0, bins: int = 256, upper: float = 256.0) -> np.ndarray:
    """Counts of one channel over [0, upper) as float32 (cv2.calcHist: far cheaper than np.histogram)."""
    return cv2.calcHist([image], [channel], None, [bins], [0.0, upper]).ravel()


def histogram_mean_std(counts: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the values 0..len-1 counted by a histogram (exact for uint8)."""
    levels = np.arange(counts.size, dtype=np.float64)
    total = max(float(counts.sum()), 1.0)
    mean = float(levels @ counts) / total
    variance = float(((levels - mean) ** 2) @ counts) / total
    return round(mean, 3), round(math.sqrt(variance), 3)


def bin_centres(bins: int, upper: float = 256.0) -> np.ndarray:
    """Centres of `bins` equal bins spanning [0, upper), the x axis of `histogram`."""
    return (np.arange(bins, dtype=np.float64) + 0.5) * (upper / bins)


def intensity_plot(title: str, series: dict[str, np.ndarray]) -> PlotData:
    """A line plot of 256-bin intensity histograms that share the 0..255 axis."""
    return PlotData("line", title, "intensity", "pixels", series, x=np.arange(256))


def read_only(image: np.ndarray) -> np.ndarray:
    """A zero-copy view of the input that cannot be written, for operations that display it unchanged."""
    view = image.view()
    view.flags.writeable = False
    return view


def line_thickness(image: np.ndarray) -> int:
    """Stroke width that stays visible once a large image is scaled down for display."""
    return max(1, round(max(image.shape[:2]) / 500))
