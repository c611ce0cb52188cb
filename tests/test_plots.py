"""fusion.plots: PlotData -> matplotlib Figure, without pyplot."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from skimage import data

from fusion import plots
from fusion.charts import PlotData
from fusion.features import OPERATIONS, run_operation


def test_line_plot_draws_one_line_per_series_with_colours_and_legend() -> None:
    x = np.arange(10)
    series = {"red": x**2, "green": x + 1.0, "blue": np.zeros(10)}
    colours = {"red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4"}
    figure = plots.plot(PlotData("line", "Histograms", "value", "count", series, x=x, colors=colours))
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    assert [line.get_label() for line in axes.lines] == ["red", "green", "blue"]
    assert [to_hex(line.get_color()) for line in axes.lines] == list(colours.values())
    np.testing.assert_array_equal(axes.lines[0].get_ydata(), x**2)
    assert axes.get_legend() is not None
    assert (axes.get_title(), axes.get_xlabel(), axes.get_ylabel()) == ("Histograms", "value", "count")


def test_single_line_without_x_uses_indices_and_no_legend() -> None:
    (axes,) = plots.plot(PlotData("line", "t", "x", "y", {"only": np.array([3.0, 1.0, 2.0])})).axes
    assert len(axes.lines) == 1 and axes.get_legend() is None
    np.testing.assert_array_equal(axes.lines[0].get_xdata(), [0, 1, 2])


def test_palette_bars_take_one_colour_each_and_category_labels() -> None:
    hexes = ("#c81e1e", "#14a028", "#fafafa")
    palette = PlotData(
        "bar",
        "Dominant colours",
        "colour",
        "%",
        {"share": np.array([50.0, 30.0, 20.0])},
        np.array(hexes),
        None,
        hexes,
    )
    (axes,) = plots.plot(palette).axes
    assert len(axes.patches) == 3
    assert [to_hex(patch.get_facecolor()) for patch in axes.patches] == list(hexes)
    assert [patch.get_height() for patch in axes.patches] == [50.0, 30.0, 20.0]
    assert [label.get_text() for label in axes.get_xticklabels()] == list(hexes)


def test_numeric_bars_sit_at_their_x_values() -> None:
    centres = np.array([0.5, 1.5, 2.5, 3.5])
    (axes,) = plots.plot(PlotData("bar", "t", "x", "y", {"n": np.array([1, 4, 2, 0])}, x=centres)).axes
    assert len(axes.patches) == 4
    np.testing.assert_allclose([patch.get_x() + patch.get_width() / 2 for patch in axes.patches], centres)
    np.testing.assert_allclose([patch.get_width() for patch in axes.patches], 0.8)


def test_several_bar_series_are_grouped() -> None:
    series = {"train": np.array([0.9, 0.8]), "test": np.array([0.7, 0.6]), "val": np.array([0.5, 0.4])}
    (axes,) = plots.plot(PlotData("bar", "t", "head", "accuracy", series, x=np.array(["a", "b"]))).axes
    assert len(axes.patches) == 6
    assert len({round(patch.get_x(), 6) for patch in axes.patches}) == 6
    assert axes.get_legend() is not None


def test_figure_to_array_is_rgb_of_the_figure_size() -> None:
    figure = plots.plot(PlotData("line", "t", "x", "y", {"a": np.ones(3)}), width=4, height=3, dpi=50)
    pixels = plots.figure_to_array(figure)
    assert pixels.shape == (150, 200, 3) and pixels.dtype == np.uint8
    assert pixels.min() < 128 < pixels.max()


def test_every_operation_plot_renders_all_its_points() -> None:
    image = data.chelsea()[::2, ::2].copy()
    rendered = 0
    for name in OPERATIONS:
        result = run_operation(image, name)
        if result.plot is None:
            continue
        (axes,) = plots.plot(result.plot).axes
        points = len(next(iter(result.plot.series.values())))
        if result.plot.kind == "line":
            assert len(axes.lines) == len(result.plot.series), name
        else:
            assert len(axes.patches) == points * len(result.plot.series), name
        rendered += 1
    assert rendered >= 10


def test_rendering_does_not_import_pyplot() -> None:
    code = (
        "import sys, numpy as np; from fusion import plots; from fusion.charts import PlotData; "
        "plots.figure_to_array(plots.plot(PlotData('bar', 't', 'x', 'y', {'a': np.ones(2)}))); "
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
