"""A chart as plain data: what an operation or a task measured, in a shape any renderer can draw.

Task modules (the classical operations, the classifier's evaluation) return :class:`PlotData` and never touch a
plotting library; the UI turns it into Gradio's native charts (``fusion/ui/charts.py``), and an API client gets
the numbers. No Gradio, no matplotlib here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from fusion.messages import Message


@dataclass(frozen=True)
class PlotData:
    """A line or bar chart of one or more equal-length series.

    `x` holds the shared x values (numbers), or category labels (strings) for a bar chart; it defaults to
    0..n-1. `colors` maps a series name to a CSS colour (``#rrggbb``); `bar_colors` colours each bar of a
    single-series bar chart individually (e.g. a colour palette). `named_categories` says the category labels
    are the app's own names (steps, feature families, heads), shown in the visitor's language; otherwise they are
    data (a user's labels, colour codes) and shown as they are.
    """

    kind: Literal["line", "bar"]
    title: str
    x_label: str
    y_label: str
    series: dict[str, np.ndarray]
    x: np.ndarray | None = None
    colors: dict[str, str] | None = None
    bar_colors: tuple[str, ...] | None = None
    named_categories: bool = False

    def __post_init__(self) -> None:
        lengths = {len(values) for values in self.series.values()}
        if self.kind not in ("line", "bar") or len(lengths) != 1:
            raise ValueError(
                Message("PlotData needs kind 'line' or 'bar' and equal-length series, got {kind!r}", kind=self.kind)
            )
        if self.x is not None and len(self.x) not in lengths:
            raise ValueError("PlotData.x must have one value per series point")
        if self.bar_colors is not None and (len(self.series) != 1 or len(self.bar_colors) not in lengths):
            raise ValueError("PlotData.bar_colors needs exactly one series and one colour per bar")

    @property
    def points(self) -> int:
        """How many points each series has."""
        return len(next(iter(self.series.values())))

    @property
    def categorical(self) -> bool:
        """Whether x holds category labels (strings) rather than numbers."""
        return self.x is not None and self.x.dtype.kind in "USO"
