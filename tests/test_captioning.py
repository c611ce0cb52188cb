"""Captioning and VQA against transformers' own ``generate`` on the tiny BLIP twins, then through the API."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from fusion import captioning
from fusion.captioning import AnswerOptions, CaptionOptions
from fusion.ui import captioning as panel_module

PREFIX = "a photography of"


@pytest.fixture(scope="module")
def pictures() -> list[Image.Image]:
    """Five noise pictures of different sizes (the processor resizes them all)."""
    rng = np.random.default_rng(7)
    sizes = [(40, 50), (64, 64), (33, 90), (120, 80), (16, 16)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes]


@pytest.fixture(scope="module")
def caption_bundle(tiny_cache: Any) -> Any:
    return tiny_cache.get("caption")


def direct_captions(
    bundle: Any, pictures: list[Image.Image], text: str | None = None, **kwargs: Any
) -> list[str]:
    """What calling transformers directly gives: processor -> model.generate -> batch_decode."""
    texts = None if text is None else [text] * len(pictures)
    inputs = bundle.processor(images=pictures, text=texts, return_tensors="pt")
    with torch.inference_mode():
        ids = bundle.model.generate(**inputs, **kwargs)
    return bundle.processor.batch_decode(ids, skip_special_tokens=True)


def flat(result: captioning.CaptionResult) -> list[str]:
    return [text for candidates in result.captions for text in candidates]


# ------------------------------------------------------------------------------------ identical to generate
COMMON = {"min_new_tokens": 4, "max_new_tokens": 12, "repetition_penalty": 1.3, "no_repeat_ngram_size": 2}
MODES = {
    "greedy": (
        CaptionOptions(mode="greedy", **COMMON),
        {"do_sample": False, "num_beams": 1, **COMMON},
    ),
    "beam": (
        CaptionOptions(mode="beam", num_beams=4, length_penalty=0.5, num_candidates=3, **COMMON),
        {"do_sample": False, "num_beams": 4, "length_penalty": 0.5, "num_return_sequences": 3, **COMMON},
    ),
    "sampling": (
        CaptionOptions(mode="sampling", top_p=0.8, temperature=0.7, num_candidates=2, seed=5, **COMMON),
        {
            "do_sample": True,
            "top_p": 0.8,
            "temperature": 0.7,
            "top_k": 0,
            "num_return_sequences": 2,
            **COMMON,
        },
    ),
}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("prefix", ["", PREFIX])
def test_every_mode_matches_generate(
    tiny_cache: Any, caption_bundle: Any, pictures: list[Image.Image], mode: str, prefix: str
) -> None:
    options, kwargs = MODES[mode]
    options = CaptionOptions(**{**options.__dict__, "prefix": prefix})
    result = captioning.caption(pictures[:3], options, cache=tiny_cache)
    torch.manual_seed(options.seed)
    expected = direct_captions(caption_bundle, pictures[:3], prefix or None, **kwargs)
    assert flat(result) == expected
    assert [len(candidates) for candidates in result.captions] == [options.num_candidates] * 3
    assert result.notices == ()
    if prefix:
        assert all(text.startswith(PREFIX) for text in flat(result))


def test_default_options_are_greedy_and_match_generate(
    tiny_cache: Any, caption_bundle: Any, pictures: list[Image.Image]
) -> None:
    result = captioning.caption([np.asarray(pictures[0])], cache=tiny_cache)
    assert flat(result) == direct_captions(caption_bundle, pictures[:1], do_sample=False, max_new_tokens=20)
    assert len(flat(result)[0].split()) >= 2  # the tiny vocabulary decodes to words


def test_any_image_layout_goes_through_the_image_decoder(
    tiny_cache: Any, pictures: list[Image.Image]
) -> None:
    gray = np.asarray(pictures[1].convert("L"))
    as_rgb = np.repeat(gray[:, :, None], 3, axis=2)
    tiny = np.random.default_rng(3).integers(0, 256, (3, 3, 3), dtype=np.uint8)  # looks channel-first
    result = captioning.caption([gray, Image.fromarray(gray), tiny], cache=tiny_cache)
    expected = captioning.caption([as_rgb, as_rgb, Image.fromarray(tiny)], cache=tiny_cache)
    assert result == expected


def test_large_model_is_its_own_cache_key(tiny_cache: Any, pictures: list[Image.Image]) -> None:
    captioning.caption(pictures[:1], CaptionOptions(model="large"), cache=tiny_cache)
    resident = {stats.key for stats in tiny_cache.stats().models if stats.resident}
    assert "caption-large" in resident


# ------------------------------------------------------------------------------------------------- batches
class GenerateSpy:
    """Counts ``generate`` calls and their batch sizes while delegating to the real method."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.real = model.generate
        self.batch_sizes: list[int] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.batch_sizes.append(kwargs["pixel_values"].shape[0])
        return self.real(**kwargs)


