"""The Ray engine: the same :func:`~fusion.batch.tasks.process_batch` on Ray Data, Parquet in and out.

The plan is ``input -> map_batches(BatchWorker, actor pool) -> write_parquet``. Each actor is one process
with its own :class:`~fusion.cache.ModelCache` built from the driver's :class:`~fusion.config.Settings` (a
frozen, picklable dataclass passed to the constructor); it loads its models once, in the constructor, and
reuses them for every batch it is given. With ``num_gpus`` per actor Ray places the actors on GPUs and the
cache's ``device="auto"`` picks the one Ray assigned (``CUDA_VISIBLE_DEVICES``). Rows arrive in the output
in no particular order; sort by ``path`` when order matters.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from fusion.batch import io
from fusion.batch.local import DEFAULT_ROWS_PER_FILE, RunSummary
from fusion.batch.tasks import RUN_KEY, BatchOptions, model_keys, output_schema, process_batch

if TYPE_CHECKING:
    from fusion.config import Settings

log = logging.getLogger(__name__)

#: A block is the unit Ray hands to an actor: enough blocks that every actor has several to balance the
#: load, none larger than this many rows, none smaller than one batch.
MAX_BLOCK_ROWS = 1024
BLOCKS_PER_WORKER = 4


class BatchWorker:
    """A Ray Data actor holding the models: one model cache per actor process."""

    def __init__(self, settings: Settings, options: BatchOptions) -> None:
        from fusion.cache import ModelCache

        self.options = options
        self.cache = ModelCache(settings)
        for key in model_keys(options):
            self.cache.get(key)

    def __call__(self, records: pa.Table) -> pa.Table:
        return process_batch(records, self.options, cache=self.cache)


def parquet_records(table: pa.Table, path_column: str, image_column: str, done: pa.Array) -> pa.Table:
    """Ray's read step: input columns -> records, minus the rows an earlier run wrote."""
    return io.drop_done(io.records_from_parquet(table, path_column, image_column), done)


def block_count(rows: int, batch_size: int, workers: int) -> int:
    wanted = max(workers * BLOCKS_PER_WORKER, math.ceil(rows / MAX_BLOCK_ROWS))
    return max(1, min(wanted, math.ceil(rows / batch_size)))


def leave_room_for_io(cpus_per_worker: float, workers: int, cluster_cpus: float) -> float:
    """CPUs per actor that leave some for Ray's read and write tasks.

    An actor pool that reserves every CPU starves the read and write tasks, and the run waits forever
    (seen with 2 actors x 1 CPU on a 2-CPU Ray). At least one CPU, or half of a smaller cluster, stays
    free; actors get a fraction of a CPU when that is what is left (Ray then runs torch with one thread).
    """
    room = max(cluster_cpus - 1, cluster_cpus / 2)
    if workers * cpus_per_worker <= room:
        return cpus_per_worker
    share = room / workers
    log.warning(
        "%d workers x %g CPUs would take all %g CPUs of the cluster and starve reading and writing; "
        "giving each worker %g CPUs.",
        workers,
        cpus_per_worker,
        cluster_cpus,
        share,
    )
    return share


def _dataset(source: io.InputSource, done: set[str], batch_size: int, workers: int) -> Any:
    """The pending records as a Ray dataset (``None`` when nothing is left to do)."""
    import ray.data

    parts = []
    files = io.pending_files(source, done)
    if files:
        blocks = block_count(len(files), batch_size, workers)
        parts.append(ray.data.from_arrow(io.file_records(files), override_num_blocks=blocks))
    if source.parquet_files:
        names = set(pq.read_schema(source.parquet_files[0]).names)
        columns = [name for name in (source.path_column, source.image_column) if name in names]
        records = (
            ray.data.read_parquet(list(source.parquet_files))
            .select_columns(columns)
            .map_batches(
                parquet_records,
                fn_kwargs={
                    "path_column": source.path_column,
                    "image_column": source.image_column,
                    "done": pa.array(sorted(done), pa.string()),
                },
                batch_format="pyarrow",
                batch_size=None,
            )
        )
        # A Parquet file is read as one stream of blocks: split it (streaming) so every actor gets some.
        rows_per_block = math.ceil(source.rows / block_count(source.rows, batch_size, workers))
        parts.append(records.repartition(target_num_rows_per_block=max(batch_size, rows_per_block)))
    if not parts:
        return None
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]


def run_ray(
    source: io.InputSource,
    output: Path,
    options: BatchOptions,
    *,
    settings: Settings,
    batch_size: int,
    workers: int = 2,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    address: str | None = None,
    progress: bool = True,
) -> RunSummary:
    """Process every input record not yet in ``output`` on Ray Data; connects to (or starts) Ray if needed."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ValueError('The Ray engine needs Ray Data: pip install "ray[data]"') from None

    schema = output_schema(options, settings)
    done = io.done_paths(output, schema.metadata[RUN_KEY])
    _build_tiny_twins(settings, options)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address)
    started = time.perf_counter()
    before = set(io.finished_parts(output))
    try:
        cpus_per_worker = leave_room_for_io(cpus_per_worker, workers, ray.cluster_resources().get("CPU", 0.0))
        ray.data.DataContext.get_current().enable_progress_bars = progress
        dataset = _dataset(source, done, batch_size, workers)
        if dataset is not None:
            dataset.map_batches(
                BatchWorker,
                fn_constructor_kwargs={"settings": settings, "options": options},
                batch_size=batch_size,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=cpus_per_worker,
                num_gpus=gpus_per_worker,
            ).write_parquet(str(output), min_rows_per_file=rows_per_file)
    finally:
        if started_here:
            ray.shutdown()
    counts = io.count_rows(part for part in io.finished_parts(output) if part not in before)
    return RunSummary(
        output, counts.rows, counts.errors, source.rows - counts.rows, time.perf_counter() - started
    )


def _build_tiny_twins(settings: Settings, options: BatchOptions) -> None:
    """Tiny mode: build the twins once in the driver, so actors never race to write the same folder."""
    if settings.models != "tiny":
        return
    from fusion.cache import ModelCache
    from fusion.registry import REGISTRY
    from fusion.tiny import ensure_tiny

    sources = ModelCache(settings)
    for key in model_keys(options):
        ensure_tiny(REGISTRY[key], Path(sources.source(key)))
