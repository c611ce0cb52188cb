# ruff: noqa: RUF001  (the Chinese text is written with full-width punctuation, as Chinese is)
"""The interface in every language with a catalogue (fusion/ui/i18n.py, fusion/ui/locales/): the catalogue files
against the code, messages translated by their template, the built page, and the language each request gets."""

from __future__ import annotations

import ast
import json
import pickle
import re
import string
from collections.abc import Callable, Iterator
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio.context import LocalContext
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from fusion import features, flows, generation, images
from fusion.captioning import CaptionOptions, require_question, validate_caption_options
from fusion.classification.labels import parse_labels, parse_templates
from fusion.classification.zeroshot import ZeroShotOptions
from fusion.generation import MODELS, SCHEDULERS
from fusion.messages import Lines, Message
from fusion.numbers import finite_number
from fusion.ratelimit import parse_rate
from fusion.registry import REGISTRY
from fusion.ui.admission import LIMIT_REACHED, describe_limit, describe_wait
from fusion.ui.common import reports_errors, user_error
from fusion.ui.i18n import (
    CATALOGUES,
    ENGLISH,
    I18N,
    LOCALES,
    Catalogues,
    english,
    key_of,
    localized,
    preferred_tag,
    request_language,
    t,
    translate,
)

ROOT = Path(__file__).resolve().parents[1]
CHINESE = "zh-CN"
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
PHOTO = np.asarray(Image.open(ROOT / "assets" / "chelsea.png").convert("RGB"))
#: Wider than the 2048 px an upload may be: decoding it gives a notice.
WIDE = np.zeros((4, 2100, 3), dtype=np.uint8)
SOURCES = sorted([*(ROOT / "fusion").rglob("*.py"), ROOT / "app.py"])
#: Modules whose messages are read at start-up, on the command line or in the server log (static_greedy's
#: recording failures: captioning logs them and answers through ``generate``), never by a browser or API user.
NOT_SERVED = {"config.py", "ratelimit.py", "acceleration.py", "download.py", "evaluate.py", "__main__.py"}
NOT_SERVED |= {"static_greedy.py", "messages.py"}
#: Ahead-of-time packages: refusals and errors go to the log and the command line, like acceleration.py's.
NOT_SERVED |= {"compiled.py", "precompile.py"}
NOT_SERVED_PACKAGES = {"batch", "tiny"}
#: The exceptions whose message a user is shown (``fusion.ui.common.reports_errors``); others are bugs, reported
#: with an error id.
USER_ERRORS = {"ValueError", "ImageError", "ModelLoadError", "Error"}
#: Such errors that only the server's owner sees (raised at start-up): English, as the log is.
FOR_THE_OWNER = ("Preloading failed for",)
#: Shown as they are in every language: names of models, schedulers, algorithms, formats and units, and examples
#: of model input (the models read English). The page test accepts these, and only these, untranslated.
UNTRANSLATED = frozenset(
    {*SCHEDULERS, *(spec.title for spec in REGISTRY.values()), *(preset.title for preset in MODELS.values())}
    - CATALOGUES.translations[CHINESE].keys()
) | {
    "x", "y", "4", "8", "9/16", "7/12", "5/8", "C", "MB", "PNG",
    "ORB", "SIFT", "RGB", "HSV", "HOG", "CLAHE", "L1", "L2", "L1-sqrt", "L2-Hys", "Top-p", "Harris k",
    "txt2img", "img2img",
    # The API names of two notices outputs (fusion/ui/common.py), which a Markdown never shows.
    "value_100", "value_326", "CLIP",
    "a photography of", "What colour is the car?", "a photo of a red house by a lake, golden hour",
    "blurry, low quality", "cat, dog, car", "Find the edges of this photo · 这张图片里有什么？",
}  # fmt: skip


def _fields(template: str) -> list[tuple[str, str, str | None]]:
    """A template's placeholders with their format specs and conversions, in a comparable order."""
    return sorted((name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template) if name)


