"""Bad-input sweep: every pure function gives a result or a ValueError for any shape, dtype, value or text.

Hypothesis draws arrays of every common dtype (NaN and infinity included), byte strings, encoded and truncated
files, parameter values inside and just outside each ``ParamSpec``'s range, and arbitrary text. The contract
(DESIGN.md): task functions refuse bad input with a ``ValueError`` whose message is meant for the user, never
``cv2.error``, ``IndexError``, ``TypeError`` and the like, and a result they do return is usable; panels turn
the ``ValueError`` into a ``gr.Error`` with escaped text.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from fusion import captioning, features, generation, images
from fusion.classification import labels as label_parsing
from fusion.classification import zeroshot
from fusion.features import OPERATIONS, FeatureResult, ParamSpec
from fusion.generation import GenerationOptions
from fusion.numbers import one_of
from fusion.ui.common import reports_errors

ASSET = Path(__file__).resolve().parents[1] / "assets" / "chelsea.png"
DTYPES = ("uint8", "uint16", "int32", "float32", "float64", "bool")
#: CI runs a modest sweep; ``HYPOTHESIS_PROFILE=deep`` runs 40 times as many examples. No example database:
#: every run draws afresh. Arrays are generated element by element, hence the size health checks are off.
settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("deep", settings.get_profile("ci"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

any_array = hnp.arrays(
    dtype=st.sampled_from(DTYPES),
    shape=st.one_of(
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=64),
        st.tuples(st.integers(0, 40), st.integers(0, 40), st.sampled_from([1, 2, 3, 4, 5])),
    ),
)
rgb_images = hnp.arrays(
    np.uint8, st.tuples(st.integers(1, 48), st.integers(1, 48), st.just(3)), elements=st.integers(0, 255)
)
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    st.text(max_size=50),
    st.lists(st.integers(), max_size=3),
)


def outcome(function: Callable[..., Any], *args: Any, refusal: type[Exception] = ValueError, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, or None when it refuses the input with ``refusal`` (documented).

    Any other exception fails the test. Hypothesis' statistics count both outcomes, so a sweep that only ever
    drew refused inputs shows up there.
    """
    try:
        result = function(*args, **kwargs)
    except refusal:
        event("refused")
        return None
    event("result")
    return result


# ---------------------------------------------------------------------------------------------- images.load
def check_decoded(decoded: images.DecodedImage, max_side: int) -> None:
    pixels = decoded.pixels
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    assert min(pixels.shape[:2]) > 0 and max(pixels.shape[:2]) <= max_side
    assert pixels.flags.c_contiguous
    assert all(isinstance(notice, str) for notice in decoded.notices)


@given(array=any_array, max_side=st.integers(1, 80))
def test_load_any_array(array: np.ndarray, max_side: int) -> None:
    decoded = outcome(images.load, array, max_side=max_side, refusal=images.ImageError)
    if decoded is not None:
        check_decoded(decoded, max_side)


