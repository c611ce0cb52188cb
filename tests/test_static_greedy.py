"""Fixed-shape greedy BLIP decoding against transformers' own ``generate`` on the tiny BLIP twin (CPU, so
without CUDA graphs: the graphs replay these very calls, and ``benchmarks/gpu.py`` compares them on a GPU)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from fusion import captioning, static_greedy
from fusion.cache import ModelCache
from fusion.config import Settings, settings_from_env
from fusion.static_greedy import LENGTH_STEP, greedy_caption_ids


@pytest.fixture(scope="module")
def bundle(tiny_cache: Any) -> Any:
    return tiny_cache.get("caption")


@pytest.fixture(scope="module")
def pictures() -> list[Image.Image]:
    rng = np.random.default_rng(11)
    return [Image.fromarray(rng.integers(0, 256, (48, 40 + 8 * i, 3), dtype=np.uint8)) for i in range(3)]


def both(model: Any, inputs: Any, **options: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(generate's greedy ids, the fixed-shape loop's ids) for the same inputs and options."""
    with torch.inference_mode():
        expected = model.generate(**inputs, do_sample=False, num_beams=1, **options)
        found = greedy_caption_ids(model, inputs["pixel_values"], inputs.get("input_ids"), **options)
    return expected, found


PROCESSORS = {
    "plain": {},
    "min tokens, repetition penalty, n-gram ban": {
        "min_new_tokens": 5,
        "repetition_penalty": 1.4,
        "no_repeat_ngram_size": 2,
    },
}


@pytest.mark.parametrize("prefix", [None, "a photography of"])
@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("max_new_tokens", [7, LENGTH_STEP + 5])
@pytest.mark.parametrize("processors", list(PROCESSORS))
def test_same_ids_as_generate(
    bundle: Any, pictures: list[Image.Image], prefix: str | None, count: int, max_new_tokens: int, processors: str
) -> None:
    texts = None if prefix is None else [prefix] * count
    inputs = bundle.processor(images=pictures[:count], text=texts, return_tensors="pt")
    expected, found = both(bundle.model, inputs, max_new_tokens=max_new_tokens, **PROCESSORS[processors])
    assert torch.equal(found, expected)


def test_rows_that_end_early_are_padded_and_the_loop_stops_when_all_end(
    bundle: Any, pictures: list[Image.Image]
) -> None:
    """Rows with different prompts and a raised end-of-sequence bias end at different steps; the padding after
    an early end and the stop once every row has ended must match ``generate`` too."""
    model = copy.deepcopy(bundle.model)
    text_config = model.config.text_config
    eos = text_config.sep_token_id
    inputs = bundle.processor(images=[pictures[0]] * 4, return_tensors="pt")
    inputs["input_ids"] = torch.tensor([[text_config.bos_token_id, 10 + 7 * i, 20 + 5 * i, eos] for i in range(4)])
    bias = model.text_decoder.cls.predictions.bias
    lengths = set()
    for boost in (0.14, 0.16, 0.18, 0.2, 0.22):  # near the edge where rows start to end early
        with torch.no_grad():
            bias[eos] = bundle.model.text_decoder.cls.predictions.bias[eos] + boost
        expected, found = both(model, inputs, max_new_tokens=30)
        assert torch.equal(found, expected)
        lengths |= {int((row != eos).cumprod(0).sum()) for row in expected}
    assert len(lengths) > 2  # rows did end at different steps, some before the last one


