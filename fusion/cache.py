"""The only owner of model memory: lazy loads, one copy per model, a byte budget with LRU eviction.

Task functions ask the cache for a model on every call (a hit is a dictionary lookup under a lock) and hold it
with :meth:`ModelCache.use` while they compute, so eviction never pulls a model out from under a running call.
Everything a model costs is the cache's: its registry entry's load hook (speed-ups that change it in place) runs
once, right after it loads, and objects derived from models (pipelines built around their components, recorded
CUDA graphs) are lent by :meth:`ModelCache.borrow`, counted in the budget and dropped with any model they came
from. So eviction frees what it says.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cache as memoise
from pathlib import Path
from typing import Any, TypeVar

import torch

from fusion.config import DEFAULT_MODEL_IDS, Settings, get_settings
from fusion.errors import ModelLoadError, new_error_id
from fusion.messages import Message
from fusion.registry import REGISTRY, ModelSpec

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Held around every tiny build and ``from_pretrained`` in the process, whatever the cache. diffusers
#: loads inside ``accelerate.init_empty_weights()``, which swaps ``torch.nn.Module.register_parameter``
#: process-wide, and the libraries set torch's global default dtype while loading: two loads at once (or
#: a load beside a tiny build) gave other threads' new modules meta-device weights and could leave the
#: patch in place for good. Hits never wait for it; only loads of different keys queue behind each other.
_LIBRARY_LOCK = threading.Lock()

#: Advice shared by every message about weights that are not on this machine.
GET_WEIGHTS_ADVICE = (
    "Run `python -m fusion download` while online, or set FUSION_MODELS=tiny for random-weight smoke runs."
)


@dataclass
class _Entry:
    model: Any = None
    bytes: int = 0
    #: Of ``bytes``, what the load hook made the model hold (ahead-of-time compiled packages).
    held: int = 0
    loads: int = 0
    hits: int = 0
    evictions: int = 0
    failures: int = 0
    in_use: int = 0
    pinned: bool = False
    last_used: float = 0.0
    load_seconds: float = 0.0
    source: str = ""
    #: Serialises loads of this one key; loads of different keys run in parallel.
    load_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def resident(self) -> bool:
        return self.model is not None


@dataclass(eq=False)
class _Derived:
    """An object made from resident models, lent to one caller at a time and dropped with any of them."""

    kind: str
    key: Hashable
    depends_on: tuple[str, ...]
    value: Any
    bytes: int
    in_use: bool = True
    last_used: float = 0.0


@dataclass(frozen=True)
class ModelStats:
    """What ``/status`` reports for one model."""

    key: str
    title: str
    source: str
    resident: bool
    pinned: bool
    in_use: int
    loads: int
    hits: int
    evictions: int
    #: Its weights and what its load hook made it hold (``held_bytes``).
    bytes: int
    load_seconds: float
    last_used: float
    failures: int = 0
    held_bytes: int = 0
    #: Objects derived from this model (see :class:`DerivedStats`) and their own bytes, not in ``bytes``.
    derived: int = 0
    derived_bytes: int = 0
    #: What evicting it frees: ``bytes`` and ``derived_bytes``.
    total_bytes: int = 0


@dataclass(frozen=True)
class DerivedStats:
    """What ``/status`` reports for one object derived from models (a pipeline, a recorded CUDA graph)."""

    kind: str
    #: What tells it from the others of its kind and models, readable (``""`` when there is one of them).
    key: str
    #: The models it was made from; it is dropped with any of them.
    models: tuple[str, ...]
    in_use: bool
    #: Its own bytes: memory the models do not hold (a pipeline built with ``from_pipe`` shares their weights).
    bytes: int


@dataclass(frozen=True)
class CacheStats:
    device: str
    dtype: str
    models_source: str
    budget_bytes: int
    #: Resident models and everything derived from them.
    used_bytes: int
    models: tuple[ModelStats, ...]
    #: Every derived object, oldest first.
    derived: tuple[DerivedStats, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("FUSION_DEVICE=cuda but no CUDA GPU is visible; use FUSION_DEVICE=auto or cpu.")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """Half precision on accelerators; on the CPU bfloat16 where it has native bfloat16 arithmetic (AVX-512 BF16
    or AMX: 1.4-1.9x faster on every panel of the free tier's 2 cores, ``benchmarks/results/cpu.md``), else
    float32, unless asked otherwise."""
    if name == "auto":
        if device.type in {"cuda", "mps"}:
            return torch.float16
        return torch.bfloat16 if cpu_has_fast_bfloat16() else torch.float32
    return getattr(torch, name)


def cpu_has_fast_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (torch's own checks; only private ones exist)."""
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check is not None and check() for check in checks)


