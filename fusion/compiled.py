"""Ahead-of-time compiled model calls (AOTInductor packages), saved on disk and applied when a model loads.

Why: ``torch.compile`` compiles on the first request at each size (52-121 s on the H200, ``benchmarks/GPU.md``)
and does not survive ZeroGPU's short-lived workers. A package is compiled once (``python -m fusion compile``, or
at start-up inside one ZeroGPU call: :mod:`fusion.precompile`) and later processes only load it.

How: ``spaces``' own helpers capture a component's call (``aoti_capture``) and compile and write the exported
program (``aoti_compile_and_save``). Their inductor settings keep the weights out of the package, so a package
costs megabytes and, once loaded, borrows the module's own tensors (``load_constants(..., user_managed=True)``,
as ``spaces``' ``aoti_patch`` does). Unlike ``spaces``' ``aoti_apply`` nothing is drained: the eager forward
keeps its weights for the calls no package covers.

On the CPU a package can instead be *frozen* (inductor's ``freezing``: weights folded in and convolution weights
prepacked for oneDNN), which borrowed weights rule out; it then holds its own copy of the weights (memory and
disk the size of the component's weights), so its key also fingerprints their values.

Each package holds one call signature (static shapes). The module's ``forward`` becomes a :class:`_Dispatcher`
that runs the package matching the call and the eager forward otherwise, with a notice (:func:`collect_notices`)
instead of compiling on a visitor's request.

A package is keyed by everything that invalidates it (:class:`PackageKey`): the model's source and revision, the
component's weight layout and dtype, the call's shapes, the device and accelerator (GPU name and capability, or
the CPU's vector instruction set), and the torch and library versions. One whose key differs from the running
process is refused with the reason.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, fields
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils import _pytree as pytree

from fusion.cuda_graphs import CapturedCall
from fusion.messages import Message

if TYPE_CHECKING:
    from fusion.config import Settings

log = logging.getLogger(__name__)

#: Bumped when the layout of a package folder or of its key changes.
FORMAT = 1
META_FILE = "meta.json"
#: ``spaces.aoti_compile_and_save`` writes ``<dir>/root/package.pt2``; ``spaces.aoti_load_from_package_dir`` reads it.
PACKAGE_DIR = "package"
PACKAGE_FILE = Path(PACKAGE_DIR) / "root" / "package.pt2"

#: Model key -> the components worth compiling (attribute paths from the pipeline or the bundle's model). A BLIP
#: captioner's text decoder has a package only where captions run the fixed-shape loop (:mod:`fusion.static_greedy`,
#: dedicated CUDA GPUs): ``generate`` feeds it a longer input at every token, which no static package fits.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "sd15": ("text_encoder", "unet", "vae.decoder"),
    "sd-turbo": ("text_encoder", "unet", "vae.decoder"),
    "taesd": ("decoder",),
    "safety-checker": ("vision_model",),
    "caption": ("vision_model", "text_decoder"),
    "caption-large": ("vision_model", "text_decoder"),
    "vqa": ("vision_model",),
    "clip": ("vision_model",),
    "clip-large": ("vision_model",),
}


class StalePackage(ValueError):
    """A package that does not fit the running process or model; the message says why."""


@dataclass(frozen=True)
class PackageKey:
    """Everything a package depends on; two equal keys mean the package can serve the call."""

    model: str
    component: str
    source: str
    revision: str
    #: Digest of the component's tensor names, shapes and dtypes (architecture, fused projections).
    weights: str
    dtype: str
    #: The call's tensors, readable: ``"1x4x64x64 float32 cpu, () float32 cpu, ..."``.
    inputs: str
    #: Digest of the whole call signature (argument structure, tensors and plain values).
    signature: str
    device: str
    accelerator: str
    torch: str
    libraries: str
    #: Frozen packages embed the weights (CPU); the others borrow the module's.
    frozen: bool = False
    #: Fingerprint of the weight values a frozen package embeds ("" for borrowed weights, whose values do not matter).
    values: str = ""
    format: int = FORMAT

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:20]

    def differences(self, other: PackageKey) -> list[str]:
        """Why a package built for ``self`` cannot serve ``other``, one phrase per differing field."""
        reasons = []
        for field in fields(self):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if mine != theirs and not (field.name == "signature" and self.inputs != other.inputs):
                reasons.append(f"{_FIELD_NAMES[field.name]}: built for {mine!r}, here {theirs!r}")
        return reasons


_FIELD_NAMES = {
    "model": "model",
    "component": "component",
    "source": "model source",
    "revision": "model revision",
    "weights": "weight layout",
    "dtype": "dtype",
    "inputs": "input shapes",
    "signature": "call arguments",
    "device": "device",
    "accelerator": "accelerator",
    "torch": "torch version",
    "libraries": "library versions",
    "frozen": "frozen (weights inside the package)",
    "values": "weight values",
    "format": "package format",
}


@dataclass(frozen=True)
class PackageInfo:
    """One package on disk, as the System tab lists it."""

    key: PackageKey
    folder: Path
    bytes: int
    compile_seconds: float
    created: str

    @property
    def title(self) -> str:
        frozen = ", frozen" if self.key.frozen else ""
        key = self.key
        return f"{key.model} {key.component} ({key.inputs}; {key.dtype}, {key.accelerator}{frozen})"


@dataclass(frozen=True)
class ApplyReport:
    """What :func:`apply_packages` did to one model: packages in use, packages refused and why."""

    model: str
    applied: tuple[PackageInfo, ...] = ()
    refused: tuple[tuple[PackageInfo, str], ...] = ()

    @property
    def held_bytes(self) -> int:
        """What the packages in use keep in memory once loaded, about their size on disk (a frozen package holds
        its own copy of the weights; a GPU package its kernels); recorded CUDA graphs come on top."""
        return sum(info.bytes for info in self.applied)

    def lines(self) -> list[str]:
        used = [f"using {info.title}" for info in self.applied]
        return used + [f"refused {info.title}: {reason}" for info, reason in self.refused]


# ------------------------------------------------------------------------------------------------- keys
def component(model: Any, path: str) -> torch.nn.Module:
    """The module at ``path`` inside a pipeline or a :class:`~fusion.registry.ModelBundle`'s model."""
    return reduce(getattr, path.split("."), _root(model))


