"""``python -m fusion download`` run as a user runs it, offline: messages, exit codes, README front matter.

The Hugging Face cache of each run is a fresh folder (``HF_HOME``); where a test needs a model "already
downloaded", it lays out a real cache snapshot (``refs/main`` + ``snapshots/<commit>/``) holding a tiny twin.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fusion.download import DEFAULT_KEYS, EXIT_OFFLINE, LARGE_KEYS, selected_keys
from fusion.tiny.diffusion import build_taesd

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CACHED_ID = "fusion-test/taesd"


def run_cli(*args: str, hf_home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("FUSION_", "HF_"))},
        "HF_HOME": str(hf_home),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "fusion", "download", *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def hf_home(tmp_path: Path) -> Path:
    return tmp_path / "hf-home"


@pytest.fixture
def cached_taesd(hf_home: Path) -> Path:
    """A complete cached snapshot of a TAESD repository, plus files the registry's patterns leave out."""
    repo = hf_home / "hub" / f"models--{CACHED_ID.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    build_taesd(snapshot)
    (snapshot / "README.md").write_text("not a model file")
    (snapshot / "taesd_decoder.pth").write_bytes(b"a pickle the loaders never read")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot


def test_offline_download_says_the_hub_cannot_be_reached_and_what_to_do(hf_home: Path) -> None:
    result = run_cli("--models", "taesd", hf_home=hf_home)

    assert result.returncode == EXIT_OFFLINE
    assert "cannot reach the Hugging Face Hub to fetch madebyollin/taesd" in result.stderr
    assert "HF_HUB_OFFLINE is set" in result.stderr
    assert "unset HF_HUB_OFFLINE" in result.stderr and "FUSION_MODELS=tiny" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_network_failure_says_the_hub_cannot_be_reached(hf_home: Path) -> None:
    with socket.socket() as probe:  # a local port that nothing listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = run_cli("--models", "taesd", hf_home=hf_home, HF_HUB_OFFLINE="0", HF_ENDPOINT=endpoint)

    assert result.returncode == EXIT_OFFLINE
    assert (
        "cannot reach the Hugging Face Hub to fetch madebyollin/taesd (no network connection" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_offline_download_stops_at_the_first_model(hf_home: Path) -> None:
    result = run_cli(hf_home=hf_home)

    assert result.returncode == EXIT_OFFLINE
    assert result.stdout.count("fetching") == 1
    assert result.stderr.count("cannot reach the Hugging Face Hub") == 1


def test_a_model_already_cached_is_ready_offline(hf_home: Path, cached_taesd: Path) -> None:
    result = run_cli("--models", "taesd", hf_home=hf_home, FUSION_TAESD_MODEL=CACHED_ID)

    assert result.returncode == 0, result.stderr
    assert f"taesd: {CACHED_ID} ready in {cached_taesd}" in result.stdout


def test_local_folders_are_skipped(hf_home: Path, tmp_path: Path) -> None:
    result = run_cli("--models", "taesd", hf_home=hf_home, FUSION_TAESD_MODEL=str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert f"taesd: {tmp_path} is a local folder; nothing to fetch." in result.stdout


def test_unknown_keys_are_refused(hf_home: Path) -> None:
    result = run_cli("--models", "gpt-17", hf_home=hf_home)

    assert result.returncode == 2
    assert "invalid choice: 'gpt-17'" in result.stderr


def test_frontmatter_lists_models_and_exact_preload_files(hf_home: Path, cached_taesd: Path) -> None:
    result = run_cli(
        "--print-frontmatter", "--models", "taesd", hf_home=hf_home, FUSION_TAESD_MODEL=CACHED_ID
    )

    assert result.returncode == 0, result.stderr
    front_matter = yaml.safe_load(result.stdout)
    assert front_matter["models"] == [CACHED_ID]
    assert front_matter["preload_from_hub"] == [
        f"{CACHED_ID} config.json,diffusion_pytorch_model.safetensors {COMMIT}"
    ]


def test_frontmatter_comments_out_models_it_cannot_list_offline(hf_home: Path, cached_taesd: Path) -> None:
    result = run_cli(
        "--print-frontmatter",
        "--models",
        "taesd",
        "clip",
        hf_home=hf_home,
        FUSION_TAESD_MODEL=CACHED_ID,
        FUSION_CLIP_MODEL="openai/clip-vit-base-patch32",
    )

    assert result.returncode == EXIT_OFFLINE
    front_matter = yaml.safe_load(result.stdout)
    assert front_matter["models"] == ["openai/clip-vit-base-patch32", CACHED_ID]
    assert front_matter["preload_from_hub"] == [
        f"{CACHED_ID} config.json,diffusion_pytorch_model.safetensors {COMMIT}"
    ]
    assert "# - openai/clip-vit-base-patch32  (file names unknown" in result.stdout
    assert "run this online" in result.stderr


def test_frontmatter_skips_local_folders(hf_home: Path, tmp_path: Path) -> None:
    result = run_cli(
        "--print-frontmatter", "--models", "taesd", hf_home=hf_home, FUSION_TAESD_MODEL=str(tmp_path)
    )

    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout) == {"models": None, "preload_from_hub": None}


def test_key_selection() -> None:
    assert selected_keys(None, include_large=False) == DEFAULT_KEYS
    assert set(selected_keys(None, include_large=True)) == {*DEFAULT_KEYS, *LARGE_KEYS}
    assert selected_keys(["taesd", "clip", "taesd"], include_large=False) == ("clip", "taesd")
    assert selected_keys(["taesd"], include_large=True) == ("caption-large", "clip-large", "taesd")


def test_models_missing_from_the_cache_are_found_without_the_network(hf_home: Path, cached_taesd: Path) -> None:
    from dataclasses import replace

    from fusion.config import Settings
    from fusion.download import app_keys, missing_from_cache

    settings = replace(Settings(), model_ids={**Settings().model_ids, "taesd": CACHED_ID})
    cache = hf_home / "hub"
    assert missing_from_cache(settings, ["taesd", "clip"], cache) == ["clip"]
    (cached_taesd / "diffusion_pytorch_model.safetensors").unlink()
    assert missing_from_cache(settings, ["taesd"], cache) == ["taesd"], "a snapshot without its weights"
    assert missing_from_cache(replace(settings, model_ids={"taesd": str(hf_home)}), ["taesd"], cache) == []
    gone = str(hf_home / "no-such-folder")
    assert missing_from_cache(replace(settings, model_ids={"taesd": gone}), ["taesd"], cache) == ["taesd"]
    assert "assistant" in app_keys(ask=True) and "assistant" not in app_keys(ask=False)
