# ruff: noqa: RUF001  (the Chinese text is written with full-width punctuation, as Chinese is)
"""The interface in English and Simplified Chinese (fusion/i18n.py): the catalogue, how messages made by the task
modules are matched and translated, the built page, and the language each request gets."""

from __future__ import annotations

import ast
import json
import re
import string
from collections.abc import Callable, Iterator
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from fusion import features, flows, generation, images
from fusion.captioning import CaptionOptions, require_question, validate_caption_options
from fusion.classification.labels import parse_labels, parse_templates
from fusion.classification.zeroshot import ZeroShotOptions
from fusion.numbers import finite_number
from fusion.registry import REGISTRY
from fusion.ui.i18n import (
    CATALOGUES,
    ENGLISH,
    I18N,
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
CATALOGUE = CATALOGUES.translations[CHINESE]
UNTRANSLATED = frozenset(
    {
        "x", "y", "4", "8", "9/16", "7/12", "5/8", "C", "MB", "PNG",
        "ORB", "SIFT", "RGB", "HSV", "HOG", "CLAHE", "L1", "L2", "L1-sqrt", "L2-Hys", "Top-p", "Harris k",
        "CLIP ViT-B/32", "CLIP ViT-L/14", "Stable Diffusion 1.5", "SD-Turbo", "ControlNet Canny (SD 1.5)",
        "DPM++ 2M", "DPM++ 2M Karras", "Euler a", "Euler", "DDIM", "UniPC", "txt2img", "img2img",
        "a photography of", "What colour is the car?", "a photo of a red house by a lake, golden hour",
        "blurry, low quality", "cat, dog, car", "Find the edges of this photo · 这张图片里有什么？",
    }
)
PLACEHOLDER = re.compile(r"\{(\w+)\}")
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
PHOTO = np.asarray(Image.open(ROOT / "assets" / "chelsea.png").convert("RGB"))
#: Wider than the 2048 px an upload may be: decoding it gives a notice.
WIDE = np.zeros((4, 2100, 3), dtype=np.uint8)
#: Modules whose messages are read at start-up, on the command line or in the server log (static_greedy's
#: recording failures: captioning logs them and answers through ``generate``), never by a browser or API user.
NOT_SERVED = {
    "config.py",
    "ratelimit.py",
    "acceleration.py",
    "download.py",
    "evaluate.py",
    "__main__.py",
    "static_greedy.py",
}
NOT_SERVED_PACKAGES = {"batch", "tiny"}


# -------------------------------------------------------------------------------------------------- languages
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
    message = "No image was given: upload a picture (PNG, JPEG, WebP, ...)."
    assert translate(message, ENGLISH) == message
    assert request_language(None) == ENGLISH
    assert localized(message) == message, "outside a request there is no language but English"


def test_page_text_becomes_a_key_in_both_languages() -> None:
    run = t("Run")
    key = key_of(run)
    assert key is not None
    assert I18N.translations[ENGLISH][key] == "Run"
    assert I18N.translations[CHINESE][key] == "运行"
    assert english(run) == english(str(run)) == "Run", "also once Gradio has made it a string"
    assert t("HOG") == "HOG", "names stay plain text"
    assert '"}' not in key and key.isascii(), "Gradio's frontend cannot read a key holding }"


def test_page_text_with_a_value_is_registered_when_built() -> None:
    hint = t("0: the model's default (30); at most 200")
    assert I18N.translations[CHINESE][key_of(hint)] == "0：模型默认值（30）；最多 200"


# ------------------------------------------------------------------------------------------- how messages match
def test_a_captured_value_is_translated_only_when_it_is_a_catalogue_entry() -> None:
    assert translate(_error(lambda: images.load(None, what="second image")), CHINESE).startswith("没有提供第二张图像")
    unknown = _error(lambda: features.run_operation(PHOTO, "Blurry"))
    chinese = translate(unknown, CHINESE)
    assert chinese.startswith("未知的操作 'Blurry'")
    assert ", ".join(features.OPERATIONS) in chinese, "the names an API accepts stay as they must be sent"


def test_a_bare_name_colon_text_line_needs_a_translated_part() -> None:
    assert translate("cat.png: Converted from CMYK to RGB.", CHINESE) == "cat.png：已从 CMYK 转换为 RGB。"
    assert translate("cat.png: a note of the user's", CHINESE) == "cat.png: a note of the user's"
    assert translate("PlotData.x must have one value per series point", CHINESE).startswith("PlotData.x 必须")


def test_several_lines_are_translated_line_by_line() -> None:
    from app import HEADER

    assert translate(HEADER, CHINESE).splitlines()[0] == "# fusion：经典视觉与多模态大模型的融合"


def test_nested_parts_are_translated() -> None:
    limit = "Generation limit reached: 5 per 10 minutes per user. Try again in 1 minute."
    assert translate(limit, CHINESE) == "已达到生成次数上限：每位用户 5 次/10 分钟。请在 1 分钟后再试。"
    load = (
        "BLIP captioning (base) is not available: its weights are not on this server. The server's owner can fix it "
        "(`python -m fusion download` fetches the default models). (error 1a2b3c4d)"
    )
    assert translate(load, CHINESE) == (
        "BLIP 标题生成（基础版） 不可用：它的权重不在本服务器上。服务器的所有者可以修复它（`python -m fusion download` "
        "会下载默认模型）。（错误 1a2b3c4d）"
    )


# ----------------------------------------------------------------------------- real messages of the task modules
def _error(call: Callable[[], object]) -> str:
    with pytest.raises(ValueError) as caught:
        call()
    return str(caught.value)


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
        "Unknown caption model {model!r}: choose one of {choices}.",
        lambda _: _error(lambda: validate_caption_options(CaptionOptions(model="huge"))),  # type: ignore[arg-type]
    ),
    (
        'Type a question about the image first, for example "What colour is the car?".',
        lambda _: _error(lambda: require_question("  ")),
    ),
    (
        "Unknown generation model {model!r}; choose one of: {choices}.",
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
def test_real_messages_match_their_template_and_keep_their_values(
    template: str, make_message: Callable[[Path], str], tmp_path: Path
) -> None:
    message = make_message(tmp_path)
    _assert_in_order(_literals(template), message)
    chinese = translate(message, CHINESE)
    _assert_in_order(_literals(CATALOGUE[template]), chinese)
    for number in re.findall(r"\d+(?:\.\d+)?", message):
        assert number in chinese, f"{number} lost from {chinese!r}"


def _literals(template: str) -> list[str]:
    return [literal for literal, *_field in string.Formatter().parse(template)]


def _assert_in_order(pieces: list[str], text: str) -> None:
    position = 0
    for piece in pieces:
        found = text.find(piece, position)
        assert found >= 0, f"{piece!r} is not in {text!r}"
        position = found + len(piece)


def test_every_message_the_app_can_show_has_a_translation() -> None:
    """Each error, notice and info written in a served module, with a sample for every computed value."""
    untranslated = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in sorted((ROOT / "fusion").rglob("*.py"))
        if path.name not in NOT_SERVED and not NOT_SERVED_PACKAGES & set(path.parts)
        for line, text in _messages(path)
        if translate(text, CHINESE) == text
    ]
    assert untranslated == []


