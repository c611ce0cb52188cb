"""Int8 text decoders on the CPU: the layer against torch's own linear, which layers are converted, when, and the
captioner through the cache with them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fusion import captioning
from fusion.cache import ModelCache
from fusion.captioning import CaptionOptions
from fusion.config import Settings, settings_from_env
from fusion.quantization import (
    ENCODER_PROJECTIONS,
    Int8Linear,
    int8_decoders_active,
    prepare_text_decoder,
    quantize_linears,
)
from fusion.registry import ModelBundle, get_spec
from fusion.tiny import ensure_tiny

CPU = torch.device("cpu")


def _linear(in_features: int, out_features: int, seed: int = 0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(in_features, out_features).to(torch.bfloat16).requires_grad_(False)


@pytest.mark.parametrize(("rows", "in_features", "out_features"), [(1, 768, 768), (5, 32, 37), (16, 48, 3072)])
def test_the_int8_layer_computes_torch_linear_of_its_rounded_weight(
    rows: int, in_features: int, out_features: int
) -> None:
    linear = _linear(in_features, out_features)
    layer = Int8Linear.from_linear(linear)
    hidden = torch.randn(2, rows, in_features, dtype=torch.bfloat16)
    expected = torch.nn.functional.linear(hidden.float(), layer.dequantized(), linear.bias.float())
    found = layer(hidden)
    assert found.shape == (2, rows, out_features) and found.dtype == torch.bfloat16
    # bfloat16 output: 8 significant bits, and sums accumulated in another order than float32's.
    torch.testing.assert_close(found.float(), expected, rtol=2e-2, atol=2e-2 * expected.abs().max().item())


def test_rounding_moves_each_weight_by_at_most_half_a_step_of_its_row() -> None:
    """A step is a row's largest weight over 127, give or take its bfloat16 rounding (2**-8)."""
    linear = _linear(64, 48)
    layer = Int8Linear.from_linear(linear)
    step = linear.weight.float().abs().amax(dim=1, keepdim=True) / 127
    error = (layer.dequantized() - linear.weight.float()).abs()
    assert layer.int8_weight.dtype == torch.int8 and int(layer.int8_weight.abs().max()) >= 126
    assert bool((error <= 0.5 * step * (1 + 2**-7)).all())
    assert 0.2 * float(step.mean()) < float(error.mean()) < 0.3 * float(step.mean())  # uniform rounding: a quarter


@pytest.mark.parametrize("in_features", [37, 40, 8])
def test_widths_the_kernel_cannot_take_are_refused(in_features: int) -> None:
    with pytest.raises(ValueError, match="a multiple of 16 inputs"):
        Int8Linear.from_linear(_linear(in_features, 32))


def test_a_row_of_zeros_stays_zero() -> None:
    linear = _linear(16, 4)
    with torch.no_grad():
        linear.weight[1] = 0
    layer = Int8Linear.from_linear(linear)
    assert torch.isfinite(layer.scales.float()).all()
    assert not layer.int8_weight[1].any()


def _tiny_captioner(tiny_dir, dtype: torch.dtype):
    from transformers import BlipForConditionalGeneration

    folder = ensure_tiny(get_spec("caption"), tiny_dir / "caption")
    return BlipForConditionalGeneration.from_pretrained(folder, dtype=dtype)


def test_every_linear_but_the_encoder_projections_is_converted(tiny_dir) -> None:
    model = _tiny_captioner(tiny_dir, torch.bfloat16)
    linears = [name for name, module in model.text_decoder.named_modules() if isinstance(module, torch.nn.Linear)]
    replaced = quantize_linears(model.text_decoder, skip=ENCODER_PROJECTIONS)
    kept = {name for name in linears if name not in replaced}
    widths = {name: model.text_decoder.get_submodule(name).in_features for name in kept}
    assert replaced and kept and all(name.endswith(ENCODER_PROJECTIONS) or widths[name] % 16 for name in kept)
    assert any(name.endswith(ENCODER_PROJECTIONS) for name in kept) and any(widths[name] == 37 for name in kept)
    assert "cls.predictions.decoder" in replaced  # the output layer, the largest of them
    assert all(isinstance(model.text_decoder.get_submodule(name), Int8Linear) for name in replaced)
    assert not any(isinstance(module, Int8Linear) for module in model.vision_model.modules())


