"""Settings come from the environment once, with clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion.config import DEFAULT_MODEL_IDS, ZERO_GPU_PRELOAD, settings_from_env


def test_defaults_are_the_hub_models_served_locally() -> None:
    settings = settings_from_env({})
    assert settings.models == "hub"
    assert settings.model_id("caption") == "Salesforce/blip-image-captioning-base"
    assert settings.model_id("sd15") == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert settings.server_name == "127.0.0.1" and settings.preload == () and settings.memory_budget is None
    assert set(settings.model_ids) == set(DEFAULT_MODEL_IDS)


def test_every_model_role_can_point_at_a_folder(tmp_path: Path) -> None:
    env = {var: str(tmp_path / role) for role, (var, _default) in DEFAULT_MODEL_IDS.items()}
    settings = settings_from_env(env)
    assert all(settings.model_id(role) == str(tmp_path / role) for role in DEFAULT_MODEL_IDS)


@pytest.mark.parametrize(("raw", "expected"), [("12GB", 12 << 30), ("512mb", 512 << 20), ("1000", 1000), ("", None)])
def test_memory_budget_sizes(raw: str, expected: int | None) -> None:
    assert settings_from_env({"FUSION_MEMORY_BUDGET": raw}).memory_budget == expected


def test_zero_gpu_preloads_the_defaults_unless_told_otherwise() -> None:
    assert settings_from_env({"SPACES_ZERO_GPU": "true"}).preload == (*ZERO_GPU_PRELOAD, "assistant")
    assert settings_from_env({"SPACES_ZERO_GPU": "true", "FUSION_ASK": "0"}).preload == ZERO_GPU_PRELOAD
    assert settings_from_env({"SPACES_ZERO_GPU": "true", "FUSION_PRELOAD": "clip"}).preload == ("clip",)
    assert settings_from_env({"SYSTEM": "spaces"}).server_name == "0.0.0.0"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FUSION_MODELS": "huge"}, "FUSION_MODELS must be one of hub, tiny"),
        ({"FUSION_DEVICE": "tpu"}, "FUSION_DEVICE must be one of"),
        ({"FUSION_MAX_IMAGE_SIDE": "big"}, "FUSION_MAX_IMAGE_SIDE must be an integer"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_from_env(env)


def test_unknown_role_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known roles: caption"):
        settings_from_env({}).model_id("depth")


def test_model_variables_set_in_tiny_mode_are_named_as_ignored() -> None:
    settings = settings_from_env({"FUSION_MODELS": "tiny", "FUSION_CLIP_MODEL": "openai/clip-vit-large-patch14"})
    assert settings.ignored_variables == ("FUSION_CLIP_MODEL",)
    assert settings_from_env({"FUSION_CLIP_MODEL": "openai/clip-vit-large-patch14"}).ignored_variables == ()


def test_decoding_queue_and_temporary_space_settings() -> None:
    settings = settings_from_env(
        {"FUSION_DECODE_MEMORY": "128mb", "FUSION_CLIENT_QUEUE": "2", "FUSION_TEMP_MAX_SIZE": "1gb"}
    )
    assert (settings.decode_memory, settings.client_queue, settings.temp_max_size) == (128 << 20, 2, 1 << 30)
    defaults = settings_from_env({})
    assert (defaults.decode_memory, defaults.client_queue, defaults.temp_max_size) == (256 << 20, 4, 2 << 30)