def _root(model: Any) -> Any:
    """A bundle's model (a :class:`~fusion.registry.ModelBundle` has ``model`` and ``processor``; the registry's
    load hooks import this module, so it cannot import the registry), or the pipeline itself."""
    bundled = getattr(model, "model", None)
    return bundled if hasattr(model, "processor") and isinstance(bundled, torch.nn.Module) else model


def call_signature(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str]:
    """(readable tensor shapes, the full signature) of a call; a package serves calls of one signature."""
    leaves, spec = pytree.tree_flatten((args, kwargs))
    described = [_describe(leaf) for leaf in leaves]
    shapes = ", ".join(text for text, leaf in zip(described, leaves, strict=True) if isinstance(leaf, torch.Tensor))
    return shapes, f"{spec} | {'; '.join(described)}"


def _describe(leaf: Any) -> str:
    if isinstance(leaf, torch.Tensor):
        shape = "x".join(map(str, leaf.shape)) or "()"
        return f"{shape} {str(leaf.dtype).removeprefix('torch.')} {leaf.device.type}"
    return repr(leaf)


def environment(device: torch.device) -> dict[str, str]:
    """The parts of a key the process decides: device, accelerator, torch and library versions."""
    from importlib.metadata import PackageNotFoundError, version

    libraries = []
    for name in ("diffusers", "transformers"):
        try:
            libraries.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            libraries.append(f"{name} absent")
    return {
        "device": device.type,
        "accelerator": accelerator(device),
        "torch": torch.__version__,
        "libraries": ", ".join(libraries),
    }


def accelerator(device: torch.device) -> str:
    """What generated code is specific to: the GPU and its compute capability, or the CPU model and the vector
    instructions inductor compiles for (a frozen package's weights are also laid out for the oneDNN kernels that
    the CPU's bfloat16 and AMX instructions select)."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"{torch.cuda.get_device_name(device)} (sm {major}.{minor}, CUDA {torch.version.cuda})"
    if device.type == "cpu":
        from torch._inductor.cpu_vec_isa import pick_vec_isa

        extras = [name for name, found in _CPU_EXTRAS.items() if found()]
        features = ", ".join([str(pick_vec_isa() or "no vector instructions"), *extras])
        return f"CPU {_cpu_model()} ({features})"
    return device.type


_CPU_EXTRAS = {"avx512_bf16": torch.cpu._is_avx512_bf16_supported, "amx": torch.cpu._is_amx_tile_supported}


def _cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), or the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.machine()


def source_revision(source: str) -> str:
    """The Hub commit of a cached model, or a digest of a local folder's JSON files (its configurations)."""
    if not source:
        return "built in memory"
    folder = Path(source).expanduser()
    if folder.is_dir():
        digest = hashlib.sha256()
        for path in sorted(folder.rglob("*.json")):
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
        return f"folder {digest.hexdigest()[:16]}"
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model_index.json", "config.json"):
        found = try_to_load_from_cache(source, filename)
        if isinstance(found, str):
            return f"commit {Path(found).parent.name}"
    return "unknown (not in the local Hub cache)"


