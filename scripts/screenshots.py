"""Screenshots of every tab after its main action, at desktop (1400x900) and phone (390x844) width, and the page
heights, from `python app.py` with the tiny random-weight models in Debian's Chromium (Playwright).

    python scripts/screenshots.py                        # docs/screenshots/<tab>-desktop.png, <tab>-phone.png
    python scripts/screenshots.py --out /tmp/shots --full  # elsewhere, full-size PNGs

It prints (and writes to heights.json next to the pictures) each tab's page height before and after its main
action: `document.documentElement.scrollHeight` with that tab selected, which is what a visitor scrolls through.
Needs what `scripts/install-test-deps.sh` installs; no network.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import ASSETS, CHROMIUM, open_page, open_tab, running_app, upload  # noqa: E402

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
PHOTO = ASSETS / "chelsea.png"
#: The element that shows each tab's main result once its action finished.
TABS = ("features", "captioning", "generation", "classification", "fusion", "ask", "system")
WAIT_MS = 120_000


def _features(page) -> None:
    upload(page, "features-image", PHOTO)
    page.locator("#features-run").click()
    page.locator("#features-result img").first.wait_for(timeout=WAIT_MS)


def _captioning(page) -> None:
    upload(page, "captioning-image", PHOTO)
    page.locator("#captioning-run").click()
    page.wait_for_function(
        "() => document.querySelector('#captioning-caption textarea')?.value", timeout=WAIT_MS, polling=250
    )


def _generation(page) -> None:
    page.locator("#generation-prompt textarea").fill("a red house by a lake, golden hour")
    page.locator("#generation-steps input").fill("2")
    page.locator("#generation-width input").fill("256")
    page.locator("#generation-height input").fill("256")
    page.locator("#generation-run").click()
    page.locator("#generation-gallery img").first.wait_for(timeout=WAIT_MS)


def _classification(page) -> None:
    upload(page, "classification-image", PHOTO)
    page.locator("#classification-labels textarea").fill("cat, dog, car")
    page.locator("#classification-run").click()
    page.locator("#classification-scores [data-testid=label-output-value]").wait_for(timeout=WAIT_MS)


def _fusion(page) -> None:
    upload(page, "fusion-image", PHOTO)
    page.locator("#fusion-steps input").fill("2")
    page.locator("#fusion-edges-run").click()
    page.locator("#fusion-result img").first.wait_for(timeout=WAIT_MS)


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


ACTIONS: dict[str, Callable] = {
    "features": _features,
    "captioning": _captioning,
    "generation": _generation,
    "classification": _classification,
    "fusion": _fusion,
    "ask": _ask,
    "system": _system,
}


def page_height(page) -> int:
    page.wait_for_timeout(400)  # layout settles after a tab switch or an output
    return int(page.evaluate("document.documentElement.scrollHeight"))


def expanded_height(page) -> int:
    """The page height with every accordion of the tab opened (nested ones too): all there is to scroll through."""
    for _round in range(4):
        closed = page.locator("button.label-wrap:not(.open):visible")
        if not closed.count():
            break
        for index in reversed(range(closed.count())):
            closed.nth(index).click()
    return page_height(page)


def overflow_x(page) -> int:
    """How many pixels the page is wider than the viewport (0: no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def save(page, path: Path, *, full: bool) -> None:
    """A full-page screenshot, reduced to a 256-colour palette unless ``full`` (the README's pictures stay small)."""
    from PIL import Image

    data = page.screenshot(full_page=True)
    if full:
        path.write_bytes(data)
        return
    Image.open(io.BytesIO(data)).convert("RGB").quantize(colors=256).save(path, optimize=True)


class _Temp:
    """What `running_app` asks of pytest's TempPathFactory: fresh folders."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def mktemp(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=name, dir=self.root))


@contextlib.contextmanager
def serving(log: Path) -> Iterator[str]:
    with (
        tempfile.TemporaryDirectory(prefix="fusion-screenshots-") as root,
        running_app(_Temp(Path(root)), log_path=log) as url,  # type: ignore[arg-type]
    ):
        yield url


def shoot(browser, url: str, out: Path, tabs: tuple[str, ...], *, full: bool, locale: str) -> dict[str, dict]:
    heights: dict[str, dict] = {}
    for tab in tabs:
        record: dict[str, int] = {}
        for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            with open_page(browser, url, locale=locale, viewport=viewport) as page:
                open_tab(page, tab)
                record[f"{name}_default"] = page_height(page)
                record[f"{name}_overflow_x_default"] = overflow_x(page)
                ACTIONS[tab](page)
                page.evaluate("window.scrollTo(0, 0)")
                record[f"{name}_after"] = page_height(page)
                record[f"{name}_overflow_x_after"] = overflow_x(page)
                save(page, out / f"{tab}-{name}.png", full=full)
                if name == "desktop":
                    record["desktop_expanded"] = expanded_height(page)
        heights[tab] = record
        print(tab, record, flush=True)
    return heights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--tabs", default=",".join(TABS), help="comma-separated tab ids")
    parser.add_argument("--locale", default="en-US")
    parser.add_argument("--full", action="store_true", help="keep full-colour PNGs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    tabs = tuple(tab for tab in args.tabs.split(",") if tab)
    with serving(args.out / "app.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        heights = shoot(browser, url, args.out, tabs, full=args.full, locale=args.locale)
        browser.close()
    (args.out / "heights.json").write_text(json.dumps(heights, indent=1) + "\n")
    (args.out / "app.log").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
