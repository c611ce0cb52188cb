# ruff: noqa: RUF001  (the Chinese text is written with full-width punctuation, as Chinese is)
"""Ask in the browser (issue 18): a multi-step request runs end to end as a visitor sees it (collapsible tool steps,
the pictures they made, a closing message), Stop ends a run, an empty message is refused visibly; and, with Ask
on, the Fusion tab's report card gets its summary in plain words.

The app runs with tiny random-weight models and ``FUSION_ASK_TOOL_CHOICE=required`` (as ``tests/test_ask_app.py``
does), so that the random Ask model calls tools until its last step and makes a plan.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_support import (
    ARTIFACTS,
    PHOTO,
    generation_settings,
    natural_size,
    open_page,
    open_tab,
    running_app,
    save_screenshot,
    upload,
)
from playwright.sync_api import expect

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

#: A request is at most 120 s (the loop's time budget), plus the queue and the first load of each model.
RUN_MS = 300_000
REQUEST = "Find the edges of this photo, then paint that edge map as a watercolour."
STEP_TITLE = "#ask-chat .thought-group [role=button]"
BOT = "#ask-chat [data-testid=bot]"
TOAST = "[data-testid=toast-body]"
#: How a run that was not stopped ends: an answer (random weights may write none, and the tab says so), or the
#: loop's own note when its time budget ran out first (on a slow machine the tiny model's turns take a while).
NOT_STOPPED = re.compile(r"^(?!Stopped, as asked).+", re.DOTALL)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """The app whose random Ask model must call tools until its last step (``browser_support``'s, otherwise)."""
    log_path = ARTIFACTS / request.path.stem / "app.log"
    with running_app(tmp_path_factory, log_path=log_path, FUSION_ASK_TOOL_CHOICE="required") as url:
        yield url


def _send(page, message: str, *, image: bool = True) -> None:
    open_tab(page, "ask")
    page.locator("#ask-message textarea").fill(message)
    if image:
        upload(page, "ask-image", PHOTO)
    page.locator("#ask-send").click()


def _finished(page) -> None:
    """The run is over when the message box is emptied again (the event's follow-up step)."""
    page.wait_for_function(
        "() => document.querySelector('#ask-message textarea')?.value === ''", timeout=RUN_MS, polling=250
    )


def test_a_multi_step_request_runs_end_to_end(page, request: pytest.FixtureRequest) -> None:
    _send(page, REQUEST)
    _finished(page)
    save_screenshot(page, request, "answered")
    steps = page.locator(STEP_TITLE)
    assert steps.count() >= 2, f"{steps.count()} tool step(s) shown"
    expect(steps.first).to_contain_text("Used tool: ")
    # Each step is collapsed until opened: then it shows what the tool was given and what came back.
    first = page.locator("#ask-chat .thought-group").first
    expect(first.get_by_text("Arguments:")).to_have_count(0)
    steps.first.click()
    expect(first.get_by_text("Arguments:")).to_be_visible()
    expect(first.get_by_text("Result:")).to_be_visible()
    # A picture a step made, inline in the assistant's messages (the attached one is the visitor's).
    pictures = page.locator(f"{BOT} img")
    expect(pictures.first).to_be_visible()
    width, height = natural_size(pictures.first)
    assert width > 0 and height > 0
    # The run ends with a message of the assistant's own, after the steps.
    final = page.locator(BOT).last
    expect(final.locator(".thought-group")).to_have_count(0)
    expect(final).to_have_text(NOT_STOPPED)


def test_stop_ends_a_run(page, request: pytest.FixtureRequest) -> None:
    _send(page, REQUEST)
    page.locator(STEP_TITLE).first.wait_for(timeout=RUN_MS)  # it is planning its next step now
    page.locator("#ask-stop").click()
    expect(page.locator(BOT).last).to_have_text(re.compile(r"^Stopped, as asked, after \d+ step"), timeout=60_000)
    _finished(page)
    save_screenshot(page, request, "stopped")
    assert page.locator(STEP_TITLE).count() < 6, "the run ended before its last step"
    expect(page.locator("#ask-send")).to_be_enabled()


def test_an_empty_message_is_refused_with_a_visible_message(page) -> None:
    _send(page, "   ", image=False)
    expect(page.locator(TOAST).filter(has_text="Type a request first")).to_be_visible(timeout=RUN_MS)
    expect(page.locator(STEP_TITLE)).to_have_count(0)


# ------------------------------------------------------------------- the Fusion tab's report card, in plain words
SUMMARY = "#fusion-report-summary"
SUMMARY_LABEL = {"en-US": "In plain words (written by the Ask assistant)", "zh-CN": "通俗解读（由 Ask 助手撰写）"}


def _summary_follows_the_card(page) -> None:
    card = page.locator("#fusion-report-card .fusion-card")
    expect(card).to_be_visible(timeout=RUN_MS)
    summary = page.locator(f"{SUMMARY} textarea")
    expect(summary).to_be_visible(timeout=RUN_MS)
    expect(summary).not_to_have_value("")
    assert summary.bounding_box()["y"] > card.bounding_box()["y"], "the summary goes under the report card"


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_report_card_gets_a_summary_in_the_visitors_language(
    browser, server: str, request: pytest.FixtureRequest, locale: str
) -> None:
    with open_page(browser, server, locale=locale) as page:
        open_tab(page, "fusion")
        expect(page.locator(SUMMARY)).to_be_hidden()
        upload(page, "fusion-image", PHOTO)
        page.locator("#fusion-report-run").click()
        _summary_follows_the_card(page)
        save_screenshot(page, request, "summary")
        label = page.locator(f"{SUMMARY} [data-testid=block-info]")
        expect(label).to_have_text(SUMMARY_LABEL[locale])
        text = page.locator(f"{SUMMARY} textarea").input_value()
        if locale == "zh-CN":  # the tab's own notices come in Chinese (what the model writes is its own)
            assert not text.startswith("No summary this time"), text
        # A new report empties it at once; its own summary follows it.
        page.locator("#fusion-report-run").click()
        expect(page.locator(SUMMARY)).to_be_hidden(timeout=2_000)
        _summary_follows_the_card(page)


def test_the_report_card_sent_from_text_to_image_gets_its_summary(page) -> None:
    open_tab(page, "generation")
    page.locator("#generation-prompt textarea").fill("a red house by a lake")
    generation_settings(page, steps=2, side=128)
    page.locator("#generation-run").click()
    page.locator("#generation-gallery img").first.wait_for(timeout=RUN_MS)
    page.locator("#send-generation-report-card").click()
    expect(page.locator("button[role=tab][data-tab-id='fusion']")).to_have_attribute("aria-selected", "true")
    _summary_follows_the_card(page)
