"""Charts as Gradio's native, interactive plots: :class:`fusion.charts.PlotData` -> ``gr.LinePlot``/``gr.BarPlot``.

A panel places an empty, hidden chart with :func:`line_chart` or :func:`bar_chart` and fills it with
:func:`chart_update`, which turns the data into the long-form table Gradio plots (one row per point: ``x``,
``y`` and the ``series`` it belongs to) and sets the titles in the request's language. Hovering shows the values;
no picture is rendered on the server.
"""

from __future__ import annotations

from typing import Any, Literal

import gradio as gr
import numpy as np
import pandas as pd

from fusion.charts import PlotData
from fusion.ui.i18n import localized

X, Y, SERIES = "x", "y", "series"
#: The theme's accent (Soft: indigo), for charts of one series.
ACCENT = "#6366f1"
HEIGHT = 260


def _chart(kind: Literal["line", "bar"], label: Any, elem_id: str | None, height: int) -> gr.LinePlot | gr.BarPlot:
    plot = gr.LinePlot if kind == "line" else gr.BarPlot
    return plot(
        value=None,
        x=X,
        y=Y,
        color=SERIES,
        label=label,
        show_label=False,
        elem_id=elem_id,
        height=height,
        visible=False,
        buttons=["export"],
    )


def line_chart(label: Any, *, elem_id: str | None = None, height: int = HEIGHT) -> gr.LinePlot:
    """An empty, hidden line chart for :func:`chart_update`."""
    return _chart("line", label, elem_id, height)  # type: ignore[return-value]


def bar_chart(label: Any, *, elem_id: str | None = None, height: int = HEIGHT) -> gr.BarPlot:
    """An empty, hidden bar chart for :func:`chart_update`."""
    return _chart("bar", label, elem_id, height)  # type: ignore[return-value]


#: Browser-side: empty and hide a chart (when a new run starts, its chart no longer shows the last one).
HIDE_JS = "() => ({__type__: 'update', value: null, visible: false})"


def hidden() -> dict[str, Any]:
    """The update that empties and hides a chart."""
    return gr.update(value=None, visible=False)


def chart_update(data: PlotData | None, kind: Literal["line", "bar"] | None = None) -> dict[str, Any]:
    """Show ``data`` in a chart of ``kind`` (by default its own kind); hide the chart when there is no data or
    the data is of the other kind (a panel with one chart of each shows the right one)."""
    if data is None or (kind is not None and data.kind != kind):
        return hidden()
    table, colours, order = frame(data)
    several = len(data.series) > 1
    values = table[Y].to_numpy(dtype=float)
    return gr.update(
        value=table,
        visible=True,
        title=localized(data.title),
        x_title=localized(data.x_label),
        y_title=localized(data.y_label),
        color_title=" ",
        color_map=colours,
        colors_in_legend=None if several else [],
        sort=order,
        x_label_angle=-45 if order is not None and len(order) > 8 else 0,
        y_lim=[min(0.0, float(values.min(initial=0.0))), None] if data.kind == "bar" else None,
    )


def frame(data: PlotData) -> tuple[pd.DataFrame, dict[str, str], list[str] | None]:
    """The long-form table of ``data``, the colour of each value of its ``series`` column, and for bar charts the
    order of the bars (their labels: bars stand on categories, numbers become labels)."""
    x = np.arange(data.points) if data.x is None else data.x
    order = None
    if data.kind == "bar":
        if not data.categorical:
            labels = [_number_label(value) for value in x]
        else:
            labels = [localized(str(value)) if data.named_categories else str(value) for value in x]
        x, order = np.array(labels, dtype=object), list(dict.fromkeys(labels))
    columns: dict[str, list[Any]] = {X: [], Y: [], SERIES: []}
    colours: dict[str, str] = {}
    for name, values in data.series.items():
        if data.bar_colors is not None:  # one colour per bar: the colour is the bar's series
            names = [localized(name) + " " + colour for colour in data.bar_colors]
            colours |= dict(zip(names, data.bar_colors, strict=True))
        else:
            names = [localized(name)] * len(values)
            colours[names[0] if names else name] = (data.colors or {}).get(name, ACCENT)
        columns[X] += list(x)
        columns[Y] += [float(value) for value in values]
        columns[SERIES] += names
    table = pd.DataFrame(columns)
    if data.kind == "line" and not data.categorical:
        table[X] = table[X].astype(float)
    return table, colours, order


def _number_label(value: Any) -> str:
    """A number as a short axis label (three significant digits)."""
    return f"{float(value):.3g}"
