"""The interface in every language that has a catalogue: English, plus one file per language in ``locales/``.

**Catalogues are data.** ``fusion/ui/locales/<tag>.json`` maps each English text to its translation, ``<tag>``
being the language as browsers and Gradio name it (``zh-CN``, ``fr``, ``pt-BR``). English needs no file: its texts
are the ids. A new language is one new file with every entry of ``zh-CN.json`` translated; ``tests/test_i18n.py``
checks that every file has every text the code uses, with the same placeholders, and nothing else.

**Messages are looked up by id, never recognised from their English.** Task modules raise and return
:class:`~fusion.messages.Message` s (English text that keeps its template and values): the template is the id, and
the translation is formatted with the same values. A value is translated too when it is itself a message or an
entry of the catalogue (the ``what`` of "No {what} was given" reads "图像" for ``image``), unless the template
quotes it with ``!r`` (``{name!r}``: data, such as a file name or what the user typed); anything else (numbers, file
names, the user's labels, the names an API accepts) is kept as it is. :class:`~fusion.messages.Lines` are
translated line by line. Plain text is looked up whole. Text without an entry stays English.

The text takes one of two roads, because Gradio 6.31 translates only the page it is built with:

- **Built into the page** (labels, info, placeholders, buttons, Markdown, tab and accordion titles, choice labels):
  panels wrap the English in :func:`t`, which gives a ``gr.I18n`` key; ``launch(i18n=I18N)`` sends every language
  and the browser shows the one Gradio picked. Keys are short hashes, because Gradio's frontend cannot read a key
  holding ``}`` and its own translations already use plain words such as ``label`` as namespaces.
- **Made on the server while an event runs** (``gr.Error``/``gr.Info`` messages, notices, summaries, gallery
  captions, progress text, table headers, hints updated at run time): Gradio shows these exactly as sent, so they
  are translated with :func:`localized` for the language of the request being served (:func:`request_language`).
  ``fusion.ui.common`` does it for every error and notice, so task modules stay gradio-free and English.

API clients that send no ``Accept-Language`` (``gradio_client``) get English, and the values sent through the API
(choice values, parameter names) are English in every language. What stays English everywhere: names (models,
schedulers, algorithms, formats, units) and examples of model input, which have no entry; a ``gr.Error`` toast's
title, "Error" (6.31's frontend reads a ``_title`` field that its client never sets); example tables
(``gr.Examples``), whose headers and choice names the browser does not translate (:func:`plain_example_table`;
``gr.Dataframe`` headers are not translated either, so tables get theirs from the server, :func:`localized_table`);
a chart's category labels when they are data (a user's labels, colour codes; ``PlotData.named_categories``).
Choosing a language in Gradio's settings menu changes the page but not the server's messages.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import string
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.i18n import I18nData

from fusion.messages import Lines, Message
from fusion.ui.requests import current_request, request_header

ENGLISH = "en"
#: One catalogue per language: ``<tag>.json``, English text -> translation.
LOCALES = Path(__file__).with_name("locales")

_MARKER = "__i18n__"


@functools.cache
def _quoted(template: str) -> frozenset[str]:
    """The fields a template shows with ``!r``: data (a file name, what the user typed), never translated."""
    return frozenset(name for _literal, name, _spec, conversion in string.Formatter().parse(template) if conversion)


class Catalogues:
    """Every language's catalogue and the ``gr.I18n`` it feeds: one object, so a test can load its own folder."""

    def __init__(self, translations: Mapping[str, Mapping[str, str]]) -> None:
        self.translations = {language: dict(entries) for language, entries in translations.items()}
        #: What ``launch(i18n=...)`` takes. :meth:`t` fills it while the page is built; every language holds every key.
        self.i18n = gr.I18n(**{ENGLISH: {}, **{language: {} for language in self.translations}})

    @classmethod
    def load(cls, folder: Path) -> Catalogues:
        """The catalogues of ``folder``: every ``<tag>.json`` in it is a language."""
        return cls({path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))})

    @property
    def languages(self) -> tuple[str, ...]:
        return (ENGLISH, *self.translations)

    def t(self, text: str) -> str | I18nData:
        """Text the page is built with: a key the browser shows in its language, or ``text`` when no language
        translates it (names, numbers, examples of model input)."""
        shown = {language: self.translate(text, language) for language in self.translations}
        english = str(text)
        if all(translation == english for translation in shown.values()):
            return english
        key = "fusion_" + hashlib.blake2s(english.encode(), digest_size=8).hexdigest()
        self.i18n.translations[ENGLISH][key] = english
        for language, translation in shown.items():
            self.i18n.translations[language][key] = str(translation)
        return self.i18n(key)

    def translate(self, text: str, language: str) -> str:
        """``text`` (a :class:`~fusion.messages.Message`, :class:`~fusion.messages.Lines` or an entry) in
        ``language``; English when the language or the entry is missing."""
        catalogue = self.translations.get(language)
        if catalogue is None or not text:
            return text
        if isinstance(text, Lines):
            return "\n".join(self.translate(item, language) for item in text.items)
        if isinstance(text, Message):
            template = catalogue.get(text.template)
            if template is None:
                return text
            values = dict(text.values)
            for name in values.keys() - _quoted(text.template):
                values[name] = self._value(values[name], language)
            return template.format(**values)
        return catalogue.get(text, text)

    def _value(self, value: Any, language: str) -> Any:
        """A message's value in ``language``: messages and entries are translated, anything else is kept."""
        if isinstance(value, Message | Lines):
            return self.translate(value, language)
        if isinstance(value, str):
            return self.translations[language].get(value, value)
        return value

    def language_for(self, tag: str) -> str:
        """The language shown to a browser whose language is ``tag``: the tag's catalogue, else its primary
        subtag's, else English (as Gradio's frontend picks ``navigator.language``, then its primary subtag)."""
        by_name = {language.lower(): language for language in self.translations}
        for candidate in (tag, tag.partition("-")[0]):
            if candidate.lower() in by_name:
                return by_name[candidate.lower()]
        return ENGLISH


