"""The local engine: one process, the shared model cache, batches streamed from the input to part files.

Memory stays flat whatever the input size: only the list of input paths (and, when resuming, the paths
already written) is held whole; images live for one batch, rows for one row group.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fusion.batch import io
from fusion.batch.tasks import RUN_KEY, BatchOptions, model_keys, output_schema, process_batch

if TYPE_CHECKING:
    from fusion.cache import ModelCache

DEFAULT_ROWS_PER_FILE = 1000


@dataclass(frozen=True)
class RunSummary:
    """What one run added to the output."""

    output: Path
    rows: int
    errors: int
    skipped: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _progress_bar(total: int, enabled: bool):
    """tqdm when installed, else a plain stderr line every batch."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _StderrProgress(total, enabled)
    return tqdm(total=total, unit="img", desc="fusion batch", disable=not enabled, file=sys.stderr)


class _StderrProgress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.n, self.enabled = total, 0, enabled

    def update(self, count: int) -> None:
        self.n += count
        if self.enabled:
            print(f"\rfusion batch: {self.n}/{self.total} images", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def run_local(
    source: io.InputSource,
    output: Path,
    options: BatchOptions,
    *,
    cache: ModelCache,
    batch_size: int,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    progress: bool = True,
) -> RunSummary:
    """Process every input record not yet in ``output`` and write the rows as new part files."""
    schema = output_schema(options, cache.settings)
    done = io.done_paths(output, schema.metadata[RUN_KEY])
    for key in model_keys(options):
        cache.get(key)
    started = time.perf_counter()
    skipped = 0
    bar = _progress_bar(source.rows, progress)

    def skip(count: int) -> None:
        nonlocal skipped
        skipped += count
        bar.update(count)

    try:
        with io.PartWriter(output, schema, rows_per_file) as writer:
            for records in io.iter_records(source, batch_size, done, on_skip=skip):
                writer.write(process_batch(records, options, cache=cache))
                bar.update(records.num_rows)
    finally:
        bar.close()
    counts = io.count_rows(writer.parts)
    return RunSummary(output, counts.rows, counts.errors, skipped, time.perf_counter() - started)
