"""Text-to-image on the tiny Stable Diffusion twins: equal to diffusers' own pipelines, safety, PNG
parameters, Stop and deadline, clamping notices, and the ``generate`` API through gradio_client."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline
from PIL import Image

from fusion import generation, images
from fusion.cache import ModelCache
from fusion.config import Settings
from fusion.generation import GenerationOptions, StepUpdate

PROMPT = "a photo of a red house"


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def direct_pipeline(cache: ModelCache, pipeline_class: type, model: str, scheduler: str) -> object:
    """diffusers' own pipeline around the cached components, with the scheduler the wrapper should use."""
    base = cache.get(model)
    preset = generation.MODELS[model]
    fresh = generation.make_scheduler(scheduler, base.scheduler.config, preset.scheduler_config)
    return pipeline_class(**{**base.components, "scheduler": fresh}, requires_safety_checker=False)


def seeded(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]


# --------------------------------------------------------------------------------------- equal to diffusers
def test_same_seed_gives_the_pixels_of_the_diffusers_pipeline(tiny_cache: ModelCache) -> None:
    options = GenerationOptions(prompt=PROMPT, negative_prompt="blurry", steps=3, seed=11, num_images=2)
    result = generation.generate(options, cache=tiny_cache)
    direct = direct_pipeline(tiny_cache, StableDiffusionPipeline, "sd15", "DPM++ 2M")
    expected = direct(
        PROMPT,
        negative_prompt="blurry",
        num_inference_steps=3,
        guidance_scale=7.0,
        num_images_per_prompt=2,
        generator=seeded(11, 12),
    ).images
    assert result.seeds == (11, 12)
    assert result.flagged == (False, False)
    for ours, theirs in zip(result.images, expected, strict=True):
        np.testing.assert_array_equal(pixels(ours), pixels(theirs))


def test_each_image_of_a_batch_is_reproducible_alone_from_its_seed(tiny_cache: ModelCache) -> None:
    batch = generation.generate(
        GenerationOptions(prompt=PROMPT, steps=2, seed=5, num_images=3), cache=tiny_cache
    )
    alone = generation.generate(GenerationOptions(prompt=PROMPT, steps=2, seed=7), cache=tiny_cache)
    difference = np.abs(pixels(batch.images[2]).astype(int) - pixels(alone.images[0]).astype(int))
    assert difference.max() <= 1, "equal up to batched floating-point rounding"
    assert "Seed: 7," in batch.parameters[2]


def test_different_seeds_give_different_images(tiny_cache: ModelCache) -> None:
    first, second = (
        generation.generate(GenerationOptions(prompt=PROMPT, steps=2, seed=seed), cache=tiny_cache)
        for seed in (1, 2)
    )
    assert np.abs(pixels(first.images[0]).astype(int) - pixels(second.images[0]).astype(int)).mean() > 1


@pytest.mark.parametrize("scheduler", list(generation.SCHEDULERS))
def test_every_scheduler_matches_diffusers_with_that_scheduler(
    tiny_cache: ModelCache, scheduler: str
) -> None:
    options = GenerationOptions(prompt=PROMPT, scheduler=scheduler, steps=3, guidance=5.0, seed=3)
    result = generation.generate(options, cache=tiny_cache)
    direct = direct_pipeline(tiny_cache, StableDiffusionPipeline, "sd15", scheduler)
    expected = direct(PROMPT, num_inference_steps=3, guidance_scale=5.0, generator=seeded(3)).images[0]
    np.testing.assert_array_equal(pixels(result.images[0]), pixels(expected))
    assert f"Sampler: {scheduler}," in result.parameters[0]
    assert type(tiny_cache.get("sd15").scheduler).__name__ == "PNDMScheduler", (
        "the cached scheduler was replaced"
    )


