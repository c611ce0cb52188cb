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
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import (  # noqa: E402
    CHROMIUM,
    DESKTOP,
    MAIN_ACTIONS,
    PHONE,
    open_page,
    open_tab,
    overflow_x,
    page_height,
    running_app,
)

TABS = tuple(MAIN_ACTIONS)


def save(page, path: Path, *, full: bool) -> None:
    """A full-page screenshot, reduced to a 256-colour palette unless ``full`` (the README's pictures stay small)."""
    from PIL import Image

    data = page.screenshot(full_page=True)
    if full:
        path.write_bytes(data)
        return
    Image.open(io.BytesIO(data)).convert("RGB").quantize(colors=256).save(path, optimize=True)


def expanded_height(page) -> int:
    """The page height with every accordion of the tab opened (nested ones too): all there is to scroll through."""
    for _round in range(4):
        closed = page.locator("button.label-wrap:not(.open):visible")
        if not closed.count():
            break
        for index in reversed(range(closed.count())):
            closed.nth(index).click()
    return page_height(page)


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
                MAIN_ACTIONS[tab](page)
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