def test_only_plain_greedy_on_a_dedicated_cuda_gpu_uses_it() -> None:
    greedy = captioning.CaptionOptions()
    gpu = Settings(device="cuda")
    assert captioning.uses_cuda_graphs(gpu, torch.device("cuda"), greedy)
    assert not captioning.uses_cuda_graphs(gpu, torch.device("cpu"), greedy)
    assert not captioning.uses_cuda_graphs(Settings(device="cuda", zero_gpu=True), torch.device("cuda"), greedy)
    assert not captioning.uses_cuda_graphs(Settings(caption_graphs=False), torch.device("cuda"), greedy)
    for mode in ("beam", "sampling"):
        assert not captioning.uses_cuda_graphs(gpu, torch.device("cuda"), captioning.CaptionOptions(mode=mode))
    assert settings_from_env({}).caption_graphs and not settings_from_env({"FUSION_CAPTION_GRAPHS": "0"}).caption_graphs
    with pytest.raises(ValueError, match="FUSION_CAPTION_GRAPHS must be 1"):
        settings_from_env({"FUSION_CAPTION_GRAPHS": "yes please"})


def test_a_model_that_cannot_be_recorded_falls_back_to_generate_once_and_for_all(
    bundle: Any, pictures: list[Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording needs CUDA, so on the CPU every recording fails, as it would with a forward that syncs."""
    attempts = []

    def failing_recording(fn: Any, *examples: torch.Tensor) -> None:
        attempts.append(len(examples))
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(static_greedy, "CapturedCall", failing_recording)
    model = copy.deepcopy(bundle.model)  # the shared twin must stay recordable for the other tests
    fallback = type(bundle)(model=model, processor=bundle.processor)
    options = captioning.CaptionOptions(max_new_tokens=9)
    inputs = bundle.processor(images=pictures[:2], return_tensors="pt")
    expected, _ = both(model, inputs, max_new_tokens=9)
    for _ in range(2):
        assert torch.equal(captioning._generate(fallback, inputs, options, cuda_graphs=True), expected)
    assert attempts == [1]  # tried once, then never again for this model
    assert not static_greedy.can_record(model) and static_greedy.can_record(bundle.model)


def test_recorded_graphs_are_kept_counted_and_dropped_by_the_cache(
    tiny_settings: Settings, pictures: list[Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording needs CUDA: a stand-in recording calls the function itself and says it keeps 1,000 bytes."""
    recordings = []

    class Recording:
        bytes = 1000

        def __init__(self, fn: Any, *examples: torch.Tensor) -> None:
            self.fn = fn
            recordings.append(self)

        def __call__(self, *inputs: torch.Tensor) -> Any:
            return self.fn(*inputs)

    monkeypatch.setattr(static_greedy, "CapturedCall", Recording)
    cache = ModelCache(tiny_settings)
    keeper = static_greedy.kept_by(cache, "caption")
    with cache.use("caption") as bundle:

        def replayed(pixel_values: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return greedy_caption_ids(
                    bundle.model, pixel_values, max_new_tokens=5, cuda_graphs=True, keeper=keeper
                )

        for count in (1, 1, 2, 3, 1, 2, 3):
            inputs = bundle.processor(images=pictures[:count], return_tensors="pt")
            expected, _ = both(bundle.model, inputs, max_new_tokens=5)
            assert torch.equal(replayed(inputs["pixel_values"]), expected)
        assert len(recordings) == 6, "a vision and a decoder graph per batch size, each recorded once"
        graphs = [derived for derived in cache.stats().derived if derived.kind == "CUDA graph"]
        assert [(graph.models, graph.bytes) for graph in graphs] == 6 * [(("caption",), 1000)]
        assert {graph.key.split(",")[0] for graph in graphs} == {"vision", "decoder"}, "readable keys"
        (caption,) = [model for model in cache.stats().models if model.key == "caption"]
        assert (caption.derived_bytes, caption.total_bytes) == (6000, caption.bytes + 6000)
        for count in (4, 5):  # beyond MAX_GRAPHS_PER_MODEL, the least recently used go
            replayed(bundle.processor(images=(pictures * 2)[:count], return_tensors="pt")["pixel_values"])
        assert len(cache.stats().derived) == static_greedy.MAX_GRAPHS_PER_MODEL
    assert cache.evict("caption") and cache.stats().derived == ()