@pytest.mark.parametrize(
    ("enabled", "device", "dtype", "active"),
    [
        (True, "cpu", torch.bfloat16, True),
        (False, "cpu", torch.bfloat16, False),
        (True, "cpu", torch.float32, False),
        (True, "cuda", torch.bfloat16, False),
        (True, "cuda", torch.float16, False),
    ],
)
def test_int8_decoders_run_on_the_cpu_in_bfloat16_only(
    enabled: bool, device: str, dtype: torch.dtype, active: bool
) -> None:
    assert int8_decoders_active(Settings(int8_decoders=enabled), torch.device(device), dtype) is active


def test_the_environment_switches_them_off() -> None:
    assert settings_from_env({}).int8_decoders is True
    assert settings_from_env({"FUSION_INT8_DECODERS": "0"}).int8_decoders is False


def test_the_load_hook_leaves_a_float32_model_alone(tiny_dir) -> None:
    model = _tiny_captioner(tiny_dir, torch.float32)
    prepare_text_decoder(ModelBundle(model=model, processor=None), Settings())
    assert not any(isinstance(module, Int8Linear) for module in model.modules())


@pytest.fixture(scope="module")
def bfloat16_caches(tiny_settings: Settings):
    """The tiny captioner in bfloat16 through the cache, with int8 decoders and without."""
    settings = replace(tiny_settings, dtype="bfloat16")
    int8, full = ModelCache(settings), ModelCache(replace(settings, int8_decoders=False))
    yield int8, full
    int8.evict_unused()
    full.evict_unused()


@pytest.mark.parametrize("key", ["caption", "vqa"])
def test_the_cache_loads_bfloat16_decoders_with_int8_weights_and_counts_them(bfloat16_caches, key: str) -> None:
    int8, full = bfloat16_caches
    with int8.use(key) as bundle:
        assert any(isinstance(module, Int8Linear) for module in bundle.model.text_decoder.modules())
    with full.use(key) as bundle:
        assert not any(isinstance(module, Int8Linear) for module in bundle.model.modules())
    int8_bytes = next(model.bytes for model in int8.stats().models if model.key == key)
    full_bytes = next(model.bytes for model in full.stats().models if model.key == key)
    assert 0 < int8_bytes < full_bytes
    picture = np.random.default_rng(6).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    if key == "vqa":
        assert isinstance(captioning.answer(picture, "what is it?", cache=int8).answer, str)
    else:
        assert captioning.caption([picture, picture], CaptionOptions(mode="beam"), cache=int8).captions[1]


def test_an_int8_decoder_predicts_what_its_rounded_weights_predict_in_bfloat16(bfloat16_caches) -> None:
    """Teacher-forced logits of the int8 decoder against the same model whose linears hold the rounded weights in
    bfloat16 (torch's own linear): the kernel, not the rounding, is what this compares."""
    int8, full = bfloat16_caches
    picture = np.random.default_rng(5).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    options = CaptionOptions(min_new_tokens=8, max_new_tokens=8)
    assert captioning.caption([picture], options, cache=int8).captions[0][0]
    with int8.use("caption") as quantized, full.use("caption") as reference:
        for name, module in quantized.model.text_decoder.named_modules():
            if isinstance(module, Int8Linear):
                reference.model.text_decoder.get_submodule(name).weight.data = module.dequantized().to(torch.bfloat16)
        pixels = quantized.processor(images=[picture], return_tensors="pt")["pixel_values"].to(torch.bfloat16)
        ids = torch.tensor([[quantized.model.config.text_config.bos_token_id, 5, 9, 11, 7]])
        found = quantized.model(pixel_values=pixels, input_ids=ids).logits.float()
        expected = reference.model(pixel_values=pixels, input_ids=ids).logits.float()
    full.evict("caption")  # its weights were changed for this test
    torch.testing.assert_close(found, expected, rtol=0.05, atol=0.05 * expected.abs().max().item())
