"""Hardening as the browser sees it: send-to buttons copy in the page and the copy is usable, a send-to with
nothing to send says so, markup in a message is not run, and the security headers break nothing (the ``page``
fixture fails a test on any console error, a Content-Security-Policy violation included)."""

from __future__ import annotations

import pytest
from browser_support import ASSETS, open_tab, upload
from playwright.sync_api import expect

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

PHOTO = ASSETS / "chelsea.png"
TOAST = "[data-testid=toast-body]"


def test_send_to_copies_in_the_page_and_the_copy_can_be_classified(page) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    upload(page, "features-image", PHOTO)
    sent_before = len(requests)
    page.locator("#send-features-classify-this").click()
    expect(page.locator("#classification-image img").first).to_be_visible(timeout=10_000)
    copies = [url for url in requests[sent_before:] if "/gradio_api/run/" in url or "/queue/join" in url]
    assert len(copies) <= 1, f"the copy itself makes no server call (one check that something arrived): {copies}"
    page.locator("#classification-labels textarea").fill("cat, dog")
    page.locator("#classification-run").click()
    expect(page.locator("#classification-scores [data-testid=label-output-value]")).to_be_visible(timeout=60_000)


def test_a_send_to_with_nothing_to_send_says_so(page) -> None:
    page.locator("#send-features-caption-this").click()
    expect(page.locator(TOAST).first).to_contain_text("no image to send", timeout=10_000)


def test_markup_quoted_in_an_error_is_not_run(page) -> None:
    attack = '<img src=x onerror="window.fusionPwned = 1">'
    open_tab(page, "classification")
    upload(page, "classification-image", PHOTO)
    page.locator("#classification-labels textarea").fill("cat, dog")
    page.locator("#classification-prompts").get_by_role("button").first.click()
    page.locator("#classification-templates textarea").fill(attack)
    page.locator("#classification-run").click()
    toast = page.locator(TOAST).first
    expect(toast).to_contain_text("must contain exactly one", timeout=30_000)
    expect(toast).to_contain_text("<img src=x", timeout=5_000)  # shown as the text the user typed
    assert page.evaluate("window.fusionPwned") is None
    assert page.locator(f"{TOAST} img").count() == 0