def _literals(template: str) -> list[str]:
    return [literal for literal, *_field in string.Formatter().parse(template)]


# --------------------------------------------------------------------------------------------- the catalogue files
def test_every_catalogue_file_is_a_language_of_the_page() -> None:
    files = sorted(path.stem for path in LOCALES.glob("*.json"))
    assert CHINESE in files
    assert CATALOGUES.languages == (ENGLISH, *files)
    assert sorted(I18N.translations) == sorted(CATALOGUES.languages), "gr.I18n is fed from the same files"


@pytest.mark.parametrize("language", sorted(CATALOGUES.translations))
def test_every_entry_is_translated_with_the_same_placeholders(language: str) -> None:
    for english_text, translation in CATALOGUES.translations[language].items():
        assert english_text.strip() and translation.strip(), english_text
        assert _fields(english_text) == _fields(translation), english_text
        # Single words may become a proper name ("lanczos" -> "Lanczos"); everything else reads translated.
        assert translation != english_text or " " not in english_text, english_text
        if language == CHINESE:
            assert CJK.search(translation) or " " not in english_text, english_text


@pytest.mark.parametrize("language", sorted(CATALOGUES.translations))
def test_every_text_the_code_names_has_an_entry(language: str) -> None:
    """Each Message template, ``t``/``localized`` literal and ``what=`` word of the code, exactly (no matching)."""
    catalogue = CATALOGUES.translations[language]
    missing = [
        f"{where}: {text!r}"
        for where, text, kind in _texts_of_the_code()
        if text not in catalogue and not (kind != "template" and text in UNTRANSLATED)
    ]
    assert missing == []
    mismatched = [text for _where, text, kind in _texts_of_the_code() if kind == "template" and text in catalogue]
    assert [text for text in mismatched if _fields(text) != _fields(catalogue[text])] == []


def test_message_templates_are_literals_the_scan_can_read() -> None:
    unreadable = [where for where, text, _kind in _texts_of_the_code() if text is None]
    assert unreadable == [], "write the template as a literal or a module constant, so that its entry is checked"


def test_messages_below_the_panels_are_messages_or_entries() -> None:
    """Served modules never format a message themselves: text with values is a Message, the rest an exact entry."""
    catalogue = CATALOGUES.translations[CHINESE]
    found = []
    for path in _served_modules():
        constants = _module_constants(ast.parse(path.read_text(encoding="utf-8")))
        for node, argument in _message_arguments(path):
            where = f"{_relative(path)}:{node.lineno}"
            if (_sample(argument) or "").startswith(FOR_THE_OWNER):
                continue
            if isinstance(argument, ast.JoinedStr | ast.BinOp) or _is_format_call(argument):
                found.append(f"{where}: formatted as plain text")
            text = _literal(argument, constants)
            if text is not None and " " in text.strip() and text not in catalogue:
                found.append(f"{where}: {text!r} has no entry")
    assert found == []


