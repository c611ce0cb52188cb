"""The interface in a Chinese browser (Chromium with locale zh-CN, through Playwright) against `python app.py`:
tabs, buttons, labels and choices in Simplified Chinese, errors too; values still reach the server in English; an
English browser still sees English. The language is the browser's: no setting is touched.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_support import ASSETS, open_page, open_tab, save_screenshot, upload
from playwright.sync_api import expect

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

TABS = {
    "features": "经典特征",
    "captioning": "图像标题",
    "generation": "文生图",
    "classification": "分类",
    "fusion": "融合",
    "system": "系统",
}


@pytest.fixture
def chinese_page(browser, server: str, request: pytest.FixtureRequest) -> Iterator:
    with open_page(browser, server, locale="zh-CN") as page:
        yield page
        save_screenshot(page, request, "end")
        assert list(page.console_errors) == [], f"browser console errors: {list(page.console_errors)}"


def test_tabs_buttons_and_labels_are_chinese(chinese_page, request: pytest.FixtureRequest) -> None:
    page = chinese_page
    for tab_id, name in TABS.items():
        expect(page.locator(f"button[role=tab][data-tab-id='{tab_id}']:visible").first).to_have_text(name)
    expect(page.locator("#features-run")).to_have_text("运行")
    expect(page.locator("#features-image")).to_contain_text("图像")
    expect(page.locator("#features-operation input")).to_have_value("Canny 边缘")
    expect(page.locator("#features-operation")).to_contain_text("操作")
    page.locator("#features-parameters button.label-wrap").click()  # the parameters are collapsed at first
    expect(page.get_by_text("Canny 低阈值").first).to_be_visible()
    expect(page.get_by_text("Classical features")).to_have_count(0)
    open_tab(page, "generation")
    expect(page.locator("#generation-run")).to_have_text("生成")
    expect(page.locator("#generation-stop")).to_have_text("停止")
    expect(page.locator("#generation-prompt")).to_contain_text("提示词")
    save_screenshot(page, request, "generation", full_page=False)


def test_an_error_is_shown_in_chinese(chinese_page) -> None:
    chinese_page.locator("#features-run").click()
    expect(chinese_page.get_by_text("没有提供图像：请上传一张图片").first).to_be_visible(timeout=30_000)  # noqa: RUF001
    expect(chinese_page.get_by_text("No image was given")).to_have_count(0)


def test_a_chinese_choice_still_sends_the_english_value(chinese_page) -> None:
    page = chinese_page
    upload(page, "features-image", ASSETS / "chelsea.png")
    page.locator("#features-group input").click()  # the picker lists a group's operations
    page.get_by_role("option", name="关键点").click()
    page.locator("#features-operation input").click()
    page.get_by_role("option", name="ORB 关键点").click()
    expect(page.locator("#features-operation input")).to_have_value("ORB 关键点")
    page.locator("#features-run").click()
    expect(page.locator("#features-result img").first).to_be_visible(timeout=60_000)


def test_an_english_browser_still_sees_english(browser, server: str) -> None:
    with open_page(browser, server, locale="en-US") as page:
        expect(page.locator("button[role=tab][data-tab-id='features']:visible").first).to_have_text(
            "Classical features"
        )
        expect(page.locator("#features-run")).to_have_text("Run")
        page.locator("#features-run").click()
        expect(page.get_by_text("No image was given: upload a picture").first).to_be_visible(timeout=30_000)
        assert list(page.console_errors) == []