def _messages(path: Path) -> Iterator[tuple[int, str]]:
    """Texts given to exceptions, notices lists, ``user_error``/``localized``/``gr.Info``, with sampled values."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for function in [tree, *(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef))]:
        assigned = {
            node.targets[0].id: node.value
            for node in ast.walk(function)
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        }
        for node in ast.walk(function):
            for argument in _message_arguments(node):
                text = _sample(argument, assigned)
                if text and " " in text.strip():
                    yield node.lineno, text


def _message_arguments(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
        return node.exc.args[:1]
    if isinstance(node, ast.Call):
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        owner = getattr(function.value, "id", "") if isinstance(function, ast.Attribute) else ""
        if name in {"user_error", "localized", "Info", "Warning"}:
            return node.args[:1]
        if owner in {"notices", "notes"} and name in {"append", "insert"}:
            return node.args[-1:]
    if isinstance(node, ast.AugAssign) and getattr(node.target, "id", "") == "notices":
        return list(node.value.elts) if isinstance(node.value, ast.Tuple) else []
    return []


def _sample(node: ast.expr, assigned: dict[str, ast.expr]) -> str | None:
    """The text an expression makes: literal parts kept, a local text variable followed, other values as "7"."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_sample(part, assigned) or "7" for part in node.values)
    if isinstance(node, ast.FormattedValue):
        return _sample(node.value, assigned)
    if isinstance(node, ast.Name) and node.id in assigned:
        return _sample(assigned[node.id], {})
    if isinstance(node, ast.IfExp):
        return _sample(node.body, assigned)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _sample(node.left, assigned), _sample(node.right, assigned)
        return None if left is None and right is None else (left or "7") + (right or "7")
    return None


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
        return bool(I18N.translations[CHINESE].get(key)) and bool(I18N.translations[ENGLISH].get(key))
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
        admission.LANE_FULL.format(count=32, lane="GPU"),
        admission.CLIENT_FULL.format(count=4),
        http.TOO_LARGE.format(limit=1024),
        http.UPLOADS_PAUSED,
    ):
        assert CJK.search(translate(text, CHINESE)), text