def test_no_entry_is_unused(demo: gr.Blocks) -> None:
    """An entry is used when the code holds it as a literal or the page was built with it (``t`` registers every
    text it translates)."""
    literals = {
        node.value
        for path in SOURCES
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    used = literals | {line for text in I18N.translations[ENGLISH].values() for line in [text, *text.splitlines()]}
    for language, catalogue in CATALOGUES.translations.items():
        unused = [text for text in catalogue if text not in used]
        assert unused == [], f"{language}: entries no code uses"


def _texts_of_the_code() -> Iterator[tuple[str, str | None, str]]:
    """(where, text, kind) of every Message template, ``t(...)``/``localized(...)`` literal and ``what=`` literal;
    ``text`` is ``None`` for a Message template the scan cannot read."""
    for path in SOURCES:
        if path.name == "messages.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _module_constants(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where, name = f"{_relative(path)}:{node.lineno}", _called(node)
            if name == "Message":
                templates = _templates(node.args[0], constants) if node.args else None
                for template in templates or [None]:
                    yield where, template, "template"
            elif name in {"t", "localized"} and node.args:
                text = _literal(node.args[0], constants)
                if text is not None and re.search("[A-Za-z]", text):
                    yield where, text, "text"
            for keyword in node.keywords:
                if keyword.arg == "what" and isinstance(keyword.value, ast.Constant):
                    yield where, keyword.value.value, "word"


def _templates(node: ast.expr, constants: dict[str, str]) -> list[str] | None:
    if isinstance(node, ast.IfExp):
        body, orelse = _templates(node.body, constants), _templates(node.orelse, constants)
        return None if body is None or orelse is None else body + orelse
    text = _literal(node, constants)
    return None if text is None else [text]


def _literal(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _module_constants(tree: ast.Module) -> dict[str, str]:
    return {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }  # fmt: skip


def _called(node: ast.Call) -> str:
    function = node.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")


def _is_format_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _served_modules() -> list[Path]:
    return [
        path
        for path in SOURCES
        if path.parent != ROOT and path.name not in NOT_SERVED and not NOT_SERVED_PACKAGES & set(path.parts)
    ]


def _message_arguments(path: Path) -> Iterator[tuple[ast.AST, ast.expr]]:
    """The text given to the errors a user sees, notices lists, ``user_error``/``localized``/``gr.Info``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            if _called(node.exc) in USER_ERRORS:
                yield node, node.exc.args[0]
        elif isinstance(node, ast.Call) and node.args:
            owner = getattr(node.func.value, "id", "") if isinstance(node.func, ast.Attribute) else ""
            if _called(node) in {"user_error", "localized", "Info", "Warning"}:
                yield node, node.args[0]
            elif owner in {"notices", "notes"} and _called(node) in {"append", "insert"}:
                yield node, node.args[-1]
        elif isinstance(node, ast.AugAssign) and getattr(node.target, "id", "") == "notices":
            for item in node.value.elts if isinstance(node.value, ast.Tuple) else ():
                yield node, item


def test_only_messages_and_entries_are_translated_never_english_that_looks_like_one() -> None:
    """The engine looks text up by id: a message formatted as plain English stays English, the same Message is
    translated (with its values), and so is a plain entry."""
    what = Message("file {number}", number=2)
    reason = Message("The {what} file is empty (0 bytes): upload a real picture.", what=what)
    message = Message("Skipped file {number}: {reason}", number=2, reason=reason)
    assert translate(str(message), CHINESE) == str(message)
    assert translate(message, CHINESE) == "已跳过文件 2：文件 2文件是空的（0 字节）：请上传一张真正的图片。"
    assert translate("cat.png: Converted from CMYK to RGB.", CHINESE) == "cat.png: Converted from CMYK to RGB."
    assert translate("Run", CHINESE) == "运行"


def _sample(node: ast.expr) -> str | None:
    """The text an expression makes: literal parts kept, other values as "7"."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_sample(part) or "7" for part in node.values)
    if isinstance(node, ast.FormattedValue):
        return _sample(node.value)
    if isinstance(node, ast.IfExp):
        return _sample(node.body)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _sample(node.left), _sample(node.right)
        return None if left is None and right is None else (left or "7") + (right or "7")
    return None


# ------------------------------------------------------------------------------------------------ the languages
@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", CHINESE),
        ("zh-cn", CHINESE),
        ("en-US,en;q=0.9,zh-CN;q=0.8", ENGLISH),
        ("en;q=0.5, zh-CN", CHINESE),
        # Gradio's frontend has no zh or zh-SG translation and shows these browsers English: so does the server.
        ("zh", ENGLISH),
        ("zh-TW,zh;q=0.9", ENGLISH),
        ("fr-FR,zh-CN;q=0.9", ENGLISH),
        ("", ENGLISH),
        ("*", ENGLISH),
    ],
)
def test_the_request_language_follows_the_browsers_first_choice(accept_language: str, language: str) -> None:
    request = gr.Request(headers={"Accept-Language": accept_language})
    assert request_language(request) == language


