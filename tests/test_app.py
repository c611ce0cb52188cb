"""The running app through gradio_client, as an API user sees it: every feature operation, bad uploads, /status."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from fusion import features

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def test_importing_the_app_loads_no_model() -> None:
    import subprocess
    import sys

    code = (
        "import sys, app, fusion, fusion.features, fusion.registry;"
        "assert 'diffusers' not in sys.modules and 'transformers' not in sys.modules, 'model library imported';"
        "from fusion.cache import get_cache; assert not any(m.resident for m in get_cache().stats().models)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ASSETS.parent, timeout=120)


@pytest.mark.parametrize("operation", list(features.OPERATIONS))
def test_every_operation_through_the_api(client, operation: str) -> None:
    result_path, stats, notices = client.predict(
        image=handle_file(ASSETS / "chelsea.png"), operation=operation, api_name="/features"
    )
    result = np.asarray(Image.open(result_path))
    expected = features.run_operation(np.asarray(Image.open(ASSETS / "chelsea.png").convert("RGB")), operation)
    assert result.shape[:2] == expected.image.shape[:2]
    np.testing.assert_array_equal(result.reshape(expected.image.shape), expected.image)
    assert stats == pytest.approx(expected.stats)
    assert isinstance(notices, str)


def test_parameters_are_passed_by_name(client) -> None:
    _path, stats, _ = client.predict(
        image=handle_file(ASSETS / "coffee.png"), operation="Canny edges", canny_auto=True, api_name="/features"
    )
    automatic = features.run_operation(
        np.asarray(Image.open(ASSETS / "coffee.png").convert("RGB")), "Canny edges", canny_auto=True
    )
    assert stats == pytest.approx(automatic.stats)


def _write(tmp_path: Path, name: str, payload: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(payload)
    return str(path)


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("corrupt.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not an image"),
        ("empty.png", b"", "empty"),
        ("notes.txt", b"just some text", "not an image"),
    ],
)
def test_broken_uploads_get_a_clear_message_and_the_app_keeps_serving(
    client, tmp_path: Path, name: str, payload: bytes, message: str
) -> None:
    with pytest.raises(AppError, match=message):
        client.predict(
            image=handle_file(_write(tmp_path, name, payload)), operation="Canny edges", api_name="/features"
        )
    path, _stats, _notices = client.predict(
        image=handle_file(ASSETS / "camera.png"), operation="Canny edges", api_name="/features"
    )
    assert Path(path).is_file()


def test_huge_image_is_downscaled_with_a_notice(client, tmp_path: Path) -> None:
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (3000, 2200, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    big.save(buffer, format="JPEG", quality=60)
    path, _stats, notices = client.predict(
        image=handle_file(_write(tmp_path, "big.jpg", buffer.getvalue())), operation="Grayscale", api_name="/features"
    )
    assert max(Image.open(path).size) == 2048
    assert "Downscaled" in notices


def test_out_of_range_parameter_is_refused_by_name(client) -> None:
    with pytest.raises(AppError, match=r"canny_low|low threshold"):
        client.predict(
            image=handle_file(ASSETS / "chelsea.png"), operation="Canny edges", canny_low=10_000, api_name="/features"
        )


def test_status_reports_every_model(client) -> None:
    status = client.predict(api_name="/status")
    assert status["models_source"] == "tiny"
    assert status["device"] == "cpu"
    assert {model["key"] for model in status["models"]} >= {"caption", "clip", "sd15", "safety-checker"}
    assert status["used_bytes"] <= status["budget_bytes"]
    assert status["used_bytes"] == sum(model["bytes"] for model in status["models"]) + sum(
        item["bytes"] for item in status["derived"]
    ), "resident models and what is derived from them"
    assert status["compiled"]["command"] == "python -m fusion compile"
    assert isinstance(status["compiled"]["packages"], list)
    assert status["int8_text_decoders"] is (status["dtype"] == "bfloat16")  # the test app runs in float32


def test_helper_events_are_hidden_from_the_api(client) -> None:
    endpoints = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/features", "/status"} <= endpoints
    assert not any(name.startswith(("/lambda", "/_", "/show", "/act")) for name in endpoints)


def test_each_request_decodes_its_image_once(client, monkeypatch: pytest.MonkeyPatch) -> None:
    from fusion import images

    calls: list[object] = []
    real_load = images.load

    def counting_load(*args, **kwargs):
        calls.append(args[0])
        return real_load(*args, **kwargs)

    monkeypatch.setattr(images, "load", counting_load)
    client.predict(image=handle_file(ASSETS / "rocket.png"), operation="HOG", api_name="/features")
    assert len(calls) == 1


def test_the_banner_says_which_models_are_not_downloaded_and_how_to_fetch_them() -> None:
    import gradio as gr
    from test_i18n import CHINESE

    from fusion.config import Settings
    from fusion.ui.common import model_banner
    from fusion.ui.i18n import I18N, english, key_of

    with gr.Blocks():
        missing = model_banner(Settings(), ["CLIP ViT-B/32 (`openai/clip-vit-base-patch32`)"])
        offline = model_banner(Settings(), ["CLIP ViT-B/32 (`openai/clip-vit-base-patch32`)"], offline=True)
        complete = model_banner(Settings())
        tiny = model_banner(Settings(models="tiny"))
    text = english(missing.value)
    assert missing.visible and "openai/clip-vit-base-patch32" in text and "python -m fusion download" in text
    assert "HF_HUB_OFFLINE" in english(offline.value)
    assert key_of(missing.value) is not None, "the banner is in the page's language"
    chinese = I18N.translations[CHINESE][key_of(missing.value)]
    assert "openai/clip-vit-base-patch32" in chinese and chinese.startswith("**尚未下载**")
    assert not complete.visible
    assert tiny.visible and "FUSION_MODELS=tiny" in english(tiny.value)