@given(
    payload=st.one_of(
        st.binary(max_size=512),
        st.sampled_from(
            [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\x00", b"RIFF\x00\x00\x00\x00WEBP"]
        ).flatmap(lambda magic: st.binary(max_size=256).map(lambda tail: magic + tail)),
    )
)
def test_load_random_bytes(payload: bytes) -> None:
    decoded = outcome(images.load, payload, refusal=images.ImageError)
    if decoded is not None:
        check_decoded(decoded, images.DEFAULT_MAX_SIDE)


#: Modes Pillow decodes from files, and (in memory only) modes no file format stores.
FILE_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I", "I;16", "F")
MEMORY_MODES = (*FILE_MODES, "PA", "LAB", "HSV", "RGBa", "La")
FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP")


@st.composite
def encoded_files(draw: st.DrawFn) -> bytes:
    """A small noise picture in a random mode and format (TIFF where that lacks the mode), maybe cut short."""
    mode = draw(st.sampled_from(FILE_MODES))
    height, width = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    noise = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if mode == "I;16":
        picture = Image.fromarray(noise.integers(0, 65536, (height, width), np.uint16))
    else:
        picture = Image.fromarray(noise.integers(0, 256, (height, width, 4), np.uint8)).convert(mode)
    stream = io.BytesIO()
    try:
        picture.save(stream, format=draw(st.sampled_from(FORMATS)))
    except (OSError, ValueError, KeyError):
        stream = io.BytesIO()
        picture.save(stream, format="TIFF")
    data = stream.getvalue()
    return data[: draw(st.integers(1, len(data)))] if draw(st.booleans()) else data


@given(payload=encoded_files(), max_side=st.integers(1, 80))
def test_load_encoded_and_truncated_files(payload: bytes, max_side: int) -> None:
    decoded = outcome(images.load, payload, max_side=max_side, refusal=images.ImageError)
    if decoded is not None:
        check_decoded(decoded, max_side)


@given(mode=st.sampled_from(MEMORY_MODES), width=st.integers(0, 20), height=st.integers(0, 20))
def test_load_pillow_images_of_every_mode(mode: str, width: int, height: int) -> None:
    decoded = outcome(images.load, Image.new(mode, (width, height)), refusal=images.ImageError)
    if decoded is not None:
        check_decoded(decoded, images.DEFAULT_MAX_SIDE)


@given(
    source=st.one_of(
        anything,
        st.dictionaries(st.sampled_from(["path", "url", "orig_name"]), anything | st.text(min_size=250, max_size=300)),
    )
)
def test_load_anything_else(source: Any) -> None:
    decoded = outcome(images.load, source, refusal=images.ImageError)
    if decoded is not None:
        check_decoded(decoded, images.DEFAULT_MAX_SIDE)


# ------------------------------------------------------------------------------------------------- features
def param_values(spec: ParamSpec) -> st.SearchStrategy[Any]:
    """Mostly valid values of a spec, plus values just outside its range and values of the wrong type."""
    garbage = st.one_of(st.none(), st.text(max_size=5), st.floats(), st.sampled_from([10**400, -(10**400)]))
    if spec.kind == "bool":
        valid = st.booleans()
        invalid = st.sampled_from([0, 1, 2, -1, "yes"])
    elif spec.kind == "choice":
        valid = st.sampled_from(spec.choices)
        invalid = st.sampled_from([choice.upper() for choice in spec.choices] + ["", "nope"])
    elif spec.kind == "int":
        step = int(spec.step or 1)
        count = int((spec.maximum - spec.minimum) // step)
        valid = st.integers(0, count).map(lambda k: int(spec.minimum) + k * step)
        invalid = st.integers(int(spec.minimum) - 2 * step, int(spec.maximum) + 2 * step)
    else:
        valid = st.floats(spec.minimum, spec.maximum)
        span = spec.maximum - spec.minimum
        invalid = st.floats(spec.minimum - 0.1 * span, spec.maximum + 0.1 * span)
    return st.one_of(valid, valid, valid, invalid, garbage)


def check_feature_result(result: FeatureResult) -> None:
    """What the panel needs to show it: a uint8 gray / RGB picture, JSON-safe finite stats, a finite plot."""
    assert isinstance(result, FeatureResult)
    assert result.image.dtype == np.uint8 and result.image.size > 0
    assert result.image.ndim == 2 or (result.image.ndim == 3 and result.image.shape[2] == 3)
    json.dumps(result.stats, allow_nan=False)
    if result.plot is not None:
        for values in result.plot.series.values():
            assert np.isfinite(np.asarray(values, dtype=np.float64)).all()


def operation_params(operation: str) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of the operation's parameters (the others keep their defaults)."""
    specs = OPERATIONS[operation].params
    return st.fixed_dictionaries({}, optional={spec.name: param_values(spec) for spec in specs})


@pytest.mark.parametrize("operation", list(OPERATIONS))
@given(image=rgb_images, data=st.data())
def test_every_operation_on_small_images_with_any_parameters(
    operation: str, image: np.ndarray, data: st.DataObject
) -> None:
    values = data.draw(operation_params(operation), label="params")
    second_image = data.draw(st.none() | rgb_images, label="second_image")
    before = image.copy()
    result = outcome(features.run_operation, image, operation, second_image=second_image, **values)
    np.testing.assert_array_equal(image, before)
    if result is not None:
        check_feature_result(result)


@given(image=any_array, operation=st.sampled_from(list(OPERATIONS)) | st.text(max_size=10))
def test_operations_refuse_arrays_that_are_not_rgb_uint8(image: np.ndarray, operation: str) -> None:
    result = outcome(features.run_operation, image, operation)
    if result is not None:
        check_feature_result(result)


@given(
    image=st.one_of(rgb_images, any_array),
    options=st.fixed_dictionaries(
        {},
        optional={
            name: st.integers(-2, 40)
            for name in (
                "size",
                "hog_orientations",
                "hog_cells",
                "lbp_points",
                "lbp_grid",
                "color_bins",
                "edge_grid",
                "edge_orientations",
            )
        }
        | {"lbp_radius": st.floats(-1.0, 8.0)},
    ),
)
def test_handcrafted_vector(image: np.ndarray, options: dict[str, Any]) -> None:
    vector = outcome(features.handcrafted_vector, image, **options)
    if vector is None:
        return
    assert vector.values.dtype == np.float32 and vector.values.ndim == 1
    assert np.isfinite(vector.values).all()
    assert sum(part.stop - part.start for part in vector.blocks.values()) == vector.values.size


# ------------------------------------------------------------------------------------------------ captioning
CAPTION_FIELDS = [f.name for f in captioning.fields(captioning.CaptionOptions)]


@given(value=st.none() | st.integers() | st.text(max_size=12) | st.lists(st.text(max_size=3), max_size=2))
def test_a_named_choice_is_returned_or_refused_with_the_choices(value: Any) -> None:
    """Anything an API client sends for a model, scheduler or mode: one of the choices comes back as it is; anything
    else, hashable or not, is refused with a message that lists them."""
    choices = {"Euler": 1, "DDIM": 2}
    if value in ("Euler", "DDIM"):
        assert one_of(value, choices, "scheduler") == value
        return
    with pytest.raises(ValueError, match=r"^Unknown scheduler .+; choose one of: Euler, DDIM\.$"):
        one_of(value, choices, "scheduler")


@given(
    values=st.fixed_dictionaries(
        {},
        optional={
            name: st.one_of(anything, st.sampled_from(captioning.DECODING_MODES), st.sampled_from(["base", "large"]))
            for name in CAPTION_FIELDS
        },
    )
)
def test_validate_caption_options_clamps_or_refuses(values: dict[str, Any]) -> None:
    validated = outcome(captioning.validate_caption_options, captioning.CaptionOptions(**values))
    if validated is None:
        return
    options, notices = validated
    for name, (low, high) in captioning.CAPTION_BOUNDS.items():
        value = getattr(options, name)
        assert isinstance(value, int | float) and math.isfinite(value) and low <= value <= high, name
    assert options.min_new_tokens <= options.max_new_tokens
    assert isinstance(options.prefix, str) and len(options.prefix) <= captioning.MAX_PREFIX_CHARS
    assert 0 <= options.seed <= captioning.MAX_SEED
    assert all(isinstance(notice, str) for notice in notices)


@given(
    text=st.one_of(st.text(), st.text(alphabet="abcdefghij ,.'", min_size=200), anything),
    max_labels=st.integers(-2, 20),
)
def test_suggest_labels(text: str, max_labels: int) -> None:
    suggested = outcome(captioning.suggest_labels, text, max_labels=max_labels)
    if suggested is None:
        return
    labels = [label for label in suggested.split(", ") if label]
    assert len(labels) <= max_labels and len(set(labels)) == len(labels)


# -------------------------------------------------------------------------------------------- classification
label_texts = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.lists(st.text(max_size=120), max_size=30),
    st.integers(1, 1500).map(lambda count: ",".join(f"label {i}" for i in range(count))),
    st.text(alphabet="ab ,\n", min_size=1).map(lambda text: text * 50),
)


@given(text=label_texts | anything, max_length=st.integers(1, 120))
def test_parse_labels(text: Any, max_length: int) -> None:
    result = outcome(label_parsing.parse_labels, text, max_length=max_length)
    if result is None:
        return
    parsed, notices = result
    assert 1 <= len(parsed) <= label_parsing.MAX_LABELS
    assert all(label and label == label.strip() and len(label) <= max_length for label in parsed)
    assert len({label.casefold() for label in parsed}) == len(parsed)
    if isinstance(text, str):
        assert not any(separator in label for label in parsed for separator in ",\n\r")
    assert all(isinstance(notice, str) for notice in notices)


@given(text=st.one_of(st.none(), st.text(), st.lists(st.text(max_size=220), max_size=40).map("\n".join)))
def test_parse_templates(text: str | None) -> None:
    result = outcome(label_parsing.parse_templates, text)
    if result is None:
        return
    templates, _notices = result
    assert 1 <= len(templates) <= label_parsing.MAX_TEMPLATES
    assert all(
        template.count("{}") == 1 and len(template) <= label_parsing.MAX_TEMPLATE_LENGTH for template in templates
    )


@given(
    values=st.fixed_dictionaries(
        {},
        optional={
            "mode": anything | st.sampled_from(zeroshot.SCORE_MODES),
            "threshold": anything,
            "include_none": anything,
        },
    )
)
def test_zero_shot_options(values: dict[str, Any]) -> None:
    options = outcome(zeroshot.ZeroShotOptions, **values)
    if options is not None:
        assert options.mode in zeroshot.SCORE_MODES and 0.0 <= options.threshold <= 1.0


@given(
    image=st.one_of(rgb_images, any_array),
    labels=label_texts,
    mode=st.sampled_from(zeroshot.SCORE_MODES),
    include_none=st.booleans(),
)
def test_zero_shot_on_any_image_and_labels(
    tiny_cache, image: np.ndarray, labels: Any, mode: str, include_none: bool
) -> None:
    options = zeroshot.ZeroShotOptions(mode=mode, include_none=include_none)
    result = outcome(zeroshot.zero_shot, image, labels, options, cache=tiny_cache)
    if result is None:
        return
    assert len(result.scores) == len(result.labels)
    assert all(0.0 <= score <= 1.0 for score in result.scores)
    if result.mode == "softmax":
        assert sum(result.scores) + (result.none_score or 0.0) == pytest.approx(1.0, abs=1e-4)


# ------------------------------------------------------------------------------------------------ generation
GENERATION_NUMBERS = ("steps", "guidance", "width", "height", "seed", "num_images", "strength")


@given(
    values=st.fixed_dictionaries(
        {},
        optional={
            "prompt": st.text() | st.none(),
            "negative_prompt": st.text() | st.none(),
            "model": st.sampled_from([*generation.MODELS, "sdxl", ""]),
            "scheduler": st.sampled_from([*generation.SCHEDULERS, "default", "PLMS"]) | st.none(),
            "init_image": st.none() | rgb_images | any_array,
            **{
                name: st.none() | st.integers(-(10**300), 10**300) | st.floats() | st.text(max_size=4)
                for name in GENERATION_NUMBERS
            },
        },
    ),
    native_size=st.integers(8, 1024),
)
def test_generation_options_resolve_or_refuse(values: dict[str, Any], native_size: int) -> None:
    """``normalise_options`` (read here, owned by the generation panel) clamps every value into range."""
    resolved = outcome(generation.normalise_options, GenerationOptions(**values), native_size=native_size)
    if resolved is None:
        return
    options, _notices = resolved
    preset = generation.MODELS[options.model]
    assert 1 <= options.steps <= preset.max_steps
    assert generation.GUIDANCE_RANGE[0] <= options.guidance <= generation.GUIDANCE_RANGE[1]
    for side in (options.width, options.height):
        assert generation.SIZE_RANGE[0] <= side <= generation.SIZE_RANGE[1] and side % generation.SIZE_MULTIPLE == 0
    assert 0 <= options.seed < generation.SEED_LIMIT and 1 <= options.num_images <= generation.MAX_IMAGES


@pytest.mark.parametrize("name", [name for name in GENERATION_NUMBERS if name != "strength"])
def test_generation_options_refuse_integers_beyond_float(name: str) -> None:
    """JSON allows any integer; float() of one beyond 1e308 raises OverflowError unless it is caught."""
    with pytest.raises(ValueError, match="finite number"):
        generation.normalise_options(GenerationOptions(**{name: 10**400}), native_size=512)


# ------------------------------------------------------------------------------------------------------- UI
@given(message=st.text() | st.sampled_from(["<script>alert(1)</script>", "<b>x</b> & <img src=x onerror=alert(1)>"]))
def test_value_errors_become_escaped_gr_errors_without_a_traceback(message: str) -> None:
    """Gradio's toast renders HTML: markup is escaped; quotes and apostrophes are left as they are."""
    @reports_errors
    def event() -> None:
        raise ValueError(message)

    @reports_errors
    def streaming_event() -> Iterator[None]:
        yield
        raise ValueError(message)

    for call in (event, lambda: list(streaming_event())):
        with pytest.raises(gr.Error) as caught:
            call()
        assert html.unescape(caught.value.message) == message
        assert "<" not in caught.value.message and ">" not in caught.value.message
        assert "&#" not in caught.value.message and "&quot;" not in caught.value.message
        assert caught.value.print_exception is False


@given(message=st.text())
def test_unexpected_errors_are_reported_without_their_text(message: str) -> None:
    @reports_errors
    def event() -> None:
        raise IndexError(message)

    with pytest.raises(gr.Error, match=r"Something went wrong inside the app \(error [0-9a-f]{8}\)") as caught:
        event()
    assert re.fullmatch(
        r"Something went wrong inside the app \(error [0-9a-f]{8}\)\. The request was not completed; please try "
        r"again, and report it with this error id if it happens again\.",
        caught.value.message,
    ), "neither the exception's class nor its text"


MARKUP = "<b>x</b><script>alert(1)</script>"


@pytest.mark.parametrize(
    ("endpoint", "arguments"),
    [
        pytest.param("/features", {"image": handle_file(ASSET), "operation": MARKUP}, id="features-operation"),
        pytest.param(
            "/classify",
            {"image": handle_file(ASSET), "labels": "cat, dog", "templates": MARKUP},
            id="classify-templates",
        ),
        pytest.param("/caption", {"image": handle_file(ASSET), "model": MARKUP}, id="caption-model"),
        pytest.param("/generate", {"prompt": "a cat", "scheduler": MARKUP}, id="generate-scheduler"),
    ],
)
def test_the_app_returns_errors_as_escaped_text(client, endpoint: str, arguments: dict[str, Any]) -> None:
    """Markup sent by a client and quoted back in an error message arrives escaped, never as markup."""
    with pytest.raises(AppError) as caught:
        client.predict(**arguments, api_name=endpoint)
    message = str(caught.value)
    assert html.escape("<b>x</b>", quote=False) in message
    assert "<" not in message and ">" not in message


@pytest.mark.parametrize(
    ("endpoint", "arguments"),
    [
        pytest.param(
            "/features",
            {"image": handle_file(ASSET), "operation": "Canny edges", "canny_low": 10**400},
            id="features-huge-integer",
        ),
        pytest.param("/caption", {"image": handle_file(ASSET), "num_beams": 10**400}, id="caption-huge-integer"),
        pytest.param("/caption", {"image": handle_file(ASSET), "model": ["base"]}, id="caption-model-list"),
        pytest.param("/classify", {"image": handle_file(ASSET), "labels": 5}, id="classify-labels-number"),
        pytest.param(
            "/classify",
            {"image": handle_file(ASSET), "labels": "cat, dog", "threshold": [1]},
            id="classify-threshold-list",
        ),
        pytest.param(
            "/classify",
            {"image": handle_file(ASSET), "labels": "cat, dog", "threshold": 10**400},
            id="classify-threshold-huge-integer",
        ),
        pytest.param(
            "/generate",
            {"prompt": "a cat", "steps": 1, "seed": 10**400},
            id="generate-seed-huge-integer",
        ),
    ],
)
def test_values_of_the_wrong_type_or_size_get_a_message(client, endpoint: str, arguments: dict[str, Any]) -> None:
    """A client may send any JSON value for any parameter: the answer says what is wrong, not "went wrong"."""
    with pytest.raises(AppError) as caught:
        client.predict(**arguments, api_name=endpoint)
    assert not str(caught.value).startswith("Something went wrong")