def test_the_preferred_tag_is_the_highest_quality_one() -> None:
    assert preferred_tag("fr;q=0.3, de;q=0.7, en") == "en"
    assert preferred_tag("fr;q=0.3, de;q=0.7") == "de"
    assert preferred_tag("fr;q=nonsense, de;q=0.1") == "de"


def test_english_and_requests_without_a_language_stay_english() -> None:
    message = Message("No {what} was given: upload a picture (PNG, JPEG, WebP, ...).", what="image")
    assert translate(message, ENGLISH) == message
    assert request_language(None) == ENGLISH
    assert localized(message) == message, "outside a request there is no language but English"


def test_a_third_language_is_one_more_file(tmp_path: Path) -> None:
    (tmp_path / "zh-CN.json").write_text((LOCALES / "zh-CN.json").read_text(encoding="utf-8"), encoding="utf-8")
    french = {
        "Run": "Exécuter",
        "image": "image",
        "second image": "deuxième image",
        "The {what} file was not found: upload it again.": "Le fichier {what} est introuvable : envoyez-le à nouveau.",
    }
    (tmp_path / "fr.json").write_text(json.dumps(french), encoding="utf-8")
    catalogues = Catalogues.load(tmp_path)

    assert catalogues.languages == (ENGLISH, "fr", CHINESE)
    assert [catalogues.language_for(tag) for tag in ("fr", "fr-CA", "zh-CN", "de")] == ["fr", "fr", CHINESE, ENGLISH]
    gone = Message("The {what} file was not found: upload it again.", what="second image")
    assert catalogues.translate(gone, "fr") == "Le fichier deuxième image est introuvable : envoyez-le à nouveau."
    assert catalogues.translate(gone, CHINESE) == "找不到第二张图像文件：请重新上传。"
    assert catalogues.translate("Stop", "fr") == "Stop", "an entry the file lacks stays English"
    key = key_of(catalogues.t("Run"))
    assert {language: catalogues.i18n.translations[language][key] for language in catalogues.languages} == {
        ENGLISH: "Run",
        "fr": "Exécuter",
        CHINESE: "运行",
    }


# ----------------------------------------------------------------------------------------- translation by id
def test_page_text_becomes_a_key_in_every_language() -> None:
    run = t("Run")
    key = key_of(run)
    assert key is not None
    assert I18N.translations[ENGLISH][key] == "Run"
    assert I18N.translations[CHINESE][key] == "运行"
    assert english(run) == english(str(run)) == "Run", "also once Gradio has made it a string"
    assert t("HOG") == "HOG", "names stay plain text"
    assert '"}' not in key and key.isascii(), "Gradio's frontend cannot read a key holding }"


def test_page_text_can_be_a_message_or_lines() -> None:
    from app import INTRO, TITLE_MARKDOWN

    header = t(Lines([TITLE_MARKDOWN, INTRO]))
    assert I18N.translations[CHINESE][key_of(header)].splitlines()[0] == "# fusion：经典视觉与多模态大模型的融合"
    limit = t(Message("{count} per {window}", count=5, window="hour"))
    assert I18N.translations[CHINESE][key_of(limit)] == "5 次/小时"
    assert english(limit) == "5 per hour"


def test_a_value_that_is_an_entry_is_translated_and_quoted_data_is_not() -> None:
    assert translate(Message("No {what} was given: upload a picture (PNG, JPEG, WebP, ...).", what="second image"),
                     CHINESE).startswith("没有提供第二张图像")  # fmt: skip
    typed = _error(lambda: features.run_operation(PHOTO, "Sobel gradients", gradient_direction="area"))
    assert "area" in CATALOGUES.translations[CHINESE]
    assert translate(typed, CHINESE).startswith("梯度方向必须是"), "the label is a value that is an entry"
    assert "'area'" in translate(typed, CHINESE), "what the user sent (!r: data) is shown as sent"
    names = _error(lambda: features.run_operation(PHOTO, "Blurry"))
    assert ", ".join(features.OPERATIONS) in translate(names, CHINESE), "the names an API accepts stay as sent"


