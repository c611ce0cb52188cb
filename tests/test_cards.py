# ruff: noqa: RUF001  (the cards show typographic multiplication signs)
"""Cards and charts, the readable side of every result: the numbers they show are the numbers the API returns,
every text in them is escaped and has its Chinese, and a chart holds exactly the data it was given."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_i18n import CHINESE, UNTRANSLATED

from fusion import features
from fusion.charts import PlotData
from fusion.ui import cards, charts
from fusion.ui.features import GROUPS
from fusion.ui.i18n import translate

ROOT = Path(__file__).resolve().parents[1]
PHOTO = np.asarray(Image.open(ROOT / "assets" / "chelsea.png").convert("RGB"))
NAME_LIKE = re.compile(r"^#[0-9a-f]{6}$|^[\d .x%-]*$|^[A-Z0-9+-]+$")  # colours, sizes, names such as ORB or HSV


@pytest.fixture(scope="module")
def results() -> dict[str, features.FeatureResult]:
    return {name: features.run_operation(PHOTO, name) for name in features.OPERATIONS}


def _values(html: str) -> list[str]:
    return re.findall(r'<dd class="fusion-value">(.*?)</dd>', html)


def test_a_feature_card_shows_every_number_with_its_unit(results) -> None:
    canny = results["Canny edges"]
    html = cards.feature_card(canny.stats)
    assert _values(html) == [
        "manual",
        str(canny.stats["low_threshold"]),
        str(canny.stats["high_threshold"]),
        f"{canny.stats['edge_pixels']:,}",
        f"{100 * canny.stats['edge_density']:.3g} %",
    ]
    assert "Gradients weaker than this are never edges." in html


def test_the_dominant_colours_card_shows_swatches_with_their_shares(results) -> None:
    stats = results["Dominant colours"].stats
    html = cards.feature_card(stats)
    swatches = re.findall(r'background:(#[0-9a-f]{6})" aria-hidden="true"></span>(.*?)</li>', html)
    assert [code for code, _text in swatches] == [stats[f"colour_{rank}"] for rank in range(1, stats["k"] + 1)]
    assert swatches[0][1] == f"{stats['colour_1']} · {stats['colour_1_percent']:.1f} %"


def test_cards_escape_what_they_show() -> None:
    html = cards.report_card(
        {"caption": "<img src=x onerror=alert(1)>", "clip_score": None, "sharpness": 1.0, "edge_density": 0.1}
    )
    assert "<img" not in html and "&lt;img src=x" in html


def test_a_report_card_reads_its_numbers() -> None:
    report = {
        "caption": "a cat",
        "zero_shot": {"cat": 0.9},
        "clip_score": 31.25,
        "sharpness": 1234.5,
        "edge_density": 0.0645,
        "colour_means": {"mean_red": 255.0, "mean_green": 128.0, "mean_blue": 0.0},
        "fidelity": {
            "edges": {"iou": 0.5, "precision": 0.6, "recall": 0.7, "f1": 0.66},
            "keypoints": {"matches": 40, "inliers": 30, "inlier_ratio": 0.75},
            "histogram_distance": 0.2,
        },
    }
    html = cards.report_card(report)
    assert _values(html) == ["31.2 / 100", "1,234", "6.45 %", "0.66", "75 %", "0.20"]
    assert "#ff8000" in html and "BLIP sees: “a cat”" in html
    assert "30 of 40 ORB matches" in html


def test_run_and_round_trip_cards() -> None:
    card = {
        "settings": {
            "edges": {"operation": "Canny edges", "canny_low": 40, "canny_high": 90},
            "generation": {"model": "sd15", "seed": 7, "steps": 2, "guidance": 7, "width": 64, "height": 48,
                           "scheduler": "DPM++ 2M"},
        },
        "versions": {"diffusers": "0.42.1"},
    }
    html = cards.run_card(card)
    assert _values(html) == ["sd15", "7", "2", "7", "64 × 48 px", "DPM++ 2M", "Canny edges 40/90"]
    assert "diffusers 0.42.1" in html
    similarity = cards.similarity_card({"image_image": 0.8123, "prompt_vs_new_caption": 0.5, "new_caption": "x"})
    assert _values(similarity) == ["0.81", "0.50"]
    assert cards.run_card(None) == cards.similarity_card(None) == cards.report_card(None) == ""


# ---------------------------------------------------------------------------------------------------- charts
def test_a_line_chart_holds_every_point_of_every_series() -> None:
    x = np.arange(5) * 2.0
    data = PlotData("line", "t", "x", "y", {"red": x**2, "blue": x}, x=x, colors={"red": "#ff0000", "blue": "#00f"})
    table, colours, order = charts.frame(data)
    assert list(table.columns) == [charts.X, charts.Y, charts.SERIES] and len(table) == 10
    np.testing.assert_array_equal(table[table[charts.SERIES] == "red"][charts.Y], x**2)
    assert pd.api.types.is_numeric_dtype(table[charts.X])
    assert colours == {"red": "#ff0000", "blue": "#00f"} and order is None


def test_bars_stand_on_categories_in_their_order_with_their_own_colours() -> None:
    hexes = ("#c81e1e", "#14a028", "#fafafa")
    data = PlotData("bar", "t", "c", "%", {"share": np.array([50.0, 30.0, 20.0])}, np.array(hexes), None, hexes)
    _table, colours, order = charts.frame(data)
    assert order == list(hexes)
    assert sorted(colours.values()) == sorted(hexes)
    numeric = PlotData("bar", "t", "x", "y", {"n": np.array([1, 4, 2])}, x=np.array([0.25, 1.5, 12.0]))
    _table, _colours, order = charts.frame(numeric)
    assert order == ["0.25", "1.5", "12"], "numbers become labels, so bars keep their width and order"


def test_a_chart_update_shows_its_kind_and_hides_the_other(results) -> None:
    plot = results["Colour histograms"].plot
    line = charts.chart_update(plot, "line")
    assert line["visible"] is True and line["title"] == "RGB histograms" and len(line["value"]) == 3 * plot.points
    assert charts.chart_update(plot, "bar") == charts.hidden()
    assert charts.chart_update(None) == charts.hidden()


# ------------------------------------------------------------------------------------------------- Chinese
def test_every_card_and_chart_text_has_its_chinese(results) -> None:
    texts = {label for label, _unit, _meaning in cards.FEATURE_NUMBERS.values()}
    texts |= {meaning for _label, _unit, meaning in cards.FEATURE_NUMBERS.values() if meaning}
    texts |= {op.description for op in features.OPERATIONS.values()} | set(GROUPS)
    for result in results.values():
        texts |= {value for value in result.stats.values() if isinstance(value, str)}  # Messages stay Messages
        if result.plot is not None:
            texts |= {result.plot.title, result.plot.x_label, result.plot.y_label, *result.plot.series}
            if result.plot.categorical:
                texts |= {str(value) for value in result.plot.x}
    untranslated = sorted(
        text
        for text in texts
        if translate(text, CHINESE) == text and text not in UNTRANSLATED and not NAME_LIKE.match(text)
    )
    # A kernel ("5x5 ellipse") is shown as its size and its shape, which the shape choices translate.
    assert untranslated == ["5x5 ellipse"]
    assert translate("ellipse", CHINESE) != "ellipse"


def test_a_charts_own_category_names_are_translated_and_data_is_not(results, monkeypatch: pytest.MonkeyPatch) -> None:
    from fusion.ui import i18n

    monkeypatch.setattr(i18n, "current_language", lambda: CHINESE)
    funnel = results["Feature matching"].plot
    order = charts.frame(funnel)[2]
    assert order == [translate(name, CHINESE) for name in funnel.x] and "良好匹配" in order
    # A user's labels are data: "red" stays "red" although the catalogue translates the word.
    scores = PlotData("bar", "t", "label", "score", {"score": np.array([0.7, 0.3])}, x=np.array(["red", "cat"]))
    assert charts.frame(scores)[2] == ["red", "cat"] and translate("red", CHINESE) != "red"
