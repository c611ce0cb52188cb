"""The per-batch function both engines run: a table of image records in, a table of output rows out.

It only decodes and dispatches: every number comes from the panels' own task functions
(:func:`fusion.features.handcrafted_vector`, :func:`fusion.captioning.caption`,
:func:`fusion.classification.zero_shot`, :func:`fusion.generation.generate`), so a batch row holds exactly
what the app shows for that image. A record that cannot be decoded, or an image a task refuses with a
``ValueError``, becomes a row with an ``error``; a model that cannot load (``ModelLoadError``) stops the run,
because every further row would fail the same way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from functools import cache as memoise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from fusion import images
from fusion.captioning import CAPTION_MODEL_KEYS, CaptionOptions, caption
from fusion.classification import ZeroShotOptions, zero_shot
from fusion.features import handcrafted_vector
from fusion.generation import SAFETY_KEY, GenerationOptions, generate, get_preset, save_png

if TYPE_CHECKING:
    from fusion.cache import ModelCache
    from fusion.config import Settings

TASKS = ("features", "caption", "classify", "generate")
#: Input records: ``path`` names the row (and is the file to read when ``image`` is null).
RECORD_SCHEMA = pa.schema([pa.field("path", pa.string(), nullable=False), pa.field("image", pa.binary())])
#: Every output has every column, whatever tasks ran (the others are null), so parts always concatenate.
OUTPUT_FIELDS = (
    pa.field("path", pa.string(), nullable=False),
    pa.field("error", pa.string()),
    pa.field("width", pa.int32()),
    pa.field("height", pa.int32()),
    pa.field("features", pa.list_(pa.float32())),
    pa.field("caption", pa.string()),
    pa.field("captions", pa.list_(pa.string())),
    pa.field("scores", pa.map_(pa.string(), pa.float64())),
    pa.field("top_label", pa.string()),
    pa.field("generated_path", pa.string()),
    pa.field("generated_seed", pa.int64()),
    pa.field("notices", pa.list_(pa.string())),
)
#: Schema metadata keys: the run's description (tasks, options, models) and the feature vector's layout.
RUN_KEY = b"fusion.run"
FEATURE_BLOCKS_KEY = b"fusion.feature_blocks"
SCHEMA_VERSION = 1
#: Images per batch by device when the user does not choose: one caption ``generate`` per batch on a GPU
#: fills it at 32 (BLIP's batch limit in :data:`fusion.captioning.CAPTION_BOUNDS`); on a CPU batching gains
#: little past 8; without a model a batch only sets how often rows are written.
AUTO_BATCH_SIZES = {"cuda": 32, "mps": 16, "cpu": 8}
FEATURES_ONLY_BATCH_SIZE = 64


@dataclass(frozen=True)
class BatchOptions:
    """What to compute for every image; picklable, so Ray ships it to every worker."""

    tasks: tuple[str, ...] = ("features",)
    #: Zero-shot labels (``classify``).
    labels: tuple[str, ...] = ()
    caption: CaptionOptions = field(default_factory=CaptionOptions)
    zero_shot: ZeroShotOptions = field(default_factory=ZeroShotOptions)
    #: ``generate``: image-to-image from every input image. An empty prompt means "the row's caption".
    generation: GenerationOptions = field(default_factory=lambda: GenerationOptions(model="sd-turbo", seed=0))
    #: Where generated PNGs go (shared storage on a cluster).
    generated_dir: Path | None = None

    def __post_init__(self) -> None:
        unknown = [task for task in self.tasks if task not in TASKS]
        if unknown or not self.tasks:
            given = f"Unknown task(s) {', '.join(unknown)}" if unknown else "No task was given"
            raise ValueError(f"{given}: choose from {', '.join(TASKS)}.")
        if "classify" in self.tasks and not self.labels:
            raise ValueError('The classify task needs labels, for example --labels "cat, dog, car".')
        if "generate" in self.tasks and self.generated_dir is None:
            raise ValueError("The generate task needs a folder for the generated images (generated_dir).")


def model_keys(options: BatchOptions) -> tuple[str, ...]:
    """The cache keys the tasks will use (loaded up front so a missing model fails before any row)."""
    keys: list[str] = []
    if "caption" in options.tasks:
        keys.append(CAPTION_MODEL_KEYS[options.caption.model])
    if "classify" in options.tasks:
        keys.append(options.zero_shot.model_key)
    if "generate" in options.tasks:
        keys.append(get_preset(options.generation.model).key)
        if options.generation.safety_checker:
            keys.append(SAFETY_KEY)
    return tuple(keys)


def auto_batch_size(device_type: str, tasks: tuple[str, ...]) -> int:
    """The batch size for a device (``cuda``, ``mps``, ``cpu``) when the user leaves it to us."""
    if set(tasks) <= {"features"}:
        return FEATURES_ONLY_BATCH_SIZE
    return AUTO_BATCH_SIZES.get(device_type, AUTO_BATCH_SIZES["cpu"])


# ------------------------------------------------------------------------------------------------ schema
@memoise
def feature_blocks() -> dict[str, list[int]]:
    """The handcrafted vector's named slices as ``{name: [start, stop]}`` (the same for every image)."""
    vector = handcrafted_vector(np.zeros((32, 32, 3), np.uint8))
    return {name: [part.start, part.stop] for name, part in vector.blocks.items()}