def weights_digest(module: torch.nn.Module) -> str:
    """Digest of the tensor names, shapes and dtypes a package will borrow (what its constants must match)."""
    layout = sorted((name, tuple(tensor.shape), str(tensor.dtype)) for name, tensor in _tensors(module).items())
    return hashlib.sha256(repr(layout).encode()).hexdigest()[:16]


def values_digest(module: torch.nn.Module) -> str:
    """A cheap fingerprint of the weight values a frozen package embeds: 256 evenly spaced values of each tensor."""
    digest = hashlib.sha256()
    for name, tensor in sorted(_tensors(module).items()):
        flat = tensor.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 256)].float().cpu()
        digest.update(name.encode() + sample.numpy().tobytes())
    return digest.hexdigest()[:16]


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and every buffer, non-persistent ones too (``position_ids``): export lifts them all."""
    return {**dict(module.named_buffers()), **module.state_dict()}


def _source(model: Any) -> str:
    return str(getattr(_root(model), "name_or_path", "") or "")


def package_key(
    model_key: str,
    model: Any,
    component_path: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    frozen: bool = False,
) -> PackageKey:
    """The key of a package for this call of ``model``'s component (after :func:`normalise`)."""
    inputs, signature = call_signature(args, kwargs)
    return _key(model_key, model, component_path, inputs, _digest(signature), frozen)


def _key(
    model_key: str, model: Any, component_path: str, inputs: str, signature: str, frozen: bool
) -> PackageKey:
    module = component(model, component_path)
    parameter = next(module.parameters())
    source = _source(model)
    return PackageKey(
        model=model_key,
        component=component_path,
        source=source,
        revision=source_revision(source),
        weights=weights_digest(module),
        dtype=str(parameter.dtype).removeprefix("torch."),
        inputs=inputs,
        signature=signature,
        **environment(parameter.device),
        frozen=frozen,
        values=values_digest(module) if frozen else "",
    )


def _digest(signature: str) -> str:
    return hashlib.sha256(signature.encode()).hexdigest()[:16]


def normalise(component_path: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict]:
    """Calls that differ only in what the component ignores, made equal so that one package serves them all.

    diffusers' schedulers hand the UNet integer (DPM++, DDIM) or float (Euler) timesteps; the UNet turns both into
    the same float embedding, so the timestep always travels as float32.
    """
    timestep = args[1] if component_path == "unet" and len(args) > 1 else None
    if isinstance(timestep, torch.Tensor) and not timestep.is_floating_point():
        args = (args[0], timestep.float(), *args[2:])
    return args, kwargs


# ------------------------------------------------------------------------------------------- compiling
def spaces_aoti() -> types.ModuleType:
    """``spaces``' AoT helpers (``spaces.zero.torch.aoti``).

    Importing them runs the ``spaces.zero.torch`` package's ``__init__``, which prepares ZeroGPU's CUDA emulation
    and fails on a CPU-only torch build (``torch.version.cuda`` is None, ``torch._C._cuda_init`` is missing). The
    helpers themselves do not need it, so on such a build the package is registered as an empty namespace and only
    the helpers' module is imported. CUDA builds, ZeroGPU's included, import everything as usual.
    """
    name = "spaces.zero.torch"
    if torch.version.cuda is None and name not in sys.modules:
        import spaces.zero

        namespace = types.ModuleType(name)
        namespace.__path__ = [str(Path(spaces.zero.__file__).parent / "torch")]
        sys.modules[name] = namespace
    return importlib.import_module(f"{name}.aoti")


