"""Render `PlotData` as matplotlib Figures.

Figures are built from `matplotlib.figure.Figure` with their own Agg canvas and never touch pyplot's
global state, so rendering is safe from Gradio's worker threads and nothing leaks between requests.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fusion.charts import PlotData

BAR_FILL = 0.8
BAR_EDGE = "0.35"


def plot(data: PlotData, *, width: float = 6.4, height: float = 3.6, dpi: int = 100) -> Figure:
    """A Figure with one Axes drawing `data`; a legend appears when there is more than one series."""
    figure = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if data.kind == "line":
        _draw_lines(axes, data)
    else:
        _draw_bars(axes, data)
    axes.set_title(data.title)
    axes.set_xlabel(data.x_label)
    axes.set_ylabel(data.y_label)
    axes.grid(alpha=0.3)
    if len(data.series) > 1:
        axes.legend()
    return figure


def figure_to_array(figure: Figure) -> np.ndarray:
    """The rendered figure as an RGB uint8 array (for API responses or image outputs)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _colour(plot: PlotData, name: str) -> str | None:
    return None if plot.colors is None else plot.colors.get(name)


def _length(plot: PlotData) -> int:
    return len(next(iter(plot.series.values())))


def _draw_lines(axes: Axes, plot: PlotData) -> None:
    x = np.arange(_length(plot)) if plot.x is None else plot.x
    for name, values in plot.series.items():
        axes.plot(x, values, label=name, color=_colour(plot, name))


def _draw_bars(axes: Axes, plot: PlotData) -> None:
    """Bars at numeric x (e.g. histogram bin centres) or at categories; several series are grouped."""
    categorical = plot.x is None or plot.x.dtype.kind in "USO"
    positions = np.arange(_length(plot), dtype=np.float64) if categorical else plot.x.astype(np.float64)
    spacing = float(np.min(np.diff(positions))) if positions.size > 1 else 1.0
    width = BAR_FILL * spacing / len(plot.series)
    for index, (name, values) in enumerate(plot.series.items()):
        offset = (index - (len(plot.series) - 1) / 2.0) * width
        colour = list(plot.bar_colors) if plot.bar_colors else _colour(plot, name)
        axes.bar(
            positions + offset,
            values,
            width=width,
            label=name,
            color=colour,
            edgecolor=BAR_EDGE,
            linewidth=0.5,
        )
    if categorical and plot.x is not None:
        axes.set_xticks(positions, [str(label) for label in plot.x], rotation=45 if positions.size > 6 else 0)
