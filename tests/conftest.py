"""Shared fixtures: offline Hugging Face libraries, tiny random-weight models, a cache over them."""

from __future__ import annotations

import os

# Must be set before any Hugging Face library is imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

from pathlib import Path

import pytest

from fusion.config import Settings

#: The tests that time what a visitor waits for (a message within 2 s, a panel answering while another runs).
TIMED_FILES = {"test_load.py"}
_lowered = False


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Two lanes for README's ``-n 2 --dist loadgroup``: the browser and load tests, which time what a visitor waits
    for, run on one worker; everything else on the other (before xdist reads the groups)."""
    for item in items:
        timed = item.get_closest_marker("browser") is not None or item.path.name in TIMED_FILES
        item.add_marker(pytest.mark.xdist_group("timed" if timed else "compute"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The compute lane's worker lowers its own CPU priority (once; its children inherit it), so that on a 2-core
    machine the timed lane's browser, app server and test get the CPU when they need it, as a visitor's would."""
    global _lowered
    group = item.get_closest_marker("xdist_group")
    if not _lowered and os.environ.get("PYTEST_XDIST_WORKER") and group is not None and group.args[0] == "compute":
        os.nice(10)
        _lowered = True


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """The tiny models gain nothing from intra-op threads, and on a busy 2-core machine two OpenMP threads
    spin-wait against each other (runs got about 20x slower). Comparisons with the libraries run under the same
    setting, so equality tests are unaffected."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of tiny twins per test session, built on first use."""
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_settings(tiny_dir: Path) -> Settings:
    """Tiny models on the CPU, in float32 (what the comparisons with the libraries run at; ``auto`` would pick
    bfloat16 on a CPU with AVX-512 BF16). Every test client connects from loopback, so to the app's queue the whole
    suite is one client: the per-client cap on waiting GPU requests is raised for tests that send many at once
    (``tests/test_hardening.py`` checks the default)."""
    return Settings(
        models="tiny", tiny_dir=tiny_dir, device="cpu", dtype="float32", memory_budget=2 << 30, client_queue=32
    )


@pytest.fixture(scope="session")
def tiny_cache(tiny_settings: Settings):
    """A model cache over the tiny twins, shared by the whole session (loads are counted per cache)."""
    from fusion.cache import ModelCache

    return ModelCache(tiny_settings)


@pytest.fixture(scope="session")
def app_url(tiny_settings: Settings, tiny_cache, tmp_path_factory: pytest.TempPathFactory):
    """The whole app (every panel, tiny models) served on a free loopback port for this session."""
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio-temp"))
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(tmp_path_factory.mktemp("gradio-examples"))
    from app import build_demo, launch_options

    demo = build_demo(tiny_settings, tiny_cache)
    options = launch_options(tiny_settings) | {"server_port": None, "quiet": True, "prevent_thread_lock": True}
    _app, url, _share = demo.launch(**options)
    yield url
    demo.close()


@pytest.fixture(scope="session")
def client(app_url: str):
    """A gradio_client over the running app, as an API user would connect."""
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture
def uploaded():
    """Put a file where Gradio puts uploads, as ``/gradio_api/upload`` would; the path the app then accepts."""
    import shutil
    import uuid

    from gradio.utils import get_upload_folder

    def upload(source: Path) -> str:
        folder = Path(get_upload_folder()) / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return shutil.copy(source, folder / Path(source).name)

    return upload
