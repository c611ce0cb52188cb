# ruff: noqa: RUF001  (the Chinese text is written with full-width punctuation, as Chinese is)
"""fusion.messages: English text that keeps its template and values, so that translation looks the template up."""

from __future__ import annotations

import copy
import pickle

from fusion.messages import Lines, Message
from fusion.ui.i18n import ENGLISH, translate

CHINESE = "zh-CN"


def test_a_message_reads_as_its_english_text_and_keeps_how_it_was_made() -> None:
    message = Message("The {what} file was not found: upload it again.", what="image")
    assert message == "The image file was not found: upload it again."
    assert isinstance(message, str) and str(ValueError(message)) == message
    assert message.template == "The {what} file was not found: upload it again."
    assert dict(message.values) == {"what": "image"}


def test_a_message_survives_pickling_and_copies_even_with_braces_in_its_values() -> None:
    message = Message("Unknown operation {name}; choose one of: {choices}.", name="'{}'", choices="a, b")
    for copied in (pickle.loads(pickle.dumps(message)), copy.deepcopy(message)):
        assert copied == message and copied.template == message.template and dict(copied.values) == message.values


def test_translation_uses_the_template_and_translates_values_that_are_catalogue_entries() -> None:
    message = Message("The {what} file was not found: upload it again.", what="second image")
    assert translate(message, CHINESE) == "找不到第二张图像文件：请重新上传。"
    assert translate(message, ENGLISH) == message
    nested = Lines([message, Message("The {what} file was not found: upload it again.", what="my-file.png")])
    assert translate(nested, CHINESE).splitlines() == [
        "找不到第二张图像文件：请重新上传。",
        "找不到my-file.png文件：请重新上传。",
    ]