def test_concurrent_calls_give_the_images_of_sequential_ones(tiny_cache: ModelCache) -> None:
    options = [
        GenerationOptions(prompt=f"{PROMPT} {'at dusk ' * index}", steps=3, seed=index, scheduler=scheduler)
        for index in range(4)
        for scheduler in ("Euler a", "DPM++ 2M")
    ]
    sequential = [pixels(generation.generate(option, cache=tiny_cache).images[0]) for option in options]
    concurrent: list[np.ndarray | None] = [None] * len(options)

    def run(index: int) -> None:
        concurrent[index] = pixels(generation.generate(options[index], cache=tiny_cache).images[0])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(options))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for expected, got in zip(sequential, concurrent, strict=True):
        assert got is not None
        np.testing.assert_array_equal(got, expected)


def test_concurrent_calls_share_weights_but_no_per_call_state(tiny_cache: ModelCache) -> None:
    """A shared fast tokenizer's padding state races between threads (seen as mismatched prompt embeddings),
    as would a shared scheduler's step state."""
    resolved, _ = generation.normalise_options(GenerationOptions(), native_size=64)
    with (
        tiny_cache.use("sd15") as base,
        generation.borrow_pipeline(tiny_cache, resolved, controlled=False) as first,
        generation.borrow_pipeline(tiny_cache, resolved, controlled=False) as second,
    ):
        assert first.unet is second.unet is base.unet
        assert len({id(first.tokenizer), id(second.tokenizer), id(base.tokenizer)}) == 3
        assert len({id(first.scheduler), id(second.scheduler), id(base.scheduler)}) == 3


def test_pooled_pipelines_do_not_keep_an_evicted_model_alive(tiny_settings: Settings) -> None:
    import gc
    import weakref

    cache = ModelCache(tiny_settings)
    generation.generate(GenerationOptions(prompt=PROMPT, steps=1, seed=0), cache=cache)
    unet = weakref.ref(cache.get("sd15").unet)
    assert cache.evict("sd15")
    gc.collect()
    assert unet() is None


def test_turbo_defaults_and_trailing_spacing(tiny_cache: ModelCache) -> None:
    result = generation.generate(GenerationOptions(prompt=PROMPT, model="sd-turbo", seed=0), cache=tiny_cache)
    assert (result.options.steps, result.options.guidance, result.options.scheduler) == (1, 0.0, "Euler a")
    direct = direct_pipeline(tiny_cache, StableDiffusionPipeline, "sd-turbo", "Euler a")
    expected = direct(PROMPT, num_inference_steps=1, guidance_scale=0.0, generator=seeded(0)).images[0]
    np.testing.assert_array_equal(pixels(result.images[0]), pixels(expected))
    pipe = generation.build_pipeline(tiny_cache.get("sd-turbo"), result.options)
    pipe.scheduler.set_timesteps(1)
    assert int(pipe.scheduler.timesteps[0]) == 999, "one Turbo step must start from pure noise"
    sd15 = generation.generate(GenerationOptions(prompt=PROMPT, steps=1, seed=0), cache=tiny_cache)
    assert (sd15.options.steps, sd15.options.guidance, sd15.options.scheduler) == (1, 7.0, "DPM++ 2M")


def test_large_images_are_decoded_in_tiles(tiny_cache: ModelCache) -> None:
    options = GenerationOptions(prompt=PROMPT, model="sd-turbo", width=800, height=776, seed=0)
    assert generation.TILED_DECODE_AREA < 800 * 776
    result = generation.generate(options, cache=tiny_cache)
    assert result.images[0].size == (800, 776) and pixels(result.images[0]).std() > 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_to_bytes_gives_the_pixels_of_diffusers_postprocess(tiny_cache: ModelCache, dtype: torch.dtype) -> None:
    pipe = tiny_cache.get("sd15")
    decoded = torch.rand(2, 3, 24, 40, generator=torch.Generator().manual_seed(3)) * 2.4 - 1.2
    on_the_half = (torch.arange(256) + 0.5) / 255 * 2 - 1  # values that land on .5 before rounding
    decoded[0, 0, 0, :] = on_the_half[:40]
    decoded = decoded.to(dtype)
    expected = pipe.image_processor.postprocess(decoded, output_type="pil")
    found = generation.to_pil(generation.to_bytes(pipe, decoded))
    assert [np.array_equal(pixels(a), pixels(b)) for a, b in zip(found, expected, strict=True)] == [True, True]


