"""A real browser (Debian's Chromium, driven by Playwright) against `python app.py`, as a newcomer starts it.

It also writes the README's screenshot, docs/screenshot.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import ASSETS, natural_size, save_readme_screenshot, upload

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
    page.evaluate("window.scrollTo(0, 0)")
    save_readme_screenshot(page)


def test_a_corrupt_upload_shows_our_message(page, tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    page.locator("#features-image input[type=file]").set_input_files(str(corrupt))
    page.wait_for_timeout(1000)
    page.locator("#features-run").click()
    page.get_by_text("is not an image this app can read").first.wait_for(timeout=30_000)
    _upload_then_run_still_works(page)


def _upload_then_run_still_works(page) -> None:
    page.reload(wait_until="load")
    _upload(page, ASSETS / "coffee.png")
    page.locator("#features-run").click()
    page.locator("#features-result img").first.wait_for(timeout=60_000)


def test_an_operation_with_a_plot_shows_the_plot(page) -> None:
    _upload(page, ASSETS / "coffee.png")
    dropdown = page.locator("#features-operation input")
    dropdown.click()
    dropdown.fill("Colour histograms")
    page.get_by_role("option", name="Colour histograms").click()
    page.locator("#features-run").click()
    page.locator("#features-result img").first.wait_for(timeout=60_000)
    page.locator("#features-plot img").first.wait_for(timeout=60_000)


def test_a_cached_example_shows_its_result_at_once(page) -> None:
    page.get_by_text("Dominant colours", exact=True).first.click()
    page.locator("#features-result img").first.wait_for(timeout=30_000)
    page.locator("#features-plot img").first.wait_for(timeout=30_000)