def default_budget(device: torch.device, fraction: float, *, zero_gpu: bool = False) -> int:
    """A fraction of free accelerator memory, or of available RAM on the CPU.

    On ZeroGPU no GPU is attached at import time (``spaces`` fakes one and refuses CUDA calls such as
    ``mem_get_info``), so the budget is a fraction of the card's total memory, which ``spaces`` does report.
    """
    if device.type == "cuda":
        if zero_gpu:
            return int(torch.cuda.get_device_properties(device).total_memory * fraction)
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * fraction)
    import psutil

    return int(psutil.virtual_memory().available * fraction)


def module_bytes(model: Any, *, excluding: Iterable[Any] = ()) -> int:
    """Bytes of parameters and buffers of every torch module reachable from a model, bundle or pipeline; with
    ``excluding``, only of those the excluded models do not hold (what a pipeline built around them adds)."""
    shared = {key for other in excluding for key in _tensors(other)}
    return sum(
        tensor.numel() * tensor.element_size() for key, tensor in _tensors(model).items() if key not in shared
    )


def _tensors(model: Any) -> dict[int, torch.Tensor]:
    """The parameters and buffers of a model, bundle or pipeline, each once."""
    modules: list[torch.nn.Module] = []
    if isinstance(model, torch.nn.Module):
        modules.append(model)
    else:
        parts = getattr(model, "components", None) or getattr(model, "__dict__", {})
        modules.extend(part for part in parts.values() if isinstance(part, torch.nn.Module))
    return {id(tensor): tensor for module in modules for tensor in (*module.parameters(), *module.buffers())}


