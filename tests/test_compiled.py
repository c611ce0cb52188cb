"""Ahead-of-time compiled packages on the tiny twins (CPU): built by the ZeroGPU start-up path with ``spaces``'
helpers, loaded in a fresh process, refused when stale, skipped with a notice for shapes they do not cover.

One AOTInductor compile (the tiny SD-Turbo UNet at 64², 20-50 s on two cores) serves every test here.

``spaces.GPU`` is the identity off ZeroGPU and there is no ZeroGPU here, so the start-up path runs undecorated;
what ZeroGPU adds is pickling the GPU call's arguments and result, which is checked. ``spaces``' AoT helpers do
not import on a CPU-only torch build; :func:`fusion.compiled.spaces_aoti` imports their module without the
package's CUDA emulation (see its docstring), and these tests run the helpers themselves.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from fusion import compiled, generation, precompile
from fusion.cache import ModelCache
from fusion.config import Settings
from fusion.generation import GenerationOptions

ROOT = Path(__file__).resolve().parents[1]
SIDE = 64
#: Largest difference, in 8-bit levels, between a compiled and an eager image (fused kernels round differently).
TOLERANCE = 2
OPTIONS = GenerationOptions(
    prompt="a red house by a lake", model="sd-turbo", seed=5, width=SIDE, height=SIDE, safety_checker=False
)


def _settings(tiny_dir: Path, compiled_dir: Path, **changes: object) -> Settings:
    base = Settings(models="tiny", tiny_dir=tiny_dir, device="cpu", dtype="float32", memory_budget=1 << 30)
    base = replace(base, compiled_dir=compiled_dir)
    return replace(base, **changes)


def _pixels(cache: ModelCache, options: GenerationOptions = OPTIONS) -> np.ndarray:
    return np.asarray(generation.generate(options, cache=cache).images[0], dtype=np.int16)


@pytest.fixture(scope="module")
def compiled_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compiled")


@pytest.fixture(scope="module")
def eager(tiny_dir: Path, compiled_dir: Path) -> ModelCache:
    """A cache that ignores packages: the reference images."""
    return ModelCache(_settings(tiny_dir, compiled_dir, aot="off"))


@pytest.fixture(scope="module")
def startup(tiny_dir: Path, compiled_dir: Path):
    """The ZeroGPU start-up path on a cache of its own (``FUSION_AOT=build``), building the UNet alone."""
    cache = ModelCache(_settings(tiny_dir, compiled_dir, aot="build"))
    cache.preload(("sd-turbo",))
    # ZeroGPU builds packages that borrow the model's weights, with spaces' helpers (frozen ones are for the CPU).
    built, reports = precompile.build_at_startup(cache, ("sd-turbo",), ((SIDE, SIDE),), ("unet",), frozen=False)
    return cache, built, reports


def test_startup_builds_with_spaces_helpers_and_attaches_the_package(startup, eager: ModelCache) -> None:
    cache, built, reports = startup
    assert [outcome.line().split(":")[0] for outcome in built] == [f"sd-turbo unet ({SIDE}x{SIDE}, batch 1)"]
    info = built[0].package
    assert info is not None and (info.folder / compiled.PACKAGE_FILE).is_file()  # spaces' aoti_compile_and_save
    assert not info.key.frozen and info.key.values == ""
    assert info.key.inputs == f"1x4x8x8 float32 cpu, () float32 cpu, 1x77x{32} float32 cpu"
    assert 0 < info.bytes < 50e6
    # What ZeroGPU pickles: the GPU call's arguments and its result.
    assert pickle.loads(pickle.dumps(built)) == built
    pickle.dumps((("sd-turbo",), ((SIDE, SIDE),), ("unet",)))

    (report,) = [report for report in reports if report.model == "sd-turbo"]
    assert [applied.folder for applied in report.applied] == [info.folder] and not report.refused
    assert compiled.packages_in_use(cache.get("sd-turbo"), "sd-turbo") == [info]
    with compiled.collect_notices() as notices:
        found = _pixels(cache)
    assert notices == []
    assert np.abs(found - _pixels(eager)).max() <= TOLERANCE


def test_spaces_own_loader_reads_the_package(startup, eager: ModelCache) -> None:
    """The package is in ``spaces``' layout: ``aoti_load_from_package_dir`` patches a model with it."""
    _cache, built, _reports = startup
    unet = eager.get("sd-turbo").unet
    args = torch.randn(1, 4, 8, 8), torch.tensor(999.0)
    # The call exactly as diffusers' pipeline makes it (a package serves one argument structure).
    kwargs = {"encoder_hidden_states": torch.randn(1, 77, 32), "timestep_cond": None, "cross_attention_kwargs": None}
    kwargs |= {"added_cond_kwargs": None, "return_dict": False}
    with torch.no_grad():
        expected = unet(*args, **kwargs)[0]
        patched = type(unet).from_config(unet.config)
        patched.load_state_dict(unet.state_dict())
        compiled.spaces_aoti().aoti_load_from_package_dir(patched, built[0].package.folder / compiled.PACKAGE_DIR)
        found = patched(*args, **kwargs)[0]
    assert torch.allclose(found, expected, atol=1e-4)