#: The app's catalogues, from :data:`LOCALES`.
CATALOGUES = Catalogues.load(LOCALES)
#: What ``launch(i18n=...)`` takes.
I18N = CATALOGUES.i18n


def t(text: str) -> str | I18nData:
    """Text the page is built with, as a key the browser shows in its language (:meth:`Catalogues.t`)."""
    return CATALOGUES.t(text)


def translate(text: str, language: str) -> str:
    """``text`` in ``language`` (:meth:`Catalogues.translate`)."""
    return CATALOGUES.translate(text, language)


def localized(text: str) -> str:
    """``text`` in the language of the request being served; English outside a request or without an entry."""
    return translate(text, current_language())


def english(value: Any) -> Any:
    """The English text behind a key made by :func:`t`, also once Gradio made it a ``__i18n__{...}`` string."""
    key = key_of(value)
    return value if key is None else I18N.translations[ENGLISH].get(key, key)


def key_of(value: Any) -> str | None:
    """The ``gr.I18n`` key a value stands for (an ``I18nData``, or its ``__i18n__{...}`` string), else ``None``."""
    if isinstance(value, I18nData):
        return value.key
    if isinstance(value, str) and value.startswith(_MARKER):
        with contextlib.suppress(ValueError):
            return json.loads(value.removeprefix(_MARKER)).get("key")
    return None


def current_language() -> str:
    """The language of the request Gradio is serving in this thread (English when there is none)."""
    return request_language(current_request())


def request_language(request: Any) -> str:
    """The language of a request: its ``Accept-Language``'s preferred tag among the languages with a catalogue.

    Gradio's frontend shows the browser's first language (``navigator.language``), else its primary subtag, else
    English; browsers fill ``Accept-Language`` from the same list, so the server picks the same way. Today that
    gives ``zh-CN`` to ``zh-CN`` browsers, and English to ``zh`` and ``zh-TW`` ones, as the page shows them.
    """
    return CATALOGUES.language_for(preferred_tag(request_header(request, "accept-language") or ""))


def preferred_tag(accept_language: str) -> str:
    """The language tag with the highest quality in an ``Accept-Language`` header (the first on a tie)."""
    best, best_quality = "", 0.0
    for item in accept_language.split(","):
        tag, _, parameters = item.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                continue
        if tag and quality > best_quality:
            best, best_quality = tag.strip(), quality
    return best


def localized_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """A ``gr.Dataframe`` value whose headers are in the request's language (browsers do not translate them)."""
    return {"headers": [localized(header) for header in headers], "data": [list(row) for row in rows]}


def english_api_labels(demo: gr.Blocks) -> None:
    """Keep the API documentation in English: Gradio names an endpoint's parameters and results after the labels
    (``/gradio_api/info``, ``Client.view_api()``, the "Use via API" page), which would otherwise show keys."""
    get_api_info = demo.get_api_info

    @functools.wraps(get_api_info)
    def api_info(*args: Any, **kwargs: Any) -> Any:
        info = get_api_info(*args, **kwargs)
        for endpoints in info.values():
            for endpoint in endpoints.values():
                for item in (*endpoint["parameters"], *endpoint["returns"]):
                    item["label"] = english(item["label"])
        return info

    demo.get_api_info = api_info  # type: ignore[method-assign]


def plain_example_table(examples: gr.Examples) -> None:
    """Give an example table English headers and choice names instead of keys it would show raw.

    Gradio's example table (a ``gr.Dataset``) copies its inputs' labels and choices but never translates them.
    """
    dataset = examples.dataset
    dataset.headers = [english(header) for header in dataset.headers]
    for props in dataset.component_props:
        if "choices" in props:
            props["choices"] = [(english(label), value) for label, value in props["choices"]]
