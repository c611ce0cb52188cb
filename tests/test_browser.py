"""A real browser (Debian's Chromium, driven by Playwright) against `python app.py`, as a newcomer starts it.

It also writes the README's screenshot, docs/screenshot.png.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python app.py` in a subprocess with tiny models, polled until its API answers."""
    port = _free_port()
    env = os.environ | {
        "FUSION_MODELS": "tiny",
        "FUSION_TINY_DIR": str(tmp_path_factory.mktemp("browser-tiny")),
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("browser-gradio")),
        "GRADIO_EXAMPLES_CACHE": str(tmp_path_factory.mktemp("browser-examples")),
        "HF_HUB_OFFLINE": "1",
    }
    log = (tmp_path_factory.mktemp("browser-log") / "app.log").open("w")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"app.py did not start: see {log.name}") from None
            time.sleep(1)
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM, "Chromium is missing: run scripts/install-test-deps.sh"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture
def page(browser, server: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.goto(server, wait_until="load")
    page.locator("#features-run").wait_for(timeout=60_000)
    yield page
    context.close()


def _upload(page, path: Path) -> None:
    page.locator("#features-image input[type=file]").set_input_files(str(path))
    page.locator("#features-image img").first.wait_for(timeout=30_000)


def test_run_an_operation_and_see_the_result(page) -> None:
    _upload(page, ROOT / "assets" / "chelsea.png")
    page.locator("#features-run").click()
    result = page.locator("#features-result img").first
    result.wait_for(timeout=60_000)
    assert result.evaluate("img => img.naturalWidth") == 451
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ROOT / "docs" / "screenshot.png"), full_page=False)
    assert page.console_errors == []


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
    _upload(page, ROOT / "assets" / "coffee.png")
    page.locator("#features-run").click()
    page.locator("#features-result img").first.wait_for(timeout=60_000)


def test_an_operation_with_a_plot_shows_the_plot(page) -> None:
    _upload(page, ROOT / "assets" / "coffee.png")
    dropdown = page.locator("#features-operation input")
    dropdown.click()
    dropdown.fill("Colour histograms")
    page.get_by_role("option", name="Colour histograms").click()
    page.locator("#features-run").click()
    page.locator("#features-result img").first.wait_for(timeout=60_000)
    page.locator("#features-plot img").first.wait_for(timeout=60_000)
    assert page.console_errors == []


def test_a_cached_example_shows_its_result_at_once(page) -> None:
    page.get_by_text("Dominant colours", exact=True).first.click()
    page.locator("#features-result img").first.wait_for(timeout=30_000)
    page.locator("#features-plot img").first.wait_for(timeout=30_000)
    assert page.console_errors == []