def test_pipelines_find_their_device_from_the_unet_weights(tiny_cache: ModelCache) -> None:
    from diffusers import StableDiffusionPipeline

    pipe = generation.build_pipeline(tiny_cache.get("sd-turbo"), GenerationOptions(model="sd-turbo"))
    assert isinstance(pipe, StableDiffusionPipeline) and type(pipe).__name__ == "StableDiffusionPipeline"
    assert pipe._execution_device == torch.device("cpu") == StableDiffusionPipeline._execution_device.fget(pipe)


def test_img2img_matches_the_diffusers_img2img_pipeline(tiny_cache: ModelCache) -> None:
    init = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    options = GenerationOptions(prompt=PROMPT, steps=4, seed=9, init_image=init, strength=0.5)
    result = generation.generate(options, cache=tiny_cache)
    direct = direct_pipeline(tiny_cache, StableDiffusionImg2ImgPipeline, "sd15", "DPM++ 2M")
    expected = direct(
        PROMPT,
        image=Image.fromarray(init),
        strength=0.5,
        num_inference_steps=4,
        guidance_scale=7.0,
        generator=seeded(9),
    ).images[0]
    np.testing.assert_array_equal(pixels(result.images[0]), pixels(expected))
    assert result.steps_total == 2
    assert "Denoising strength: 0.5" in result.parameters[0]


def test_img2img_resizes_the_init_image_and_keeps_at_least_one_step(tiny_cache: ModelCache) -> None:
    init = np.full((100, 200, 3), 128, dtype=np.uint8)
    options = GenerationOptions(prompt=PROMPT, model="sd-turbo", init_image=init, strength=0.5, seed=1)
    result = generation.generate(options, cache=tiny_cache)
    assert result.images[0].size == (128, 64)  # 2:1 at about 64x64 px, the short side at the 64 px minimum
    assert result.options.steps == 2 and result.steps_total == 1
    assert any("using 2 steps" in notice for notice in result.notices)
    assert any("The output is 128x64: the init image's aspect ratio (200x100)" in n for n in result.notices)


@pytest.mark.parametrize(
    ("image", "native", "expected"),
    [
        ((1000, 1000), 512, (512, 512)),  # square: the model's own size
        ((768, 1024), 512, (440, 592)),  # portrait 3:4
        ((1024, 768), 512, (592, 440)),  # landscape 4:3
        ((1920, 1080), 512, (680, 384)),  # 16:9
        ((1080, 1920), 512, (384, 680)),  # 9:16
        ((2000, 200), 512, (1024, 104)),  # 10:1: the long side at the 1024 px limit, the ratio kept
        ((200, 2000), 512, (104, 1024)),
        ((10000, 10), 512, (1024, 64)),  # beyond 16:1: both limits, as close as they allow
        ((200, 100), 64, (128, 64)),  # a tiny model: the short side at the 64 px minimum, the ratio kept
    ],
)
def test_an_init_image_keeps_its_aspect_ratio_at_about_the_models_pixel_area(
    image: tuple[int, int], native: int, expected: tuple[int, int]
) -> None:
    width, height = generation.init_image_size(*image, native)
    assert (width, height) == expected
    assert width % 8 == height % 8 == 0
    low, high = generation.SIZE_RANGE
    assert low <= width <= high and low <= height <= high
    if low < min(expected) and max(expected) < high:
        assert abs(width / height - image[0] / image[1]) < 0.03 * image[0] / image[1]
        assert abs(width * height / native**2 - 1) < 0.02