@pytest.fixture
def generate_spy(caption_bundle: Any) -> Iterator[GenerateSpy]:
    spy = GenerateSpy(caption_bundle.model)
    caption_bundle.model.generate = spy
    try:
        yield spy
    finally:
        del caption_bundle.model.generate


def test_batch_is_one_generate_per_batch_and_equals_single_images(
    tiny_cache: Any, pictures: list[Image.Image], generate_spy: GenerateSpy
) -> None:
    options = CaptionOptions(batch_size=3, prefix=PREFIX)
    batched = captioning.caption(pictures, options, cache=tiny_cache)
    assert generate_spy.batch_sizes == [3, 2]
    singles = [captioning.caption([picture], options, cache=tiny_cache).captions[0] for picture in pictures]
    assert list(batched.captions) == singles


def test_sampling_is_reproducible_and_leaves_global_rng_alone(
    tiny_cache: Any, pictures: list[Image.Image]
) -> None:
    options = CaptionOptions(mode="sampling", num_candidates=3, seed=11)
    state = torch.get_rng_state()
    first = captioning.caption(pictures[:2], options, cache=tiny_cache)
    assert torch.equal(torch.get_rng_state(), state)
    assert captioning.caption(pictures[:2], options, cache=tiny_cache) == first
    other = captioning.caption(
        pictures[:2], CaptionOptions(mode="sampling", num_candidates=3, seed=12), cache=tiny_cache
    )
    assert other.captions != first.captions


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("options", "field", "value", "notice"),
    [
        (CaptionOptions(mode="sampling", top_p=7), "top_p", 1.0, "top_p 7"),
        (CaptionOptions(mode="sampling", temperature=0), "temperature", 0.05, "temperature 0"),
        (CaptionOptions(max_new_tokens=10_000), "max_new_tokens", 100, "max_new_tokens 10000"),
        (
            CaptionOptions(min_new_tokens=30, max_new_tokens=10),
            "min_new_tokens",
            10,
            "min_new_tokens was above",
        ),
        (CaptionOptions(num_candidates=4), "num_candidates", 1, "Greedy decoding gives one"),
        (CaptionOptions(mode="beam", num_beams=1), "num_beams", 2, "at least 2 beams"),
        (
            CaptionOptions(mode="beam", num_beams=3, num_candidates=5),
            "num_candidates",
            3,
            "one caption per beam",
        ),
        (CaptionOptions(batch_size=0), "batch_size", 1, "batch_size 0"),
        (CaptionOptions(repetition_penalty=-1), "repetition_penalty", 1.0, "repetition_penalty -1"),
        (CaptionOptions(prefix="ab" * 2500), "prefix", "ab" * 150, "5,000 characters"),
    ],
)
def test_out_of_range_values_are_clamped_with_a_notice(
    options: CaptionOptions, field: str, value: Any, notice: str
) -> None:
    fixed, notices = captioning.validate_caption_options(options)
    assert getattr(fixed, field) == value
    assert any(notice in text for text in notices), notices


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (CaptionOptions(mode="creative"), "Unknown decoding mode"),  # type: ignore[arg-type]
        (CaptionOptions(model="huge"), "Unknown caption model"),  # type: ignore[arg-type]
        (CaptionOptions(top_p=math.nan), "finite"),
        (CaptionOptions(num_beams="many"), "must be a number"),  # type: ignore[arg-type]
        (CaptionOptions(seed=-1), "seed"),
    ],
)
def test_meaningless_values_are_refused(options: CaptionOptions, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        captioning.validate_caption_options(options)


def test_long_prefix_still_captions(tiny_cache: Any, pictures: list[Image.Image]) -> None:
    result = captioning.caption(pictures[:1], CaptionOptions(prefix="a " + "cat " * 1250), cache=tiny_cache)
    assert len(result.captions[0]) == 1
    assert any("only the first 300" in notice for notice in result.notices)


def test_no_images_is_a_clear_error(tiny_cache: Any) -> None:
    with pytest.raises(ValueError, match="No image to caption"):
        captioning.caption([], cache=tiny_cache)


# ---------------------------------------------------------------------------------------------------- VQA
def test_answer_matches_vqa_generate(tiny_cache: Any, pictures: list[Image.Image]) -> None:
    question = "How many cats are in the picture?"
    result = captioning.answer(
        np.asarray(pictures[1]), question, AnswerOptions(max_new_tokens=6), cache=tiny_cache
    )
    vqa = tiny_cache.get("vqa")
    inputs = vqa.processor(images=[pictures[1]], text=[question], return_tensors="pt")
    with torch.inference_mode():
        ids = vqa.model.generate(**inputs, max_new_tokens=6, num_beams=1)
    assert result.answer == vqa.processor.batch_decode(ids, skip_special_tokens=True)[0].strip()
    assert result.answer
    assert result.question == question


@pytest.mark.parametrize("question", ["", "   \n"])
def test_empty_question_is_refused(tiny_cache: Any, pictures: list[Image.Image], question: str) -> None:
    with pytest.raises(ValueError, match="Type a question"):
        captioning.answer(pictures[0], question, cache=tiny_cache)


def test_long_question_is_shortened_with_a_notice(tiny_cache: Any, pictures: list[Image.Image]) -> None:
    result = captioning.answer(pictures[0], "what" * 1250, cache=tiny_cache)
    assert len(result.question) <= captioning.MAX_QUESTION_CHARS
    assert any("5,000 characters" in notice for notice in result.notices)


# ------------------------------------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("a photography of two cats sitting on a red couch", "cat, couch"),
        ("a man riding a horse next to buildings and a dog", "man, horse, building, dog"),
        ("there is a dog and a dog and dogs", "dog"),
        ("butterflies on boxes near the ceiling, quickly", "butterfly, box, ceiling"),
        ("", ""),
    ],
)
def test_suggest_labels_keeps_nouns(text: str, labels: str) -> None:
    assert captioning.suggest_labels(text) == labels


