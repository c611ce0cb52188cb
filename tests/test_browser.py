"""A real browser (Debian's Chromium, driven by Playwright) against `python app.py`, as a newcomer starts it.

The README's screenshots come from `scripts/screenshots.py` (every tab, desktop and phone).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import ASSETS, natural_size, upload

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser


def _upload(page, path: Path) -> None:
    upload(page, "features-image", path)


def test_run_an_operation_and_see_the_result(page) -> None:
    _upload(page, ASSETS / "chelsea.png")
    page.locator("#features-run").click()
    result = page.locator("#features-result img").first
    result.wait_for(timeout=60_000)
    assert natural_size(result) == (451, 300)


def test_a_corrupt_upload_shows_our_message(page, tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    page.locator("#features-image input[type=file]").set_input_files(str(corrupt))
    page.wait_for_timeout(1000)
    page.locator("#features-run").click()
    page.get_by_text("is not an image this app can read").first.wait_for(timeout=30_000)
    _upload_then_run_still_works(page)


def _upload_then_run_still_works(page) -> None:
    # Let the page's event stream close first (the upload's check and the run have answered): reloading under an
    # open one makes Gradio's client log the aborted connection as a console error.
    page.wait_for_timeout(2000)
    page.reload(wait_until="load")
    _upload(page, ASSETS / "coffee.png")
    page.locator("#features-run").click()
    page.locator("#features-result img").first.wait_for(timeout=60_000)


def test_an_operation_with_a_plot_shows_the_plot(page) -> None:
    _upload(page, ASSETS / "coffee.png")
    page.locator("#features-group input").click()  # the picker lists a group's operations
    page.get_by_role("option", name="Colour", exact=True).click()
    dropdown = page.locator("#features-operation input")
    dropdown.click()
    dropdown.fill("Colour histograms")
    page.get_by_role("option", name="Colour histograms").click()
    page.locator("#features-run").click()
    page.locator("#features-result img").first.wait_for(timeout=60_000)
    # A native chart (an SVG drawn in the page), no longer a picture of one.
    page.locator("#features-plot-line svg").first.wait_for(timeout=60_000)


def test_a_cached_example_shows_its_result_at_once(page) -> None:
    page.locator("#features-examples").get_by_text("Dominant colours", exact=False).first.click()
    page.locator("#features-result img").first.wait_for(timeout=30_000)
    page.locator("#features-plot-bar svg").first.wait_for(timeout=30_000)
