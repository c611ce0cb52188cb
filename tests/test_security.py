"""What a public Space exposes: only queued API calls, only the files the app serves, bounded uploads."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        str(ROOT / "app.py"),
        str(ROOT / "fusion" / "config.py"),
        str(Path.home() / ".cache" / "huggingface" / "token"),
    ],
)
def test_files_outside_the_served_ones_are_refused(app_url: str, path: str) -> None:
    response = httpx.get(f"{app_url}gradio_api/file={path}", timeout=30)
    assert response.status_code in {403, 404}
    if Path(path).is_file():
        assert Path(path).read_text()[:60] not in response.text


def test_direct_rest_calls_that_skip_the_queue_are_refused(app_url: str) -> None:
    response = httpx.post(f"{app_url}gradio_api/run/features", json={"data": [None, "Canny edges"]}, timeout=30)
    assert response.status_code >= 400


def test_monitoring_dashboard_is_off(app_url: str) -> None:
    response = httpx.get(f"{app_url}gradio_api/monitoring", timeout=30, follow_redirects=True)
    assert response.status_code in {403, 404}


def test_uploads_over_the_size_limit_are_refused(app_url: str, tiny_settings) -> None:
    limit = int(tiny_settings.max_file_size.removesuffix("mb")) << 20
    payload = b"\0" * (limit + 1024)
    response = httpx.post(f"{app_url}gradio_api/upload", files={"files": ("big.png", payload, "image/png")}, timeout=60)
    assert response.status_code == 413


def test_app_still_serves_after_the_refusals(client) -> None:
    assert client.predict(api_name="/status")["models_source"] == "tiny"