def test_suggest_labels_caps_the_count() -> None:
    assert (
        captioning.suggest_labels("cat dog horse car bus tree house boat", max_labels=3) == "cat, dog, horse"
    )


# ------------------------------------------------------------------------------------------------- the API
def test_event_function_refuses_a_missing_image(tiny_settings: Any, tiny_cache: Any) -> None:
    caption_event, _batch = panel_module.make_caption_events(
        tiny_settings, lambda pixels, options: captioning.caption(pixels, options, cache=tiny_cache)
    )
    with pytest.raises(gr.Error, match="No image was given"):
        caption_event(None)


# The API tests use the whole app's `client` (tests/conftest.py), which wires this panel to the tiny cache.
@pytest.fixture(scope="module")
def image_files(tmp_path_factory: pytest.TempPathFactory, pictures: list[Image.Image]) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("uploads")
    files = {}
    for index, picture in enumerate(pictures[:2]):
        files[f"good{index}"] = folder / f"good{index}.png"
        picture.save(files[f"good{index}"])
    files["corrupt"] = folder / "corrupt.png"
    files["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    return files


def test_api_caption_defaults_to_one_greedy_caption(
    client: Client, tiny_cache: Any, image_files: dict[str, Path]
) -> None:
    text = client.predict(image=handle_file(image_files["good0"]), api_name="/caption")
    expected = captioning.caption([Image.open(image_files["good0"]).convert("RGB")], cache=tiny_cache)
    assert text == expected.captions[0][0]


def test_api_caption_returns_a_list_for_several_candidates(
    client: Client, image_files: dict[str, Path]
) -> None:
    texts = client.predict(
        image=handle_file(image_files["good0"]),
        prefix="x" * 5000,
        mode="beam",
        num_beams=4,
        num_candidates=3,
        api_name="/caption",
    )
    assert isinstance(texts, list)
    assert len(texts) == 3


def test_api_caption_batch_skips_unreadable_files(client: Client, image_files: dict[str, Path]) -> None:
    entries = client.predict(
        files=[handle_file(image_files[name]) for name in ("good0", "corrupt", "good1")],
        batch_size=2,
        api_name="/caption_batch",
    )
    assert [entry["file"] for entry in entries] == ["good0.png", "good1.png"]
    single = client.predict(image=handle_file(image_files["good1"]), api_name="/caption")
    assert entries[1]["caption"] == single


def test_api_answer_and_suggest_labels(client: Client, image_files: dict[str, Path]) -> None:
    answer = client.predict(
        image=handle_file(image_files["good1"]), question="Is it a cat?", api_name="/answer"
    )
    assert isinstance(answer, str)
    assert answer
    assert client.predict(caption="two dogs on a beach", api_name="/suggest_labels") == "dog, beach"


@pytest.mark.parametrize(
    ("endpoint", "arguments", "message"),
    [
        ("/caption", {"image": "corrupt"}, "not an image this app can read"),
        ("/caption", {"image": None}, "No image was given"),
        ("/caption", {"image": "good0", "mode": "creative"}, "Unknown decoding mode"),
        ("/answer", {"image": "good0", "question": "  "}, "Type a question"),
        ("/caption_batch", {"files": ["corrupt"]}, "None of the files could be read"),
    ],
)
def test_api_bad_input_is_a_clear_error_and_the_app_keeps_serving(
    client: Client, image_files: dict[str, Path], endpoint: str, arguments: dict[str, Any], message: str
) -> None:
    def upload(value: Any) -> Any:
        if isinstance(value, list):
            return [upload(item) for item in value]
        return handle_file(image_files[value]) if value in image_files else value

    with pytest.raises(AppError, match=message):
        client.predict(**{name: upload(value) for name, value in arguments.items()}, api_name=endpoint)
    assert client.predict(image=handle_file(image_files["good0"]), api_name="/caption")
