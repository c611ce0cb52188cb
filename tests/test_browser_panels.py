"""Every panel in a real browser (Debian's Chromium through Playwright) against `python app.py` with tiny models:
open the tab, upload an example, run it, see the output; a long generation shows its progress and Stop ends it.

Selectors are elem_ids and tab ids, never label text (labels are translated). The `page` fixture fails a test on
any browser console error and keeps a screenshot of its end in the artefacts folder; steps worth seeing are saved
there too.
"""

from __future__ import annotations

import re

import pytest
from browser_support import ASSETS, generation_settings, natural_size, open_tab, reveal, save_screenshot, upload
from gradio_client import Client, handle_file
from PIL import Image
from playwright.sync_api import expect

from fusion.generation import MODELS
from fusion.registry import REGISTRY
from fusion.ui.system import COLUMNS

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

PHOTO = ASSETS / "chelsea.png"
#: A stable element of each tab (app.py's tab ids), visible once the tab is selected.
TAB_CONTENT = {
    "features": "#features-run",
    "captioning": "#captioning-run",
    "generation": "#generation-run",
    "classification": "#classification-run",
    "fusion": "#fusion-edges-run",
    "system": "#system-table",
}
#: A generation long enough to watch and stop on this CPU (about 0.2 s a step at 512 px with the tiny UNet).
LONG_STEPS = MODELS["sd15"].max_steps
LONG_SIDE = 512
SHORT_SIDE = 64


def test_every_tab_opens_on_its_own_panel(page, request: pytest.FixtureRequest) -> None:
    for tab_id, content in TAB_CONTENT.items():
        open_tab(page, tab_id)
        expect(page.locator(content)).to_be_visible()
        save_screenshot(page, request, tab_id, full_page=False)


def test_captioning_shows_the_caption_the_api_returns(page, server: str) -> None:
    open_tab(page, "captioning")
    upload(page, "captioning-image", PHOTO)
    page.locator("#captioning-run").click()
    caption = page.locator("#captioning-caption textarea")
    expect(caption).not_to_have_value("", timeout=60_000)
    api_caption = Client(server, verbose=False).predict(handle_file(str(PHOTO)), api_name="/caption")
    assert caption.input_value() == api_caption


def test_classification_shows_labels_with_confidences(page) -> None:
    labels = ["cat", "dog", "car"]
    open_tab(page, "classification")
    upload(page, "classification-image", PHOTO)
    page.locator("#classification-labels textarea").fill(", ".join(labels))
    page.locator("#classification-run").click()
    top = page.locator("#classification-scores [data-testid=label-output-value]")
    expect(top).to_be_visible(timeout=60_000)
    rows = page.locator("#classification-scores .confidence-set")
    shown = rows.locator("dt").all_inner_texts()
    percentages = [int(text.rstrip("%")) for text in rows.locator("dd").all_inner_texts()]
    assert sorted(shown) == sorted(labels)
    assert top.inner_text() == shown[0]
    assert percentages == sorted(percentages, reverse=True)
    assert abs(sum(percentages) - 100) <= len(labels)  # softmax scores, each rounded to a whole percent


def test_fusion_edges_to_image_shows_result_control_map_and_report(page) -> None:
    open_tab(page, "fusion")
    upload(page, "fusion-image", PHOTO)
    reveal(page, "#fusion-steps input", "#fusion-more-settings")  # seed and steps are collapsed at first
    page.locator("#fusion-steps input").fill("2")
    page.locator("#fusion-edges-run").click()
    result = page.locator("#fusion-result img").first
    control = page.locator("#fusion-control img").first
    expect(result).to_be_visible(timeout=60_000)
    expect(control).to_be_visible()
    assert natural_size(control) == Image.open(PHOTO).size  # the edge map of the upload itself
    assert min(natural_size(result)) > 0
    page.locator("#fusion-raw button.label-wrap").click()  # the report's JSON sits under "Raw data"
    expect(page.locator("#fusion-report")).to_contain_text('"zero_shot"')


def test_system_table_lists_every_model(page) -> None:
    open_tab(page, "system")
    expect(page.locator("#system-summary")).to_contain_text("tiny")
    for key in REGISTRY:
        expect(_system_cell(page, key, "model")).to_have_text(REGISTRY[key].title)