def _is_oom(error: BaseException) -> bool:
    """CUDA/MPS out-of-memory errors, and the CPU allocator's refusal."""
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class ModelCache:
    """Process-wide model cache; safe to call from Gradio's worker threads."""

    def __init__(self, settings: Settings, *, registry: dict[str, ModelSpec] | None = None) -> None:
        self.settings = settings
        self.registry = REGISTRY if registry is None else registry
        self.device = resolve_device(settings.device)
        self.dtype = resolve_dtype(settings.dtype, self.device)
        self.budget = settings.memory_budget or default_budget(
            self.device, settings.budget_fraction, zero_gpu=settings.zero_gpu
        )
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {key: _Entry() for key in self.registry}
        self._derived: list[_Derived] = []

    # ----------------------------------------------------------------- lookups
    def get(self, key: str) -> Any:
        """The resident model for ``key``, loading it exactly once on first use."""
        return self._acquire(key, hold=False)

    @contextmanager
    def use(self, *keys: str) -> Iterator[Any]:
        """Hold models for the length of a call; yields one model, or a tuple for several keys.

        Each model is marked in use in the same step that finds or loads it, so nothing evicts it in between;
        if a later key fails to load, the models already held are released before the error propagates.
        """
        for key in keys:
            self._entry(key)
        models: list[Any] = []
        held: list[_Entry] = []
        try:
            for key in keys:
                models.append(self._acquire(key, hold=True))
                held.append(self._entries[key])
            yield models[0] if len(models) == 1 else tuple(models)
        finally:
            with self._lock:
                now = time.monotonic()
                for entry in held:
                    entry.in_use -= 1
                    entry.last_used = now

    @contextmanager
    def borrow(
        self,
        kind: str,
        key: Hashable,
        build: Callable[..., T],
        *,
        depends_on: Sequence[str],
        size: Callable[[T], int] | None = None,
        keep: int | None = None,
    ) -> Iterator[T]:
        """Lend an object derived from models (a pipeline around their components, a recorded CUDA graph) to one
        caller at a time, inside the caller's :meth:`use` of those models (which keeps them resident meanwhile).

        A free object of this ``kind`` and ``key`` is reused, else ``build(*models)`` makes one from the models
        ``depends_on`` names. Its own bytes (``size(value)``, by default those of its tensors the models do not
        hold) count in the budget and in :meth:`stats`, and it is dropped with any of the models. ``keep`` caps the
        free objects of this kind per set of models (least recently used go first). A model that is not held
        raises ``KeyError``.
        """
        depends_on = tuple(depends_on)
        with self._lock:
            for name in depends_on:
                if not self._entry(name).in_use:
                    raise KeyError(name)
            models = tuple(self._entries[name].model for name in depends_on)
            derived = next(
                (
                    item
                    for item in self._derived
                    if not item.in_use and (item.kind, item.key, item.depends_on) == (kind, key, depends_on)
                ),
                None,
            )
            if derived is not None:
                derived.in_use = True
        if derived is None:
            value = build(*models)
            own = size(value) if size is not None else module_bytes(value, excluding=models)
            derived = _Derived(kind, key, depends_on, value, own)
            with self._lock:
                self._derived.append(derived)
            self._make_room(0)
        try:
            yield derived.value
        finally:
            self._give_back(derived, keep)

    def inspect(self, key: str, look: Callable[[Any], T]) -> T | None:
        """What ``look`` finds in the model ``key`` if it is resident (else ``None``), without loading it or counting
        a hit: for reports about a model, such as the compiled packages attached to it. ``look`` runs under the
        cache's lock, so it must be quick and must not call the cache."""
        entry = self._entry(key)
        with self._lock:
            return None if entry.model is None else look(entry.model)

    def run(self, fn: Callable[[], T]) -> T:
        """Run a model call; on out-of-memory free what is not in use, empty the CUDA cache and retry once."""
        try:
            return fn()
        except Exception as error:
            if not _is_oom(error):
                raise
        # Freed outside the ``except`` block: the traceback and the activations its frames hold are gone now.
        log.warning("Out of memory during a model call; freeing unused models and retrying once")
        self.evict_unused()
        try:
            return fn()
        except Exception as error:
            if not _is_oom(error):
                raise
            raise ModelLoadError(
                Message(
                    "The {memory} ran out of memory even after freeing every model not in use. Try a smaller size, "
                    "fewer images or steps, or wait for other requests to finish.",
                    memory=self._memory_name(),
                )
            ) from error

    # ------------------------------------------------------------- management
    def pin(self, key: str) -> None:
        """Keep a model resident: eviction skips it (a key pinned before it loads is pinned once loaded)."""
        entry = self._entry(key)
        with self._lock:
            entry.pinned = True

    def unpin(self, key: str) -> None:
        entry = self._entry(key)
        with self._lock:
            entry.pinned = False

    def hold(self, key: str, held: int) -> None:
        """Count what a resident model's speed-ups hold now in place of what its load hook reported: packages
        attached after it loaded (ZeroGPU's start-up build) are counted like those its load hook attached."""
        entry = self._entry(key)
        with self._lock:
            if not entry.resident:
                return
            entry.bytes += held - entry.held
            entry.held = held
        self._make_room(0, exclude=key)

    def evict(self, key: str) -> bool:
        """Drop a model (pinned or not) and everything derived from it, if it is resident and not in use; returns
        whether it was dropped."""
        self._entry(key)
        with self._lock:
            dropped = self._drop(key)
        if dropped:
            _release_memory()
        return dropped

    def evict_unused(self) -> int:
        """Drop every resident model that is neither pinned nor in use; returns how many were dropped."""
        with self._lock:
            dropped = sum(self._drop(key) for key, entry in self._entries.items() if not entry.pinned)
        _release_memory()
        return dropped

    def used_bytes(self) -> int:
        with self._lock:
            return self._resident_bytes()

    def stats(self) -> CacheStats:
        with self._lock:
            used = self._resident_bytes()
            models = tuple(self._model_stats(key, entry) for key, entry in self._entries.items())
            derived = tuple(
                DerivedStats(item.kind, readable_key(item.key), item.depends_on, item.in_use, item.bytes)
                for item in self._derived
            )
        return CacheStats(
            device=str(self.device),
            dtype=str(self.dtype).removeprefix("torch."),
            models_source=self.settings.models,
            budget_bytes=self.budget,
            used_bytes=used,
            models=models,
            derived=derived,
        )

    def source(self, key: str) -> str:
        """Where a key loads from: the configured Hub id or folder, or its tiny twin's folder."""
        if self.settings.models == "tiny":
            return str(self.settings.tiny_dir / key)
        return self.settings.model_id(key)

    def preload(self, keys: tuple[str, ...]) -> None:
        """Load models now and pin them (ZeroGPU wants them on CUDA at import time).

        Each key is pinned before it loads, so loading the next one can never evict it. Every key is tried;
        one :class:`ModelLoadError` then names all that failed (and are left unpinned).
        """
        failures: list[str] = []
        for key in keys:
            self.pin(key)
            try:
                self.get(key)
            except ModelLoadError as error:
                self.unpin(key)
                failures.append(str(error))
        if failures:
            raise ModelLoadError(
                f"Preloading failed for {len(failures)} of {len(keys)} models. " + " ".join(failures)
            )

    # --------------------------------------------------------------- internals
    def _model_stats(self, key: str, entry: _Entry) -> ModelStats:
        """One model's statistics (caller holds the lock)."""
        derived = [item for item in self._derived if key in item.depends_on]
        derived_bytes = sum(item.bytes for item in derived)
        return ModelStats(
            key=key,
            title=self.registry[key].title,
            source=entry.source or self.source(key),
            resident=entry.resident,
            pinned=entry.pinned,
            in_use=entry.in_use,
            loads=entry.loads,
            hits=entry.hits,
            evictions=entry.evictions,
            bytes=entry.bytes,
            load_seconds=round(entry.load_seconds, 3),
            last_used=entry.last_used,
            failures=entry.failures,
            held_bytes=entry.held,
            derived=len(derived),
            derived_bytes=derived_bytes,
            total_bytes=entry.bytes + derived_bytes,
        )

    def _entry(self, key: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            raise ValueError(
                Message("Unknown model {key!r}; known models: {choices}", key=key, choices=", ".join(self._entries))
            )
        return entry

    def _acquire(self, key: str, *, hold: bool) -> Any:
        """Find or load a model; with ``hold`` it is marked in use under the same lock that found it."""
        entry = self._entry(key)
        with self._lock:
            if entry.resident:
                return self._hit(entry, hold)
        with entry.load_lock:
            with self._lock:
                if entry.resident:
                    return self._hit(entry, hold)
            return self._load(key, entry, hold=hold)

    @staticmethod
    def _hit(entry: _Entry, hold: bool) -> Any:
        """Count a hit (caller holds the lock)."""
        entry.hits += 1
        entry.last_used = time.monotonic()
        entry.in_use += hold
        return entry.model

    def _load(self, key: str, entry: _Entry, *, hold: bool) -> Any:
        """Load ``key`` (caller holds its load lock), keeping the budget before and after."""
        spec = self.registry[key]
        source = self.source(key)
        with _LIBRARY_LOCK:
            self._make_room(self._expected_bytes(spec), exclude=key)
            try:
                model, held, seconds = self._load_from_source(spec, source)
            except ModelLoadError:
                with self._lock:
                    entry.failures += 1
                raise
            size = module_bytes(model) + held
            with self._lock:
                entry.model = model
                entry.bytes = size
                entry.held = held
                entry.loads += 1
                entry.load_seconds = seconds
                entry.last_used = time.monotonic()
                entry.source = source
                entry.in_use += hold
            self._make_room(0, exclude=key)
        log.info("Loaded %s from %s in %.2fs (%.1f MB)", key, source, seconds, size / 1e6)
        return model

    def _expected_bytes(self, spec: ModelSpec) -> int:
        """Room to make before a Hub load: the registry's half-precision size, scaled to our dtype.

        Tiny twins are a few megabytes: the check after the load keeps the budget for them.
        """
        if self.settings.models == "tiny":
            return 0
        return spec.expected_bytes * self.dtype.itemsize // 2

    def _load_from_source(self, spec: ModelSpec, source: str) -> tuple[Any, int, float]:
        """Build the tiny twin if needed, then load and prepare; the model, the bytes its load hook made it hold, the
        seconds it took. Every failure becomes a :class:`ModelLoadError`."""
        if self.settings.models == "tiny":
            from fusion.tiny import ensure_tiny

            try:
                ensure_tiny(spec, Path(source))
            except Exception as error:
                error_id = new_error_id()
                log.exception("Could not build the tiny stand-in for %s in %s [error %s]", spec.key, source, error_id)
                raise ModelLoadError(
                    Message(
                        "{title} is not available: its tiny stand-in could not be built (error {error_id}; the server "
                        "log has the details).",
                        title=spec.title,
                        error_id=error_id,
                    ),
                    error_id=error_id,
                ) from error
        started = time.perf_counter()
        try:
            model = self._load_with_retry(spec, source)
            held = spec.prepare(model, self.settings) if spec.prepare is not None else 0
        except ModelLoadError:
            raise
        except Exception as error:
            cause, detail = _load_failure(spec, source, error, tiny=self.settings.models == "tiny")
            error_id = new_error_id()
            log.error("%s [error %s]", detail, error_id)
            raise ModelLoadError(
                Message(
                    "{title} is not available: {cause}. The server's owner can fix it (`python -m fusion download` "
                    "fetches the default models). (error {error_id})",
                    title=spec.title,
                    cause=cause,
                    error_id=error_id,
                ),
                error_id=error_id,
            ) from error
        return model, held, time.perf_counter() - started

    def _load_with_retry(self, spec: ModelSpec, source: str) -> Any:
        try:
            return spec.loader(source, self.device, self.dtype)
        except Exception as error:
            if not _is_oom(error):
                raise
        log.warning("Out of memory loading %s; freeing unused models and retrying once", spec.key)
        self.evict_unused()
        try:
            return spec.loader(source, self.device, self.dtype)
        except Exception as error:
            if not _is_oom(error):
                raise
            log.error(
                "Not enough %s memory to load %s after freeing every model not in use: lower FUSION_MEMORY_BUDGET, "
                "unpin models, or use a bigger machine.",
                self._memory_name(),
                spec.key,
            )
            raise ModelLoadError(
                Message(
                    "Not enough {memory} memory to load {title}, even after freeing every model not in use. Try again "
                    "when fewer requests are running.",
                    memory=self._memory_name(),
                    title=spec.title,
                )
            ) from error

    def _make_room(self, incoming: int, *, exclude: str | None = None) -> None:
        """Evict least-recently-used models, neither pinned nor in use, until ``incoming`` more bytes fit."""
        dropped = False
        with self._lock:
            candidates = sorted(
                (entry.last_used, key)
                for key, entry in self._entries.items()
                if entry.resident and not entry.pinned and entry.in_use == 0 and key != exclude
            )
            for _last_used, key in candidates:
                if self._resident_bytes() + incoming <= self.budget:
                    break
                dropped |= self._drop(key)
                log.info("Evicted %s to stay within the %.2f GB budget", key, self.budget / 1e9)
        if dropped:
            _release_memory()

    def _resident_bytes(self) -> int:
        """Bytes of resident models and of what is derived from them (caller holds the lock)."""
        models = sum(entry.bytes for entry in self._entries.values() if entry.resident)
        return models + sum(item.bytes for item in self._derived)

    def _drop(self, key: str) -> bool:
        """Forget a model and everything derived from it (caller holds the lock). Nothing derived from it is on
        loan: loans are made inside a :meth:`use` of their models, and a model in use is never dropped."""
        entry = self._entries[key]
        if not entry.resident or entry.in_use:
            return False
        entry.model = None
        entry.bytes = entry.held = 0
        entry.evictions += 1
        self._derived = [item for item in self._derived if key not in item.depends_on]
        return True

    def _give_back(self, derived: _Derived, keep: int | None) -> None:
        """End a loan; beyond ``keep`` free objects of its kind and models, forget the least recently used."""
        with self._lock:
            derived.in_use = False
            derived.last_used = time.monotonic()
            if keep is None:
                return
            group = (derived.kind, derived.depends_on)
            free = sorted(
                (item for item in self._derived if (item.kind, item.depends_on) == group and not item.in_use),
                key=lambda item: item.last_used,
            )
            for item in free[: max(0, len(free) - keep)]:
                self._derived.remove(item)

    def _memory_name(self) -> str:
        return {"cuda": "GPU", "mps": "GPU"}.get(self.device.type, "CPU")


#: Keys of derived objects longer than this are shown shortened, with a digest that tells them apart.
KEY_TEXT_LIMIT = 40


def readable_key(key: Hashable) -> str:
    """A derived object's key as ``/status`` shows it: a tuple's parts joined by commas, ``None`` as nothing, and
    long text (a tool-list prefix is keyed by the whole system prompt) cut short with a digest."""
    if key is None:
        return ""
    if isinstance(key, tuple):
        return ", ".join(readable_key(part) for part in key)
    text = str(key)
    if len(text) <= KEY_TEXT_LIMIT:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[: KEY_TEXT_LIMIT - 11]}… #{digest}"


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _model_variable(key: str) -> str:
    """The environment variable that configures a model key."""
    return DEFAULT_MODEL_IDS[key][0] if key in DEFAULT_MODEL_IDS else "its FUSION_*_MODEL variable"