def test_composite_messages_translate_each_part() -> None:
    limit = Message(LIMIT_REACHED, limit=describe_limit(parse_rate("5/10 minutes")), wait=describe_wait(100))
    assert limit == "Generation limit reached: 5 per 10 minutes per user. Try again in 2 minutes."
    assert translate(limit, CHINESE) == "已达到生成次数上限：每位用户 5 次/10 分钟。请在 2 分钟后再试。"
    load = Message(
        "{title} is not available: {cause}. The server's owner can fix it (`python -m fusion download` fetches the "
        "default models). (error {error_id})",
        title="BLIP captioning (base)",
        cause="its weights are not on this server",
        error_id="1a2b3c4d",
    )
    assert translate(load, CHINESE) == (
        "BLIP 标题生成（基础版） 不可用：它的权重不在本服务器上。服务器的所有者可以修复它（`python -m fusion download` "
        "会下载默认模型）。（错误 1a2b3c4d）"
    )
    notices = Lines([images.load(WIDE, max_side=2048).notices[0], "Converted from CMYK to RGB."])
    assert translate(notices, CHINESE).splitlines() == [
        "已从 2100x4 缩小到 2048x4（上限为 2048 像素）。",
        "已从 CMYK 转换为 RGB。",
    ]


def test_an_error_raised_in_a_gpu_worker_is_translated_where_it_is_caught() -> None:
    """ZeroGPU runs the task in a worker without the request: it raises English, pickled back to the request."""
    message = Message("The {what} file was not found: upload it again.", what="init image")
    in_worker = pickle.loads(pickle.dumps(user_error(message)))
    assert in_worker.message == "The init image file was not found: upload it again."

    @reports_errors
    def event() -> None:
        raise in_worker

    token = LocalContext.request.set(gr.Request(headers={"Accept-Language": CHINESE}))
    try:
        with pytest.raises(gr.Error) as caught:
            event()
    finally:
        LocalContext.request.reset(token)
    assert caught.value.message == "找不到初始图像文件：请重新上传。"


# ----------------------------------------------------------------------------- real messages of the task modules
def _error(call: Callable[[], object]) -> str:
    with pytest.raises(ValueError) as caught:
        call()
    return caught.value.args[0]


def _notices(call: Callable[[], tuple[object, tuple[str, ...]]]) -> tuple[str, ...]:
    return call()[1]


def _garbage_file(tmp_path: Path) -> str:
    path = tmp_path / "notes.png"
    path.write_bytes(b"just some text")
    return str(path)