def run_description(options: BatchOptions, settings: Settings) -> dict[str, Any]:
    """Everything that decides a row's content; a resumed run must match it exactly."""
    generation = {k: v for k, v in asdict(options.generation).items() if k != "init_image"}
    # Captions do not depend on how images are grouped into ``generate`` calls.
    caption_options = {k: v for k, v in asdict(options.caption).items() if k != "batch_size"}
    keys = model_keys(options)
    return {
        "schema_version": SCHEMA_VERSION,
        "tasks": list(options.tasks),
        "labels": list(options.labels),
        "caption": caption_options if "caption" in options.tasks else None,
        "zero_shot": asdict(options.zero_shot) if "classify" in options.tasks else None,
        "generation": generation if "generate" in options.tasks else None,
        "generated_dir": str(options.generated_dir) if "generate" in options.tasks else None,
        "models": {key: "tiny" if settings.models == "tiny" else settings.model_id(key) for key in keys},
    }


def output_schema(options: BatchOptions, settings: Settings) -> pa.Schema:
    """The output columns, with the run description and feature layout as JSON in the schema metadata."""
    metadata = {
        RUN_KEY: json.dumps(run_description(options, settings), sort_keys=True, default=str),
        FEATURE_BLOCKS_KEY: json.dumps(feature_blocks()),
    }
    return pa.schema(list(OUTPUT_FIELDS), metadata=metadata)


# ------------------------------------------------------------------------------------------------- rows
@dataclass
class _Row:
    """One image on its way through the tasks; ``pixels`` is dropped before the row is written."""

    path: str
    pixels: np.ndarray | None = None
    errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    columns: dict[str, Any] = field(default_factory=dict)

    def fail(self, stage: str, error: Exception) -> None:
        self.errors.append(f"{stage}: {error}")

    def output(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "error": " | ".join(self.errors) or None,
            "notices": self.notices,
            **self.columns,
        }


def _decode(row: _Row, data: bytes | None, settings: Settings) -> None:
    source = data if data is not None else row.path
    try:
        decoded = images.load(source, max_side=settings.max_image_side, max_bytes=settings.decode_memory)
    except images.ImageError as error:
        row.fail("decode", error)
        return
    row.pixels = decoded.pixels
    row.notices += decoded.notices
    row.columns["width"], row.columns["height"] = decoded.original_size


def _features(rows: list[_Row]) -> None:
    for row in rows:
        try:
            row.columns["features"] = handcrafted_vector(row.pixels).values
        except ValueError as error:
            row.fail("features", error)


def _captions(rows: list[_Row], options: CaptionOptions, cache: ModelCache) -> None:
    """One ``caption`` call for the batch; if it refuses the batch, each image alone finds the culprit."""
    try:
        groups = [(rows, caption([row.pixels for row in rows], options, cache=cache))]
    except ValueError:
        groups = []
        for row in rows:
            try:
                groups.append(([row], caption([row.pixels], options, cache=cache)))
            except ValueError as error:
                row.fail("caption", error)
    for group, result in groups:
        for row, candidates in zip(group, result.captions, strict=True):
            row.columns["captions"] = list(candidates)
            row.columns["caption"] = candidates[0] if candidates else None
            row.notices += result.notices


def _classify(rows: list[_Row], options: BatchOptions, cache: ModelCache) -> None:
    for row in rows:
        try:
            result = zero_shot(row.pixels, list(options.labels), options.zero_shot, cache=cache)
        except ValueError as error:
            row.fail("classify", error)
            continue
        row.columns["scores"] = result.confidences()
        row.columns["top_label"] = result.top_label
        row.notices += result.notices


def generated_name(path: str) -> str:
    """A file name that is the same for the same input on every engine and never collides."""
    digest = hashlib.sha1(path.encode()).hexdigest()[:12]
    return f"{Path(path).stem[:60] or 'image'}-{digest}.png"


def _generate(rows: list[_Row], options: BatchOptions, cache: ModelCache) -> None:
    folder = Path(options.generated_dir)  # type: ignore[arg-type]  # checked in BatchOptions
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        prompt = options.generation.prompt or row.columns.get("caption") or ""
        request = replace(options.generation, prompt=prompt, init_image=row.pixels)
        try:
            result = generate(request, cache=cache)
        except ValueError as error:
            row.fail("generate", error)
            continue
        row.columns["generated_path"] = str(save_png(result.images[0], folder / generated_name(row.path)))
        row.columns["generated_seed"] = result.seed
        row.notices += result.notices


def process_batch(records: pa.Table, options: BatchOptions, *, cache: ModelCache) -> pa.Table:
    """Run the tasks over a table of :data:`RECORD_SCHEMA` records; one output row per record, in order."""
    settings = cache.settings
    rows = [_Row(path) for path in records.column("path").to_pylist()]
    data = records.column("image").to_pylist() if "image" in records.column_names else [None] * len(rows)
    for row, payload in zip(rows, data, strict=True):
        _decode(row, payload, settings)
    decoded = [row for row in rows if row.pixels is not None]
    if decoded and "features" in options.tasks:
        _features(decoded)
    if decoded and "caption" in options.tasks:
        _captions(decoded, options.caption, cache)
    if decoded and "classify" in options.tasks:
        _classify(decoded, options, cache)
    if decoded and "generate" in options.tasks:
        _generate(decoded, options, cache)
    return pa.Table.from_pylist([row.output() for row in rows], schema=output_schema(options, settings))