def test_a_fresh_process_loads_the_package_and_makes_the_same_image(
    startup, eager: ModelCache, tiny_dir: Path, compiled_dir: Path, tmp_path: Path
) -> None:
    # The packages are attached by the registry entry's own load hook, as in the app.
    script = f"""
import json
import numpy as np
from fusion import compiled, generation
from fusion.cache import ModelCache
from fusion.config import settings_from_env
cache = ModelCache(settings_from_env())
with compiled.collect_notices() as notices:
    image = generation.generate(generation.{OPTIONS!r}, cache=cache).images[0]
np.save({str(tmp_path / "image.npy")!r}, np.asarray(image))
pipe = cache.get("sd-turbo")
package = next(iter(pipe.unet.forward.packages.values()))
applied = compiled.packages_in_use(pipe, "sd-turbo")
print(json.dumps({{"applied": len(applied), "notices": notices, "load_s": package.load_seconds}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=os.environ
        | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "FUSION_MODELS": "tiny", "FUSION_DEVICE": "cpu"}
        | {"FUSION_DTYPE": "float32"}
        | {"FUSION_TINY_DIR": str(tiny_dir), "FUSION_COMPILED_DIR": str(compiled_dir)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["applied"] == 1 and outcome["notices"] == []
    assert 0 < outcome["load_s"] < 5  # loading, not compiling
    found = np.load(tmp_path / "image.npy").astype(np.int16)
    assert np.abs(found - _pixels(eager)).max() <= TOLERANCE


def test_a_package_for_another_shape_or_dtype_is_refused(startup, tiny_dir: Path, compiled_dir: Path) -> None:
    cache, built, _reports = startup
    folder = built[0].package.folder
    pipe = cache.get("sd-turbo")
    bigger = (torch.randn(1, 4, 12, 12), torch.tensor(999.0), torch.randn(1, 77, 32)), {"return_dict": False}
    with pytest.raises(compiled.StalePackage, match=r"input shapes: built for '1x4x8x8 .*', here '1x4x12x12 "):
        compiled.load_package(folder, "sd-turbo", pipe, call=bigger)

    half = ModelCache(_settings(tiny_dir, compiled_dir, dtype="bfloat16"))
    with pytest.raises(compiled.StalePackage, match="dtype: built for 'float32', here 'bfloat16'"):
        compiled.load_package(folder, "sd-turbo", half.get("sd-turbo"))
    assert compiled.apply_packages("sd-turbo", half.get("sd-turbo"), half.settings).applied == ()


def test_a_package_from_another_torch_is_refused_with_the_reason(
    startup, tiny_dir: Path, tmp_path: Path
) -> None:
    _cache, built, _reports = startup
    old = tmp_path / "compiled"
    copy = old / "sd-turbo" / "unet" / "old-torch"
    shutil.copytree(built[0].package.folder, copy)
    meta = json.loads((copy / compiled.META_FILE).read_text())
    meta["key"]["torch"] = "2.0.0"
    (copy / compiled.META_FILE).write_text(json.dumps(meta))
    settings = _settings(tiny_dir, old)
    cache = ModelCache(settings)
    report = compiled.apply_packages("sd-turbo", cache.get("sd-turbo"), settings)
    assert report.applied == ()
    ((info, reason),) = report.refused
    assert f"torch version: built for '2.0.0', here '{torch.__version__}'" in reason
    assert compiled.stale_reason(info) == f"torch version: built for '2.0.0', here '{torch.__version__}'"


def test_a_size_without_a_package_runs_eager_with_a_notice(startup, eager: ModelCache) -> None:
    cache, _built, _reports = startup
    other = replace(OPTIONS, width=96, height=96)
    result = generation.generate(other, cache=cache)
    notice = (
        "The sd-turbo unet has no precompiled package for this size (1x4x12x12 float32 cpu, () float32 cpu, "
        "1x77x32 float32 cpu), so it ran uncompiled (slower)."
    )
    assert [text for text in result.notices if "precompiled" in text] == [notice], "the result says so"
    assert np.array_equal(np.asarray(result.images[0]), _pixels(eager, other))


def test_the_list_names_model_shapes_and_size(startup) -> None:
    cache, built, _reports = startup
    (line,) = precompile.describe(cache.settings)
    info = built[0].package
    assert line.startswith(f"sd-turbo unet ({info.key.inputs}; float32, CPU ")
    assert f"{info.bytes / 1e6:.1f} MB" in line and line.endswith("ready")


def test_status_lists_the_attached_package_and_the_model_counts_its_bytes(
    startup, tiny_dir: Path, compiled_dir: Path
) -> None:
    """Issue 19: ``/status`` lists the package, fresh and attached to the loaded SD-Turbo; a model counts its bytes
    (``held_bytes``) in its own and in its total, whether its load hook or the start-up build attached it."""
    cache, built, _reports = startup
    info = built[0].package
    (package,) = precompile.status(cache)["packages"]
    assert package == {
        "model": "sd-turbo",
        "component": "unet",
        "inputs": info.key.inputs,
        "dtype": "float32",
        "frozen": False,
        "bytes": info.bytes,
        "created": info.created,
        "stale": "",
        "attached": True,
    }
    (started,) = [model for model in cache.stats().models if model.key == "sd-turbo"]
    assert started.held_bytes == info.bytes, "attached after it loaded (ZeroGPU's start-up), and counted"
    loaded = ModelCache(_settings(tiny_dir, compiled_dir))
    assert not precompile.status(loaded)["packages"][0]["attached"], "nothing is loaded yet"
    loaded.get("sd-turbo")
    assert precompile.status(loaded)["packages"][0]["attached"]
    (model,) = [model for model in loaded.stats().models if model.key == "sd-turbo"]
    assert model.held_bytes == info.bytes and model.total_bytes >= model.bytes > info.bytes


def test_a_frozen_cpu_package_holds_its_weights_and_knows_their_values(tiny_dir: Path, tmp_path: Path) -> None:
    """The CPU's packages: weights folded in (oneDNN prepacks them), so changed weights make the package stale."""
    settings = _settings(tiny_dir, tmp_path / "compiled")
    cache = ModelCache(settings)
    taesd = cache.get("taesd")
    latents = torch.randn(1, 4, 8, 8)
    call = compiled.capture(taesd.decoder, lambda: taesd.decode(latents))
    info = compiled.compile_package("taesd", taesd, "decoder", *call, settings.compiled_dir, frozen=True)
    assert info.key.frozen and info.key.values and info.title.endswith(", frozen)")
    package = compiled.load_package(info.folder, "taesd", taesd)
    with torch.no_grad():
        expected = taesd.decoder(*call[0], **call[1])
        found = package.runner()(*call[0], **call[1])
    assert torch.allclose(found, expected, atol=1e-4)

    with torch.no_grad():
        next(taesd.decoder.parameters()).mul_(2)
    with pytest.raises(compiled.StalePackage, match="weight values: built for"):
        compiled.load_package(info.folder, "taesd", taesd)