def test_system_lists_derived_objects_and_says_how_to_build_packages(page, server: str) -> None:
    Client(server, verbose=False).predict(prompt="a red house", steps=1, api_name="/generate")
    open_tab(page, "system")
    page.locator("#system-refresh").click()
    expect(page.locator("#system-summary")).to_contain_text("python -m fusion compile")
    expect(page.locator("#system-derived")).not_to_be_visible()  # collapsed, with the compiled packages
    page.locator("#system-more button.label-wrap").click()
    row = page.locator("#system-derived [role=row]", has_text="txt2img")
    expect(row.first).to_contain_text("pipeline")
    expect(row.first).to_contain_text("sd15")
    expect(page.locator("#system-packages")).to_be_visible()


def test_a_long_generation_shows_progress_and_stop_ends_it(page, request: pytest.FixtureRequest) -> None:
    open_tab(page, "generation")
    page.locator("#generation-prompt textarea").fill("a red house by a lake")
    generation_settings(page, steps=LONG_STEPS, side=LONG_SIDE)
    page.locator("#generation-run").click()

    # The progress bar keeps counting while previews stream in (Gradio hides it whenever an output arrives).
    first = _step_shown_after(page, 0)
    assert _step_shown_after(page, first) > first
    expect(page.locator("#generation-preview img")).to_be_visible()
    save_screenshot(page, request, "progress", full_page=False)
    in_use = _system_cell(page, "sd15", "in use")
    open_tab(page, "system")
    expect(in_use).to_have_text("1")
    open_tab(page, "generation")
    page.locator("#generation-stop").click()

    # Stop ends the run after the step in progress, and the run answers like any other: the unfinished image,
    # its notice, and no error.
    expect(page.locator("#generation-notices")).to_contain_text("Stopped after", timeout=15_000)
    notice = page.locator("#generation-notices").inner_text()
    done, total = map(int, re.search(r"Stopped after (\d+) of (\d+) steps", notice).groups())
    assert 0 < done < total == LONG_STEPS
    image = page.locator("#generation-gallery img").first
    expect(image).to_be_visible()
    assert natural_size(image) == (LONG_SIDE, LONG_SIDE)
    expect(page.locator("#generation-gallery [data-testid=status-tracker] .error")).to_have_count(0)
    save_screenshot(page, request, "stopped", full_page=False)
    # The server let go of the model: the rest of the run would hold Stable Diffusion for about 20 s more.
    open_tab(page, "system")
    expect(in_use).to_have_text("0", timeout=10_000)

    open_tab(page, "generation")
    generation_settings(page, steps=2, side=SHORT_SIDE)
    stopped_src = image.get_attribute("src")
    page.locator("#generation-run").click()
    image = page.locator("#generation-gallery img").first
    expect(image).not_to_have_attribute("src", stopped_src, timeout=60_000)
    expect(page.locator("#generation-notices")).not_to_contain_text("Stopped after")
    assert "/gradio_api/file=" in image.get_attribute("src")
    assert natural_size(image) == (SHORT_SIDE, SHORT_SIDE)


def _step_shown_after(page, step: int) -> int:
    """Wait until the generation's progress bar shows a step after `step` of the long run; return it."""
    shown = page.wait_for_function(
        r"""([total, after]) => {
            const text = document.querySelector("#generation-gallery .progress-text")?.innerText ?? "";
            const [, step, of] = (text.match(/(\d+)\/(\d+) steps/) ?? []).map(Number);
            return of === total && step > after ? step : null;
        }""",
        arg=[LONG_STEPS, step],
        timeout=60_000,
    )
    return shown.json_value()


def _system_cell(page, key: str, column: str):
    """A cell of the System table, in the row of one model (by its key) and a column (by its header)."""
    key_cell = page.locator(_system_column("key"), has_text=re.compile(rf"^\s*{re.escape(key)}\s*$"))
    return page.locator("#system-table [role=row]").filter(has=key_cell).locator(_system_column(column))


def _system_column(column: str) -> str:
    return f"[role=gridcell][data-col='{COLUMNS.index(column)}']"