def test_img2img_size_follows_the_init_image_unless_given_and_says_so() -> None:
    portrait = np.zeros((1024, 768, 3), dtype=np.uint8)
    resolved, notices = generation.normalise_options(GenerationOptions(init_image=portrait), native_size=512)
    assert (resolved.width, resolved.height) == (440, 592)
    assert any("The output is 440x592: the init image's aspect ratio (768x1024)" in n for n in notices)
    resolved, notices = generation.normalise_options(GenerationOptions(init_image=portrait, width=256), native_size=512)
    assert (resolved.width, resolved.height) == (256, 344)  # 256 * 4/3 = 341.3, to the nearest multiple of 8
    assert any("the side not given follows the init image's aspect ratio (768x1024)" in n for n in notices)
    given = GenerationOptions(init_image=portrait, width=512, height=512)
    resolved, notices = generation.normalise_options(given, native_size=512)
    assert (resolved.width, resolved.height) == (512, 512), "an explicit size wins"
    assert any("resized from 768x1024 to 512x512" in n for n in notices)
    assert not any("aspect ratio" in n for n in notices)
    same = GenerationOptions(init_image=portrait, width=768, height=1024)
    assert generation.normalise_options(same, native_size=512)[1] == ()
    resolved, notices = generation.normalise_options(GenerationOptions(), native_size=512)
    assert (resolved.width, resolved.height, notices) == (512, 512, ()), "no init image: the model's size"


# ------------------------------------------------------------------------------------------------- safety
@pytest.fixture(scope="module")
def flagging_cache(tiny_settings: Settings) -> ModelCache:
    """A cache of its own whose safety checker flags everything (the shared twin stays a normal checker)."""
    cache = ModelCache(tiny_settings)
    checker = cache.get(generation.SAFETY_KEY).model
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-1.0)
    return cache


def test_a_flagged_image_is_blurred_and_labelled_never_black(
    tiny_cache: ModelCache, flagging_cache: ModelCache
) -> None:
    options = GenerationOptions(prompt=PROMPT, model="sd-turbo", seed=4, width=128, height=128)
    clean = generation.generate(options, cache=tiny_cache)
    flagged = generation.generate(options, cache=flagging_cache)
    assert clean.flagged == (False,) and flagged.flagged == (True,)
    shown = pixels(flagged.images[0])
    assert shown.shape == pixels(clean.images[0]).shape
    assert shown.max() > 200, "the label is drawn in white"
    assert np.abs(shown.astype(int) - pixels(clean.images[0]).astype(int)).mean() > 5
    assert any("safety checker flagged 1 of 1" in notice for notice in flagged.notices)
    assert flagged.images[0].info[generation.PARAMETERS_CHUNK] == flagged.parameters[0]


def test_safety_inputs_are_the_processors_pixels_of_the_pil_images(tiny_cache: ModelCache) -> None:
    """What diffusers' ``run_safety_checker`` gives the checker: the processor's pixels of the PIL images."""
    bundle = tiny_cache.get(generation.SAFETY_KEY)
    decoded = torch.from_numpy(np.random.default_rng(5).integers(0, 256, (2, 40, 56, 3), dtype=np.uint8))
    expected = bundle.processor(generation.to_pil(decoded), return_tensors="pt").pixel_values
    assert torch.equal(generation.safety_inputs(bundle, decoded), expected)
    _, expected_flags = bundle.model(images=[np.asarray(i) for i in generation.to_pil(decoded)], clip_input=expected)
    assert generation.check_safety(bundle, decoded) == [bool(flag) for flag in expected_flags]


def test_safety_checker_runs_on_turbo_and_can_be_turned_off_in_python(flagging_cache: ModelCache) -> None:
    options = GenerationOptions(prompt=PROMPT, model="sd-turbo", seed=4, safety_checker=False)
    unchecked = generation.generate(options, cache=flagging_cache)
    assert unchecked.flagged == (False,) and any("unchecked" in notice for notice in unchecked.notices)


# ----------------------------------------------------------------------------------------- PNG parameters
def test_png_parameters_round_trip(tiny_cache: ModelCache, tmp_path: Path) -> None:
    options = GenerationOptions(
        prompt="a house,\nby a lake: dusk", negative_prompt="blurry, dark", steps=3, guidance=6.5, seed=42
    )
    result = generation.generate(options, cache=tiny_cache)
    path = generation.save_png(result.images[0], tmp_path / "out.png")
    text = images.load(path).text[generation.PARAMETERS_CHUNK]
    assert text == result.parameters[0]
    assert generation.parse_parameters(text) == {
        "prompt": "a house,\nby a lake: dusk",
        "negative_prompt": "blurry, dark",
        "steps": 3,
        "scheduler": "DPM++ 2M",
        "guidance": 6.5,
        "seed": 42,
        "width": 64,
        "height": 64,
        "model": "sd15",
    }