def capture(module: torch.nn.Module, run: Callable[[], Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments of the first call ``run()`` makes to ``module`` (``spaces.aoti_capture``: the call is
    stopped there, so whatever would follow it does not run)."""
    with uncompiled(module), spaces_aoti().aoti_capture(module) as call:
        run()
    if not call.args and not call.kwargs:
        raise RuntimeError(f"{type(module).__name__} was not called, so there is nothing to compile.")
    return call.args, call.kwargs


def compile_package(
    model_key: str,
    model: Any,
    component_path: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    root: Path,
    *,
    inductor_configs: dict[str, Any] | None = None,
    frozen: bool = False,
    rebuild: bool = False,
) -> PackageInfo:
    """Export the component's call, compile it with AOTInductor and save it under ``root``; a package with the
    same key is reused unless ``rebuild``. The folder appears complete or not at all.

    Borrowed-weight packages are compiled and written by ``spaces.aoti_compile_and_save``; ``frozen`` ones (CPU)
    by torch's ``aoti_compile_and_package`` with ``freezing``, in the same layout."""
    args, kwargs = normalise(component_path, args, kwargs)
    key = package_key(model_key, model, component_path, args, kwargs, frozen=frozen)
    folder = _folder(root, key)
    if (folder / META_FILE).exists() and not rebuild:
        return read_package(folder)
    module = component(model, component_path)
    started = time.perf_counter()
    with uncompiled(module), torch.no_grad():
        exported = torch.export.export(module, args, kwargs)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        if frozen:
            (staging / PACKAGE_FILE).parent.mkdir(parents=True)
            configs = {"freezing": True, **(inductor_configs or {})}
            torch._inductor.aoti_compile_and_package(
                exported, package_path=str(staging / PACKAGE_FILE), inductor_configs=configs
            )
        else:
            spaces_aoti().aoti_compile_and_save(staging / PACKAGE_DIR, exported, inductor_configs)
        seconds = time.perf_counter() - started
        meta = {"key": asdict(key), "compile_seconds": round(seconds, 1), "created": time.strftime("%Y-%m-%d %H:%M")}
        (staging / META_FILE).write_text(json.dumps(meta, indent=1))
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("Compiled %s %s for %s in %.0f s", model_key, component_path, key.inputs, seconds)
    return read_package(folder)


def _folder(root: Path, key: PackageKey) -> Path:
    return root / key.model / key.component / key.digest()


@contextmanager
def uncompiled(module: torch.nn.Module) -> Iterator[None]:
    """The module's own forward for the block (export and capture must see it, not a dispatcher; benchmarks time
    it)."""
    dispatcher = module.__dict__.get("forward")
    if not isinstance(dispatcher, _Dispatcher):
        yield
        return
    del module.forward
    try:
        yield
    finally:
        module.forward = dispatcher


# --------------------------------------------------------------------------------------------- reading
def read_package(folder: Path) -> PackageInfo:
    """A package's description from its folder (``meta.json``), with its size on disk."""
    meta = json.loads((folder / META_FILE).read_text())
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    return PackageInfo(
        key=PackageKey(**meta["key"]),
        folder=folder,
        bytes=size,
        compile_seconds=float(meta["compile_seconds"]),
        created=str(meta["created"]),
    )


def list_packages(root: Path) -> list[PackageInfo]:
    """Every complete package under ``root`` (for the System tab: which model, shapes, size on disk)."""
    if not root.is_dir():
        return []
    found = []
    for meta in sorted(root.glob(f"*/*/*/{META_FILE}")):
        try:
            found.append(read_package(meta.parent))
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("Ignoring unreadable package %s: %s", meta.parent, error)
    return found


def stale_reason(info: PackageInfo) -> str | None:
    """Why this process cannot use a package, judged without loading its model (device, accelerator, versions,
    format); ``None`` when nothing here rules it out."""
    if info.key.device == "cuda" and not torch.cuda.is_available():
        return "built for a CUDA GPU; none is visible"
    current = environment(torch.device(info.key.device))
    reasons = [
        f"{_FIELD_NAMES[name]}: built for {getattr(info.key, name)!r}, here {value!r}"
        for name, value in current.items()
        if getattr(info.key, name) != value
    ]
    if info.key.format != FORMAT:
        reasons.append(f"package format {info.key.format}, this version reads {FORMAT}")
    return "; ".join(reasons) or None


# --------------------------------------------------------------------------------------------- loading
def load_package(
    folder: Path,
    model_key: str,
    model: Any,
    *,
    call: tuple[tuple[Any, ...], dict[str, Any]] | None = None,
    graphs: bool = False,
) -> _Package:
    """A package ready to serve ``model``'s component, or :class:`StalePackage` saying what differs (with ``call``,
    the package must also have been built for that call's shapes). ``graphs``: see :class:`_Package`."""
    info = read_package(folder)
    built = info.key
    if call is None:
        current = _key(model_key, model, built.component, built.inputs, built.signature, built.frozen)
    else:
        args, kwargs = normalise(built.component, *call)
        current = package_key(model_key, model, built.component, args, kwargs, frozen=built.frozen)
    reasons = built.differences(current)
    if reasons:
        raise StalePackage(f"{info.title} does not fit: " + "; ".join(reasons))
    return _Package(info, component(model, built.component), graphs=graphs)


class _Package:
    """A loaded package: the compiled model, loaded once per process (a forked ZeroGPU worker loads its own),
    its constants pointed at the module's own tensors again whenever those moved.

    With ``graphs`` its CUDA calls are recorded once as a CUDA graph and replayed (:mod:`fusion.cuda_graphs`):
    compiled kernels are still launched one by one, and on the H200 the eager models are bound by launches
    (``benchmarks/GPU.md``). A package has one signature, so one recording serves every call; outputs are
    copied out of the graph's buffers (the text encoder's first result would otherwise be overwritten by its
    second call, the negative prompt's).
    """

    def __init__(self, info: PackageInfo, module: torch.nn.Module, *, graphs: bool = False) -> None:
        self.info = info
        self.graphs = graphs
        self._module = module
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._runner: Any = None
        self._weights: tuple[Any, ...] | None = None
        self._graph: tuple[CapturedCall, tuple[Any, ...]] | None = None
        self.load_seconds: float | None = None

    def runner(self) -> Any:
        weights = _weights_identity(self._module)
        with self._lock:
            if self._pid != os.getpid():
                started = time.perf_counter()
                self._runner = torch._inductor.aoti_load_package(str(self.info.folder / PACKAGE_FILE))
                self.load_seconds = time.perf_counter() - started
                self._pid, self._weights = os.getpid(), None
            if self._weights != weights and not self.info.key.frozen:
                tensors = _tensors(self._module)
                wanted = self._runner.get_constant_fqns()
                missing = [name for name in wanted if name not in tensors]
                if missing:
                    raise StalePackage(f"{self.info.title} needs tensors the model lacks: {', '.join(missing[:5])}")
                constants = {name: tensors[name] for name in wanted}
                self._runner.load_constants(constants, check_full_update=True, user_managed=True)
                self._weights = weights
        return self._runner

    def call(self, runner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``runner(*args, **kwargs)``, replayed from a CUDA graph where :attr:`graphs` asks for it."""
        leaves, spec = pytree.tree_flatten((args, kwargs))
        tensors = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]
        # Inside a graph being recorded (fusion.static_greedy's caption loop) the call is simply recorded there.
        if not (self.graphs and tensors and tensors[0].is_cuda) or torch.cuda.is_current_stream_capturing():
            return runner(*args, **kwargs)
        with self._lock:  # one replay at a time: the graph's input and output buffers are shared
            if self._graph is None or self._graph[1] != self._weights:
                try:
                    self._graph = CapturedCall(_tensors_only(runner, leaves, spec), *tensors), self._weights
                except RuntimeError as error:
                    log.warning("%s runs without a CUDA graph: %s", self.info.title, error)
                    self.graphs = False
                    return runner(*args, **kwargs)
            return pytree.tree_map_only(torch.Tensor, torch.clone, self._graph[0](*tensors))


def _tensors_only(runner: Any, leaves: list[Any], spec: pytree.TreeSpec) -> Callable[..., Any]:
    """``runner`` as a function of the call's tensors alone, as a recorded graph takes them; the plain values are
    the signature's, the same for every call one package serves."""

    def call(*tensors: torch.Tensor) -> Any:
        supply = iter(tensors)
        filled = [next(supply) if isinstance(leaf, torch.Tensor) else leaf for leaf in leaves]
        args, kwargs = pytree.tree_unflatten(filled, spec)
        return runner(*args, **kwargs)

    return call


def _weights_identity(module: torch.nn.Module) -> tuple[Any, ...]:
    """Changes when the module's weights are moved, cast or replaced (the package holds their addresses)."""
    parameter = next(module.parameters())
    return parameter.data_ptr(), parameter.dtype, parameter.device


#: The notices of the calls inside :func:`collect_notices` (``None`` outside it).
_notices: ContextVar[list[str] | None] = ContextVar("fusion_compiled_notices", default=None)


@contextmanager
def collect_notices() -> Iterator[list[str]]:
    """Gather, for the block, the notices of compiled components that had to run uncompiled."""
    seen: list[str] = []
    token = _notices.set(seen)
    try:
        yield seen
    finally:
        _notices.reset(token)


class _Dispatcher:
    """A module's ``forward``: the package built for the call's signature, or the eager forward with a notice."""

    def __init__(self, module: torch.nn.Module, component_path: str, model_key: str) -> None:
        self.eager = module.forward
        self.component_path = component_path
        self.model_key = model_key
        self.packages: dict[str, _Package] = {}
        self._warned: set[str] = set()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = normalise(self.component_path, args, kwargs)
        inputs, signature = call_signature(args, kwargs)
        package = self.packages.get(_digest(signature))
        if package is not None:
            try:
                runner = package.runner()
            except Exception as error:  # a package that cannot load falls back to eager for good, loudly
                log.warning("Dropping %s: %s: %s", package.info.title, type(error).__name__, error)
                self.packages = {k: v for k, v in self.packages.items() if v is not package}
            else:
                return package.call(runner, args, kwargs)
        self._notice(inputs)
        return self.eager(*args, **kwargs)

    def _notice(self, inputs: str) -> None:
        """One notice per component and block (``generate`` calls a BLIP decoder at a new length every token)."""
        text = Message(
            "The {model} {component} has no precompiled package for this size ({inputs}), so it ran uncompiled "
            "(slower).",
            model=self.model_key,
            component=self.component_path,
            inputs=inputs,
        )
        if inputs not in self._warned:
            self._warned.add(inputs)
            log.info("%s Build one with `python -m fusion compile`.", text)
        seen = _notices.get()
        prefix = f"The {self.model_key} {self.component_path} "
        if seen is not None and not any(notice.startswith(prefix) for notice in seen):
            seen.append(text)


def dispatcher(module: torch.nn.Module, component_path: str, model_key: str) -> _Dispatcher:
    """The module's dispatcher, installed as its ``forward`` on first use (like ``spaces.aoti_apply``)."""
    found = module.__dict__.get("forward")
    if isinstance(found, _Dispatcher):
        return found
    installed = _Dispatcher(module, component_path, model_key)
    module.forward = installed
    return installed


def apply_packages(model_key: str, model: Any, settings: Settings, *, graphs: bool | None = None) -> ApplyReport:
    """Attach every package under ``settings.compiled_dir`` that fits this freshly loaded model; the load hook of
    each registry entry calls it after the model's other speed-ups (fused projections change the weight layout a
    package is built for). Models without packages are left untouched. CUDA calls replay CUDA graphs unless
    ``graphs`` is False; never on ZeroGPU, whose worker processes would record them again at every call."""
    if settings.aot == "off" or model_key not in COMPONENTS:
        return ApplyReport(model_key)
    graphs = not settings.zero_gpu if graphs is None else graphs
    applied, refused = [], []
    for component_path in COMPONENTS[model_key]:
        for info in list_packages(settings.compiled_dir):
            if (info.key.model, info.key.component) != (model_key, component_path):
                continue
            module = component(model, component_path)
            found = module.__dict__.get("forward")
            same = found.packages.get(info.key.signature) if isinstance(found, _Dispatcher) else None
            if same is None or same.info.folder != info.folder or same.graphs != graphs:  # else attached already
                try:
                    package = load_package(info.folder, model_key, model, graphs=graphs)
                except StalePackage as error:
                    refused.append((info, str(error)))
                    continue
                dispatcher(module, component_path, model_key).packages[info.key.signature] = package
            applied.append(info)
    report = ApplyReport(model_key, tuple(applied), tuple(refused))
    for line in report.lines():
        log.info("%s: %s", model_key, line)
    return report


def packages_in_use(model: Any, model_key: str) -> list[PackageInfo]:
    """The packages attached to a loaded model (for the System tab and tests)."""
    attached = []
    for component_path in COMPONENTS.get(model_key, ()):
        found = component(model, component_path).__dict__.get("forward")
        if isinstance(found, _Dispatcher):
            attached += [package.info for package in found.packages.values()]
    return attached
