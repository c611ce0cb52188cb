"""A model that cannot load gives a clear error naming it and what to do; the other panels keep serving."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from fusion.config import DEFAULT_MODEL_IDS, Settings

ASSETS = Path(__file__).resolve().parents[1] / "assets"


@pytest.fixture(scope="module")
def broken_client(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module):
    """The whole app in hub mode, offline, with every model pointing at a folder that does not exist."""
    from app import build_demo, launch_options
    from fusion.cache import ModelCache

    missing = tmp_path_factory.mktemp("no-models")
    monkeypatch_module.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-broken")))
    settings = Settings(models="hub", model_ids={role: str(missing / role) for role in DEFAULT_MODEL_IDS}, device="cpu")
    demo = build_demo(settings, ModelCache(settings))
    options = launch_options(settings) | {"server_port": None, "quiet": True, "prevent_thread_lock": True}
    _app, url, _share = demo.launch(**options)
    yield Client(url, verbose=False)
    demo.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


def test_a_model_that_cannot_load_is_named_with_what_to_do(broken_client: Client) -> None:
    with pytest.raises(AppError) as caught:
        broken_client.predict(image=handle_file(ASSETS / "chelsea.png"), api_name="/caption")
    message = str(caught.value)
    assert "BLIP captioning" in message
    assert "fusion download" in message
    assert not message.startswith("Something went wrong")
    assert "no-models" not in message and "FUSION_" not in message, "no server path or variable name"


def test_other_panels_keep_serving_after_a_failed_load(broken_client: Client) -> None:
    with pytest.raises(AppError, match="CLIP"):
        broken_client.predict(image=handle_file(ASSETS / "chelsea.png"), labels="cat, dog", api_name="/classify")
    _path, stats, _notices = broken_client.predict(
        image=handle_file(ASSETS / "chelsea.png"), operation="Canny edges", api_name="/features"
    )
    assert stats["edge_pixels"] > 0
    status = broken_client.predict(api_name="/status")
    assert not any(model["resident"] for model in status["models"])