def test_parse_parameters_reads_a1111_text() -> None:
    text = (
        "masterpiece, a cat\nNegative prompt: lowres\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, "
        "CFG scale: 7, Seed: 1234, Size: 512x768, Model hash: abc, Model: v1-5-pruned, "
        'Lora hashes: "a: 1, b: 2"'
    )
    parsed = generation.parse_parameters(text)
    assert parsed["prompt"] == "masterpiece, a cat" and parsed["negative_prompt"] == "lowres"
    assert (parsed["steps"], parsed["seed"], parsed["width"], parsed["height"]) == (20, 1234, 512, 768)
    assert parsed["scheduler"] == "DPM++ 2M Karras" and parsed["model"] == "v1-5-pruned"
    assert (
        generation.parse_parameters("Steps: 1, Sampler: Euler, CFG scale: 0, Seed: 3, Size: 64x64")["prompt"]
        == ""
    )


def test_restore_settings_from_a_dropped_png(
    tiny_cache: ModelCache, tiny_settings: Settings, tmp_path: Path, uploaded: Any
) -> None:
    from fusion.ui.generation import RESTORED, restore_settings

    options = GenerationOptions(prompt="a dog", model="sd-turbo", scheduler="DDIM", steps=2, seed=77)
    result = generation.generate(options, cache=tiny_cache)
    path = generation.save_png(result.images[0], tmp_path / "restore.png")
    *values, notices = restore_settings({"path": uploaded(path)}, tiny_settings)
    restored = dict(zip(RESTORED, values, strict=True))
    assert (
        restored["prompt"] == "a dog" and restored["model"] == "sd-turbo" and restored["scheduler"] == "DDIM"
    )
    assert (restored["steps"], restored["seed"], restored["guidance"]) == (2, 77, 0.0)
    assert "restored" in notices
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    with pytest.raises(Exception, match="no generation parameters"):
        restore_settings({"path": uploaded(tmp_path / "plain.png")}, tiny_settings)



def test_the_parameters_card_reads_the_pngs_text_with_markup_made_inert() -> None:
    from fusion.ui.generation import parameters_card

    text = (
        "a <b>red</b> house\nNegative prompt: blurry\nSteps: 12, Sampler: Euler a, CFG scale: 6.5, Seed: 42, "
        "Size: 440x592, Model: sd-turbo, Denoising strength: 0.6, Decoder: taesd"
    )
    shown = parameters_card(text)
    for value in ("SD-Turbo", "42", "12", "6.5", "Euler a", "440 × 592 px", "0.6", "Fast preview quality (TAESD)"):  # noqa: RUF001
        assert f">{value}</dd>" in shown, value
    assert "Prompt: &#x27;a &lt;b&gt;red&lt;/b&gt; house&#x27;" in shown and "<b>" not in shown
    assert "Negative prompt: &#x27;blurry&#x27;" in shown
    plain = parameters_card("a cat\nSteps: 25, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1, Size: 512x512, Model: sd15")
    assert ">Full quality (VAE)</dd>" in plain and "Strength" not in plain and "Negative prompt" not in plain
    assert parameters_card("") == parameters_card(None) == ""

# --------------------------------------------------------------------------------- progress, Stop, deadline
def test_progress_reports_every_step_with_small_previews(tiny_cache: ModelCache) -> None:
    updates: list[StepUpdate] = []
    options = GenerationOptions(prompt=PROMPT, steps=4, seed=0, width=256, height=256)
    generation.generate(options, cache=tiny_cache, on_step=updates.append, preview_interval_s=0)
    assert [(update.step, update.total) for update in updates] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    previews = [update.preview for update in updates[:-1]]
    assert all(
        preview is not None and max(preview.size) <= generation.PREVIEW_MAX_SIDE for preview in previews
    )
    assert updates[-1].preview is None, "the final image follows at once and is safety-checked"
    throttled: list[StepUpdate] = []
    generation.generate(options, cache=tiny_cache, on_step=throttled.append, preview_interval_s=3600)
    assert len(throttled) == 4 and all(update.preview is None for update in throttled)


