"""Every model panel through the whole app's API, concurrently, sharing one cache (tiny models)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gradio_client import Client, handle_file
from PIL import Image

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CAT = str(ASSETS / "chelsea.png")


def _caption(url: str) -> object:
    return Client(url, verbose=False).predict(image=handle_file(CAT), api_name="/caption")


def _classify(url: str) -> object:
    return Client(url, verbose=False).predict(image=handle_file(CAT), labels="cat, dog, car", api_name="/classify")


def _generate(url: str) -> object:
    return Client(url, verbose=False).predict(prompt="a red house", steps=2, seed=7, api_name="/generate")


def _answer(url: str) -> object:
    return Client(url, verbose=False).predict(
        image=handle_file(CAT), question="what animal is this?", api_name="/answer"
    )


def test_concurrent_first_requests_share_one_load_per_model(app_url: str, client: Client) -> None:
    calls = [_caption, _classify, _generate, _answer] * 3
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        results = list(pool.map(lambda call: call(app_url), calls))
    caption, scores, (gallery, seed, parameters, _notices, _preview), answer = results[:4]
    assert isinstance(caption, str)
    assert list(scores) == ["cat", "dog", "car"]
    assert seed == 7 and "Seed: 7," in parameters
    assert Image.open(gallery[0]["image"]).text["parameters"] == parameters
    assert isinstance(answer, str)
    status = client.predict(api_name="/status")
    models = {model["key"]: model for model in status["models"]}
    for key in ("caption", "clip", "vqa", "sd15", "safety-checker"):
        assert models[key]["resident"], key
        assert models[key]["loads"] == models[key]["evictions"] + 1, f"{key} was loaded more than once"
    assert status["used_bytes"] <= status["budget_bytes"]


def test_a_caption_becomes_a_prompt_and_the_result_is_classified(client: Client) -> None:
    caption = client.predict(image=handle_file(CAT), api_name="/caption")
    gallery, *_ = client.predict(prompt=caption, steps=1, api_name="/generate")
    scores = client.predict(image=handle_file(gallery[0]["image"]), labels="cat, house", api_name="/classify")
    assert set(scores) == {"cat", "house"}
    assert abs(sum(scores.values()) - 1.0) < 1e-5