ERRORS: list[tuple[str, Callable[[Path], str]]] = [
    (
        "No {what} was given: upload a picture (PNG, JPEG, WebP, ...).",
        lambda _: _error(lambda: images.load(None)),
    ),
    (
        "{name!r} is not an image this app can read. Upload a PNG, JPEG, WebP, BMP, GIF or TIFF file.",
        lambda tmp: _error(lambda: images.load(_garbage_file(tmp))),
    ),
    (
        "The {what} has shape {shape}; expected (height, width), (height, width, 3) or (height, width, 4).",
        lambda _: _error(lambda: images.load(np.zeros((4, 4, 2), dtype=np.uint8))),
    ),
    ("{what} must be a number, got {value!r}.", lambda _: _error(lambda: finite_number("abc", "Seed"))),
    (
        "{what} must be between {low} and {high}, got {value} (parameter {name}).",
        lambda _: _error(lambda: features.run_operation(PHOTO, "Canny edges", canny_low=900)),
    ),
    (
        "{what} must be an odd number, got {value} (parameter {name}).",
        lambda _: _error(lambda: features.run_operation(PHOTO, "Canny edges", canny_aperture=4)),
    ),
    (
        "{what} must be one of {choices}, got {value!r} (parameter {name}).",
        lambda _: _error(lambda: features.run_operation(PHOTO, "Sobel gradients", gradient_direction="z")),
    ),
    (
        "Unknown parameter(s) {names} for {operation!r}; valid parameters: {valid}.",
        lambda _: _error(lambda: features.run_operation(PHOTO, "Grayscale", canny_low=3)),
    ),
    (
        "Unknown {what} {value!r}; choose one of: {choices}.",
        lambda _: _error(lambda: validate_caption_options(CaptionOptions(model="huge"))),  # type: ignore[arg-type]
    ),
    (
        'Type a question about the image first, for example "What colour is the car?".',
        lambda _: _error(lambda: require_question("  ")),
    ),
    (
        "Unknown {what} {value!r}; choose one of: {choices}.",
        lambda _: _error(
            lambda: generation.normalise_options(generation.GenerationOptions(model="sdxl"), native_size=512)
        ),
    ),
    (
        "Type at least one label, separated by commas or new lines (for example: cat, dog, car).",
        lambda _: _error(lambda: parse_labels(" , ")),
    ),
    (
        "The prompt template {template!r} must contain exactly one {{}} where the label goes, for example: a photo "
        "of a {{}}.",
        lambda _: _error(lambda: parse_templates("a photo")),
    ),
    (
        "The threshold must lie between 0 and 1, got {value}.",
        lambda _: _error(lambda: ZeroShotOptions(threshold=1.5)),
    ),
    (
        "This run card is not valid JSON ({error}, position {position}).",
        lambda _: _error(lambda: flows.restore_run_card("{")),
    ),
    (
        "Downscaled from {width}x{height} to {new_width}x{new_height} (the limit is {max_side} px).",
        lambda _: images.load(WIDE, max_side=2048).notices[0],
    ),
    (
        "{what} {value:g} is outside {low:g}-{high:g}; using {used:g}.",
        lambda _: _notices(
            lambda: generation.normalise_options(generation.GenerationOptions(steps=1000), native_size=512)
        )[0],
    ),
    (
        "Beam search needs at least 2 beams; used 2.",
        lambda _: _notices(lambda: validate_caption_options(CaptionOptions(mode="beam", num_beams=1)))[0],
    ),
    ("Removed {count} duplicate label(s): {labels}", lambda _: _notices(lambda: parse_labels("cat, dog, cat"))[0]),
]


@pytest.mark.parametrize(("template", "make_message"), ERRORS, ids=[template[:40] for template, _ in ERRORS])
def test_real_messages_carry_their_template_and_keep_their_values(
    template: str, make_message: Callable[[Path], str], tmp_path: Path
) -> None:
    message = make_message(tmp_path)
    assert getattr(message, "template", message) == template, "looked up by its id, not by its English"
    _assert_in_order(_literals(template), message)
    chinese = translate(message, CHINESE)
    _assert_in_order(_literals(CATALOGUES.translations[CHINESE][template]), chinese)
    for number in re.findall(r"\d+(?:\.\d+)?", message):
        assert number in chinese, f"{number} lost from {chinese!r}"


def _assert_in_order(pieces: list[str], text: str) -> None:
    position = 0
    for piece in pieces:
        found = text.find(piece, position)
        assert found >= 0, f"{piece!r} is not in {text!r}"
        position = found + len(piece)


# --------------------------------------------------------------------------------------------------- the page
@pytest.fixture(scope="module")
def demo(tiny_settings, tiny_cache, tmp_path_factory: pytest.TempPathFactory) -> gr.Blocks:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path_factory.mktemp("i18n-examples")))
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("i18n-temp")))
        from app import build_demo

        return build_demo(tiny_settings, tiny_cache)