def test_cancel_stops_within_one_step(tiny_cache: ModelCache) -> None:
    cancel = generation.Stop()
    steps_seen: list[int] = []

    def on_step(update: StepUpdate) -> None:
        steps_seen.append(update.step)
        if update.step == 2:
            cancel.set()

    options = GenerationOptions(prompt=PROMPT, steps=20, seed=0)
    result = generation.generate(options, cache=tiny_cache, on_step=on_step, stop=cancel)
    assert steps_seen == [1, 2]
    assert (result.steps_done, result.steps_total, result.stopped_by) == (2, 20, "cancel")
    assert result.images[0].size == (64, 64)
    assert any("Stopped after 2 of 20 steps" in notice for notice in result.notices)


def test_deadline_stops_within_one_step(tiny_cache: ModelCache) -> None:
    options = GenerationOptions(prompt=PROMPT, steps=20, seed=0, deadline_s=0.0)
    result = generation.generate(options, cache=tiny_cache)
    assert (result.steps_done, result.stopped_by) == (1, "deadline")
    assert any("time limit" in notice for notice in result.notices)


def test_stream_yields_updates_then_the_result_and_closing_it_cancels(tiny_cache: ModelCache) -> None:
    items = list(
        generation.generate_stream(GenerationOptions(prompt=PROMPT, steps=3, seed=0), cache=tiny_cache)
    )
    updates = [item for item in items if isinstance(item, StepUpdate)]
    assert [update.step for update in updates] == [1, 2, 3]
    assert isinstance(items[-1], generation.GenerationResult)

    cancel = generation.Stop()
    stream = generation.generate_stream(
        GenerationOptions(prompt=PROMPT, steps=50, seed=0), cache=tiny_cache, stop=cancel
    )
    assert any(isinstance(item, StepUpdate) for item in stream)
    stream.close()
    assert cancel.is_set()


def test_stream_reraises_errors_from_the_worker(tiny_cache: ModelCache) -> None:
    with pytest.raises(ValueError, match="Unknown scheduler"):
        list(generation.generate_stream(GenerationOptions(scheduler="PLMS"), cache=tiny_cache))


# ----------------------------------------------------------------------------------- bad input, notices
def test_out_of_range_values_are_clamped_with_notices() -> None:
    options = GenerationOptions(
        model="sd-turbo", steps=50, guidance=99, width=100, height=5000, num_images=9, seed=2**40 + 3
    )
    resolved, notices = generation.normalise_options(options, native_size=512)
    assert (resolved.steps, resolved.guidance, resolved.width, resolved.height) == (4, 30.0, 104, 1024)
    assert (resolved.num_images, resolved.seed) == (4, 3)
    text = " ".join(notices)
    for fragment in ("Steps 50", "Guidance 99", "Width 100 is not a multiple of 8", "Height 5000", "Seed"):
        assert fragment in text