def _looks_like_path(source: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else is meant as a folder."""
    return Path(source).is_absolute() or source.startswith(("./", "../", "~")) or source.count("/") > 1


def _load_failure(spec: ModelSpec, source: str, error: Exception, *, tiny: bool = False) -> tuple[str, str]:
    """What went wrong, by the kind of failure: the cause a user is told (no paths, variables or exception text,
    which name the server's insides) and the owner's message, for the log."""
    from huggingface_hub import is_offline_mode

    text = f"{type(error).__name__}: {error}"
    lowered = text.lower()
    variable = _model_variable(spec.key)
    if tiny:
        cause = "its tiny stand-in on this server is unreadable"
        advice = f"delete the folder {source!r} so that it is rebuilt."
    elif "Gated" in type(error).__name__ or "gated" in lowered or "401" in text:
        cause = "its repository on the Hub is gated or private"
        advice = "accept its licence on the Hub and set HF_TOKEN."
    elif Path(source).expanduser().is_dir():
        cause = "its weights on this server are incomplete"
        advice = f"the folder is not a complete `save_pretrained` copy of the model; point {variable} at one."
    elif _looks_like_path(source):
        cause = "its weights are not on this server"
        advice = f"there is no such folder; fix {variable}. " + GET_WEIGHTS_ADVICE
    elif "RepositoryNotFound" in type(error).__name__ or "404" in text:
        cause = "its repository was not found on the Hub"
        advice = f"there is no model {source!r} on the Hub: check {variable}."
    elif isinstance(error, OSError) and error.errno == 28:
        cause = "the server's disk is full"
        advice = "free space or point HF_HOME at a larger disk."
    elif is_offline_mode() or "offline" in lowered or "connect" in lowered:
        cause = "its weights are not on this server and the Hub cannot be reached"
        advice = "the weights are not in the local Hugging Face cache. " + GET_WEIGHTS_ADVICE
    else:
        cause = "loading it failed"
        advice = GET_WEIGHTS_ADVICE
    return cause, f"Could not load {spec.title} from {source!r}: {advice} ({text})"


@memoise
def get_cache() -> ModelCache:
    """The one cache of this process, built from the environment's settings."""
    return ModelCache(get_settings())
