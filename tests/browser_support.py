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
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
#: axe-core, installed by scripts/install-test-deps.sh (npm, pinned) into an ignored folder.
AXE = ROOT / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
PHOTO = ROOT / "assets" / "chelsea.png"
WAIT_MS = 120_000
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


def reveal(page, selector: str, accordion: str) -> None:
    """Open the accordion (by elem_id selector) that holds ``selector`` when it is closed."""
    if not page.locator(selector).first.is_visible():
        page.locator(f"{accordion} button.label-wrap").first.click()
        page.locator(selector).first.wait_for(state="visible")


def page_height(page) -> int:
    """What a visitor scrolls through: the document's height, once the layout has settled."""
    page.wait_for_timeout(400)
    return int(page.evaluate("document.documentElement.scrollHeight"))


def overflow_x(page) -> int:
    """How many pixels the page is wider than the viewport (0: no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def run_axe(page) -> list[dict]:
    """axe-core's violations on the page as it is now: rule id, impact, and each node's selector and HTML."""
    assert AXE.is_file(), "axe-core is missing: run scripts/install-test-deps.sh"
    page.evaluate(AXE.read_text())
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html.slice(0, 200)})),
        }))"""
    )


# ------------------------------------------------------------------------------- each tab's main action
def _features(page) -> None:
    upload(page, "features-image", PHOTO)
    page.locator("#features-run").click()
    page.locator("#features-result img").first.wait_for(timeout=WAIT_MS)
    page.locator("#features-card .fusion-card").wait_for(timeout=WAIT_MS)


def _captioning(page) -> None:
    upload(page, "captioning-image", PHOTO)
    page.locator("#captioning-run").click()
    page.wait_for_function(
        "() => document.querySelector('#captioning-caption textarea')?.value", timeout=WAIT_MS, polling=250
    )


def _generation(page) -> None:
    page.locator("#generation-prompt textarea").fill("a red house by a lake, golden hour")
    generation_settings(page, steps=2, side=256)
    page.locator("#generation-run").click()
    page.locator("#generation-gallery img").first.wait_for(timeout=WAIT_MS)
    page.locator("#generation-card .fusion-card").wait_for(timeout=WAIT_MS)
    for group in ("#generation-model-settings", "#generation-size-settings"):  # closed again, as they start
        page.locator(f"{group} button.label-wrap").first.click()


def generation_settings(page, *, steps: int, side: int) -> None:
    """Steps, width and height of the Text-to-image tab, each in its collapsed group (opened when closed)."""
    reveal(page, "#generation-steps input", "#generation-model-settings")
    fill_settled(page, "#generation-steps input", str(steps))
    reveal(page, "#generation-width input", "#generation-size-settings")
    fill_settled(page, "#generation-width input", str(side))
    fill_settled(page, "#generation-height input", str(side))


def fill_settled(page, selector: str, text: str, *, tries: int = 5) -> None:
    """Fill an input and make sure the value stays: a section that has just opened may still redraw its inputs on
    a busy machine, and a value typed into the old one is lost (a 64x512 image from a 512x512 request, once)."""
    field = page.locator(selector)
    for _ in range(tries):
        field.fill(text)
        page.wait_for_timeout(200)
        if field.input_value() == text:
            return
    raise AssertionError(f"{selector} does not keep {text!r}")


def _classification(page) -> None:
    upload(page, "classification-image", PHOTO)
    page.locator("#classification-labels textarea").fill("cat, dog, car")
    page.locator("#classification-run").click()
    page.locator("#classification-scores [data-testid=label-output-value]").wait_for(timeout=WAIT_MS)


def _fusion(page) -> None:
    upload(page, "fusion-image", PHOTO)
    reveal(page, "#fusion-steps input", "#fusion-more-settings")
    page.locator("#fusion-steps input").fill("2")
    page.locator("#fusion-edges-run").click()
    page.locator("#fusion-result img").first.wait_for(timeout=WAIT_MS)
    page.locator("#fusion-run-card .fusion-card").wait_for(timeout=WAIT_MS)


def _ask(page) -> None:
    page.locator("#ask-message textarea").fill("Find the edges of this photo")
    upload(page, "ask-image", PHOTO)
    page.locator("#ask-send").click()
    # The reply is done when the message box is emptied again (the event's follow-up step).
    page.wait_for_function(
        "() => document.querySelector('#ask-message textarea')?.value === ''", timeout=WAIT_MS, polling=250
    )
    page.wait_for_timeout(500)


def _system(page) -> None:
    page.locator("#system-refresh").click()
    page.wait_for_timeout(500)


#: What a visitor does first on each tab (app.py's tab ids), with tiny models; each returns once the result shows.
MAIN_ACTIONS = {
    "features": _features,
    "captioning": _captioning,
    "generation": _generation,
    "classification": _classification,
    "fusion": _fusion,
    "ask": _ask,
    "system": _system,
}