def test_defaults_follow_the_model_and_random_seeds_are_reported() -> None:
    resolved, notices = generation.normalise_options(GenerationOptions(), native_size=512)
    assert (resolved.steps, resolved.guidance, resolved.width, resolved.height) == (25, 7.0, 512, 512)
    assert 0 <= resolved.seed < generation.SEED_LIMIT and notices == ()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (GenerationOptions(model="sdxl"), "Unknown generation model"),
        (GenerationOptions(scheduler="PLMS"), "Unknown scheduler"),
        (GenerationOptions(guidance=float("nan")), "finite"),
        (GenerationOptions(prompt="x" * 5000), "characters long"),
        (GenerationOptions(init_image=np.zeros((8, 8), dtype=np.uint8)), "RGB uint8"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(options: GenerationOptions, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generation.normalise_options(options, native_size=512)


def test_prompt_notices_for_empty_long_and_non_english_prompts(tiny_cache: ModelCache) -> None:
    empty = generation.generate(GenerationOptions(prompt="", steps=1, seed=0), cache=tiny_cache)
    assert any("prompt is empty" in notice for notice in empty.notices)
    long = generation.generate(GenerationOptions(prompt="a red cat " * 40, steps=1, seed=0), cache=tiny_cache)
    assert any("truncated" in notice and "reads 77" in notice for notice in long.notices)
    japanese = generation.generate(
        GenerationOptions(prompt="赤い家の写真", steps=1, seed=0), cache=tiny_cache
    )
    assert any("non-Latin" in notice for notice in japanese.notices)
    french = generation.generate(
        GenerationOptions(prompt="une maison près du lac", steps=1), cache=tiny_cache
    )
    assert not any("non-Latin" in notice for notice in french.notices)


@pytest.mark.parametrize(
    "raw",
    [
        {"model": "sd-turbo", "steps": 50, "guidance": "99", "width": 100, "height": 5000, "num_images": 9},
        {"seed": 2**40 + 3, "strength": 7, "init_image": np.zeros((30, 90, 3), dtype=np.uint8), "width": 0},
        {"seed": -5, "steps": "", "guidance": None, "scheduler": "", "prompt": None},
    ],
)
def test_read_options_are_checked_once_and_a_run_adds_nothing_to_them(raw: dict[str, Any]) -> None:
    """The panel reads raw values once (with their notices); the run checks what it is given again, which must
    change nothing and repeat no notice."""
    options, notices = generation.read_options(raw)
    assert notices
    assert generation.check_options(options) == (options, ())


def test_read_options_map_sentinels_refuse_values_below_them_and_budget_zero_gpu_time() -> None:
    options, _ = generation.read_options({"steps": 0, "guidance": -1, "width": "0", "height": ""})
    assert (options.steps, options.guidance, options.width, options.height) == (None, None, None, None)
    for name, value in (("steps", -1), ("guidance", -2), ("height", -8)):
        with pytest.raises(ValueError, match=f"{name.title()} {value} is too low: .* means the model's default"):
            generation.read_options({name: value})
    small, _ = generation.read_options({"model": "sd-turbo", "width": 256, "height": 256}, zero_gpu=True)
    large, _ = generation.read_options({"steps": 100, "num_images": 4, "width": 1024, "height": 1024}, zero_gpu=True)
    assert small.deadline_s == 20.25 and large.deadline_s == generation.DEFAULT_DEADLINE_S
    assert generation.read_options({}, deadline_s=60.0)[0].deadline_s == 60.0, "off ZeroGPU: the deadline given"


def test_guidance_off_ignores_the_negative_prompt_with_a_notice() -> None:
    options = GenerationOptions(model="sd-turbo", negative_prompt="blurry")
    _resolved, notices = generation.normalise_options(options, native_size=512)
    assert any("negative prompt is ignored" in notice for notice in notices)


def test_attention_uses_pytorch_sdpa(tiny_cache: ModelCache) -> None:
    from diffusers.models.attention_processor import AttnProcessor2_0

    processors = tiny_cache.get("sd15").unet.attn_processors.values()
    assert processors and all(isinstance(processor, AttnProcessor2_0) for processor in processors)


# ------------------------------------------------------------------------------------------------------ API
@pytest.fixture(scope="module")
def generation_client(client):
    """The whole app (tests/conftest.py) serves ``/generate`` exactly as this panel wires it."""
    return client


def test_api_parameters_are_named_and_defaulted(generation_client) -> None:
    parameters = generation_client.view_api(return_format="dict", print_info=False)["named_endpoints"][
        "/generate"
    ]
    by_name = {parameter["parameter_name"]: parameter for parameter in parameters["parameters"]}
    names = [
        "prompt",
        "negative_prompt",
        "seed",
        "steps",
        "guidance",
        "width",
        "height",
        "model",
        "scheduler",
    ]
    assert list(by_name)[: len(names)] == names
    assert [name for name, parameter in by_name.items() if not parameter["parameter_has_default"]] == [
        "prompt"
    ]
    defaults = {
        name: by_name[name]["parameter_default"] for name in ("seed", "steps", "guidance", "width", "model")
    }
    assert defaults == {"seed": -1, "steps": 0, "guidance": -1, "width": 0, "model": "sd15"}


def test_panel_inputs_map_sentinels_to_model_defaults(tiny_settings: Settings) -> None:
    from fusion.ui.generation import MODEL_DEFAULT, generation_options

    defaults, _notices = generation_options(tiny_settings, 60.0, prompt="x", **MODEL_DEFAULT)
    assert (defaults.steps, defaults.guidance, defaults.width, defaults.height) == (None, None, None, None)
    assert defaults.deadline_s == 60.0 and defaults.seed == -1 and defaults.model == "sd15"
    explicit, _notices = generation_options(
        tiny_settings, 60.0, prompt="x", steps="12", guidance=0, width=96.4, height=None
    )
    assert (explicit.steps, explicit.guidance, explicit.width, explicit.height) == (12, 0.0, 96, None)
    with pytest.raises(ValueError, match="Guidance must be a number"):
        generation_options(tiny_settings, 60.0, prompt="x", guidance="strong")


def test_api_returns_png_files_with_parameters_and_the_seed(generation_client) -> None:
    gallery, seed, parameters, notices, preview = generation_client.predict(
        prompt=PROMPT, steps=2, seed=123, num_images=2, api_name="/generate"
    )
    assert seed == 123 and "Seed: 123," in parameters and preview is None and notices == ""
    files = [Image.open(entry["image"]) for entry in gallery]
    assert [file.format for file in files] == ["PNG", "PNG"]
    assert files[0].text[generation.PARAMETERS_CHUNK] == parameters
    assert "Seed: 124," in files[1].text[generation.PARAMETERS_CHUNK]
    again, *_ = generation_client.predict(prompt=PROMPT, steps=2, seed=123, api_name="/generate")
    np.testing.assert_array_equal(pixels(Image.open(again[0]["image"])), pixels(files[0]))


def test_api_model_defaults_and_clamping_notices(generation_client) -> None:
    _gallery, _seed, parameters, notices, _ = generation_client.predict(
        prompt=PROMPT, model="sd-turbo", api_name="/generate"
    )
    assert "Steps: 1, Sampler: Euler a, CFG scale: 0," in parameters and notices == ""
    _gallery, _seed, parameters, notices, _ = generation_client.predict(
        prompt=PROMPT, model="sd-turbo", steps=30, width=70, api_name="/generate"
    )
    assert "Steps: 4," in parameters and "Size: 72x64" in parameters
    assert "Steps 30 is outside 1-4" in notices and "Width 70" in notices


def test_api_refuses_bad_input_clearly_and_keeps_serving(generation_client) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Unknown generation model"):
        generation_client.predict(prompt=PROMPT, model="sdxl", api_name="/generate")
    with pytest.raises(AppError, match="Steps must be a number"):
        generation_client.predict(prompt=PROMPT, steps="many", api_name="/generate")
    gallery, *_ = generation_client.predict(prompt="", steps=1, api_name="/generate")
    assert len(gallery) == 1


def test_api_img2img_from_an_uploaded_image(generation_client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    Image.fromarray(np.full((64, 64, 3), 200, dtype=np.uint8)).save(tmp_path / "init.png")
    _gallery, _seed, parameters, _notices, _ = generation_client.predict(
        prompt=PROMPT,
        steps=4,
        init_image=handle_file(tmp_path / "init.png"),
        strength=0.5,
        api_name="/generate",
    )
    assert "Denoising strength: 0.5" in parameters


def test_stop_signals_reach_only_the_sessions_run_in_progress() -> None:
    from fusion.generation import StopSignals

    signals = StopSignals()
    assert not signals.stop("a")  # nothing running: the panel falls back to Gradio's cancel
    with signals.running("a") as first, signals.running("b") as other:
        assert signals.stop("a")
        assert first.is_set() and not other.is_set()
    assert not signals.stop("a") and not signals.stop("b")  # finished runs are forgotten
    with signals.running(None) as anonymous:  # outside a request (a script calling the function)
        assert not signals.stop(None) and not anonymous.is_set()