def test_the_page_has_no_english_text_without_a_translation(demo: gr.Blocks) -> None:
    untranslated = [
        f"{type(block).__name__} {name}: {text!r}"
        for block in demo.blocks.values()
        if not _api_only(block)
        for name, text in _shown_texts(block)
        if not _translated_on_the_page(text)
    ]
    assert untranslated == []


def test_table_headers_are_translated_by_the_server(demo: gr.Blocks) -> None:
    headers = {header for block in demo.blocks.values() if isinstance(block, gr.Dataframe) for header in block.headers}
    assert headers, "the page has tables"
    assert [header for header in headers if not _translated_on_the_page(translate(header, CHINESE))] == []


def test_example_tables_show_english_rather_than_raw_keys(demo: gr.Blocks) -> None:
    datasets = [block for block in demo.blocks.values() if isinstance(block, gr.Dataset)]
    assert datasets
    for dataset in datasets:
        assert key_of(dataset.label) is not None, "its title is translated like any label"
        assert all(key_of(header) is None for header in dataset.headers), dataset.headers
    features = next(dataset for dataset in datasets if dataset.headers == ["Image", "Operation"])
    choices = [label for props in features.component_props for label, _value in props.get("choices", [])]
    assert "Canny edges" in choices and all(key_of(label) is None for label in choices)


def test_the_api_documentation_stays_in_english(demo: gr.Blocks) -> None:
    info = demo.get_api_info()
    assert "__i18n__" not in json.dumps(info, default=str)
    labels = [parameter["label"] for parameter in info["named_endpoints"]["/features"]["parameters"]]
    assert labels[:2] == ["Image", "Operation"]


def _api_only(block: gr.blocks.Block) -> bool:
    """Hidden JSON outputs (the API values of events) and gr.api endpoints are never shown."""
    return (isinstance(block, gr.JSON) and not block.visible) or type(block).__name__ == "Api"


def _shown_texts(block: gr.blocks.Block) -> Iterator[tuple[str, object]]:
    for name in ("label", "info", "placeholder"):
        if getattr(block, name, None):
            yield name, getattr(block, name)
    if isinstance(block, gr.Button | gr.Markdown) and block.value:
        yield "value", block.value
    for label, value in getattr(block, "choices", None) or ():
        if value not in REGISTRY:  # the System tab lists model keys, exactly as its API and the cache name them
            yield f"choice {value!r}", label


def _translated_on_the_page(text: object) -> bool:
    key = key_of(text)
    if key is not None:
        return all(I18N.translations[language].get(key) for language in CATALOGUES.languages)
    return text in UNTRANSLATED or not re.search("[A-Za-z]", str(text))


# ------------------------------------------------------------------------------------------- through the server
def test_a_chinese_request_gets_chinese_errors_and_notices(app_url: str, tmp_path: Path) -> None:
    chinese = Client(app_url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    with pytest.raises(AppError, match="没有提供图像"):
        chinese.predict(image=None, operation="Canny edges", api_name="/features")
    wide = tmp_path / "wide.png"
    Image.fromarray(WIDE).save(wide)
    _path, _stats, notices = chinese.predict(image=handle_file(str(wide)), operation="Grayscale", api_name="/features")
    assert notices == "- 已从 2100x4 缩小到 2048x4（上限为 2048 像素）。"


def test_an_api_client_without_a_language_gets_english(client: Client) -> None:
    with pytest.raises(AppError, match="No image was given"):
        client.predict(image=None, operation="Canny edges", api_name="/features")


def test_the_queue_and_server_refusals_have_translations() -> None:
    from fusion.ui import admission, http

    for text in (
        Message(admission.LANE_FULL, count=32, lane="GPU"),
        Message(admission.CLIENT_FULL, count=4),
        Message(http.TOO_LARGE, limit=1024),
        http.UPLOADS_PAUSED,
    ):
        assert CJK.search(translate(text, CHINESE)), text
