"""What every browser test shares: `python app.py` in a subprocess, Debian's Chromium, pages that record console
errors, and a folder of screenshots kept as test artefacts.

A test module gets the fixtures (`server`, `browser`, `page`) by naming this module as a plugin:

    pytest_plugins = ["browser_support"]

Test modules import this module's helpers before pytest registers it as a plugin, too late to rewrite its asserts:
PYTEST_DONT_REWRITE says so (every assert here carries its own message).

`page` fails its test when the browser logged a console error or an uncaught page error, and saves a screenshot of
the page as it was at the end of the test into the artefacts folder (`FUSION_TEST_ARTIFACTS`, default
`test-artifacts/` at the repository root, ignored by git), next to the server's log.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
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
ASSETS = ROOT / "assets"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("FUSION_TEST_ARTIFACTS") or ROOT / "test-artifacts")
VIEWPORT = {"width": 1400, "height": 1000}
README_SCREENSHOT = ROOT / "docs" / "screenshot.png"
#: The README shows the page down to the features panel's Run button and the result's numbers.
README_CLIP = {"x": 0, "y": 0, "width": 1400, "height": 788}
#: Console messages proven harmless, matched against the message text. Keep each one explained.
HARMLESS_CONSOLE_ERRORS: tuple[re.Pattern[str], ...] = ()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(tmp_path_factory: pytest.TempPathFactory, *, log_path: Path, **extra_env: str) -> Iterator[str]:
    """`python app.py` with tiny models on a free port, its output in `log_path`; yields its URL once it answers."""
    port = free_port()
    env = {
        **os.environ,
        "FUSION_MODELS": "tiny",
        "FUSION_TINY_DIR": str(tmp_path_factory.mktemp("browser-tiny")),
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("browser-gradio")),
        "GRADIO_EXAMPLES_CACHE": str(tmp_path_factory.mktemp("browser-examples")),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        **extra_env,
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield _wait_until_serving(f"http://127.0.0.1:{port}/", process, log_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_serving(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=5):
                return url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not start: see {log_path}") from None
            time.sleep(0.5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """One app server per test module (tiny models); its log is kept with the module's screenshots."""
    with running_app(tmp_path_factory, log_path=ARTIFACTS / request.path.stem / "app.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless (Playwright's own browsers are not installed)."""
    assert CHROMIUM, "Chromium is missing: run scripts/install-test-deps.sh"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


class ConsoleErrors(list):
    """Console errors and uncaught page errors of one page, as text, minus the proven-harmless ones."""

    def watch(self, page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self._add(f"pageerror: {error}"))

    def _on_console(self, message) -> None:
        if message.type == "error":
            self._add(f"console: {message.text}")

    def _add(self, text: str) -> None:
        if not any(pattern.search(text) for pattern in HARMLESS_CONSOLE_ERRORS):
            self.append(text)


@contextlib.contextmanager
def open_page(
    browser, url: str, *, locale: str | None = None, ready: str = "#features-run", viewport: dict | None = None
) -> Iterator:
    """A fresh browser context and page on the app, loaded until `ready` shows.

    `page.console_errors` records console errors and uncaught page errors; leaving the block without an exception
    fails if there are any.
    """
    context = browser.new_context(viewport=viewport or VIEWPORT, locale=locale)
    try:
        page = context.new_page()
        page.console_errors = ConsoleErrors()  # type: ignore[attr-defined]
        page.console_errors.watch(page)  # type: ignore[attr-defined]
        page.goto(url, wait_until="load")
        page.locator(ready).wait_for(timeout=60_000)
        yield page
        assert list(page.console_errors) == [], f"browser console errors: {list(page.console_errors)}"
    finally:
        context.close()


@pytest.fixture
def page(browser, server: str, request: pytest.FixtureRequest):
    """The app in a fresh page; after the test a screenshot is kept as an artefact, and console errors fail it."""
    with open_page(browser, server) as page:
        yield page
        save_screenshot(page, request, "end")


def artifact_path(request: pytest.FixtureRequest, step: str) -> Path:
    """Where a test's screenshot of one step goes: <artefacts>/<module>/<test>-<step>.png."""
    module = request.path.stem
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    folder = ARTIFACTS / module
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}-{step}.png"


def save_screenshot(page, request: pytest.FixtureRequest, step: str, *, full_page: bool = True) -> Path:
    """Keep a screenshot of the page as a test artefact (CI uploads the folder)."""
    path = artifact_path(request, step)
    page.screenshot(path=str(path), full_page=full_page)
    return path


def save_readme_screenshot(page) -> Path:
    """The README's picture: the top of the page, reduced to a 256-colour palette so the PNG stays small."""
    from PIL import Image

    picture = Image.open(io.BytesIO(page.screenshot(clip=README_CLIP))).convert("RGB")
    picture.quantize(colors=256).save(README_SCREENSHOT, optimize=True)
    return README_SCREENSHOT


def upload(page, elem_id: str, path: Path) -> None:
    """Upload a file into the gr.Image with this elem_id and wait for its preview."""
    page.locator(f"#{elem_id} input[type=file]").first.set_input_files(str(path))
    page.locator(f"#{elem_id} img").first.wait_for(timeout=30_000)


def open_tab(page, tab_id: str) -> None:
    """Select a top-level tab by its id (app.py's `gr.Tab(id=...)`), independent of the label's language.

    On a narrow screen Gradio shows the tabs that fit and puts the others in a "More tabs" menu, whose buttons
    carry no id: the tab is found there by its position among the page's tabs.
    """
    button = page.locator(f"button[role=tab][data-tab-id='{tab_id}']:visible")
    if button.count():
        button.first.click()
        return
    ids = page.evaluate("() => gradio_config.components.filter(c => c.type === 'tabitem').map(c => c.props.id)")
    name = page.locator(".tab-container.visually-hidden button").nth(ids.index(tab_id)).inner_text()
    page.locator(".overflow-menu button[aria-label]").first.click()
    page.locator(".overflow-dropdown button").filter(has_text=name).first.click()


def natural_size(image) -> tuple[int, int]:
    """The (width, height) of an <img> once the browser has decoded its src (which fails if it cannot)."""
    return tuple(image.evaluate("async img => { await img.decode(); return [img.naturalWidth, img.naturalHeight]; }"))
