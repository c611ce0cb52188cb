"""Batch mode: the panels' tasks over a folder, a glob or a Parquet dataset, locally or on a Ray cluster.

- :mod:`.tasks`       the per-batch function both engines run (records in, output rows out) and the schema
- :mod:`.io`          inputs, the output folder of Parquet parts, resume
- :mod:`.local`       one process, the shared model cache
- :mod:`.ray_engine`  Ray Data: ``map_batches`` over an actor pool that holds the models
- :mod:`.cli`         ``python -m fusion batch``

docs/BATCH.md describes the output schema and running on a Ray cluster.
"""

from fusion.batch.cli import main
from fusion.batch.io import InputSource, resolve_input
from fusion.batch.local import RunSummary, run_local
from fusion.batch.tasks import TASKS, BatchOptions, process_batch

__all__ = [
    "TASKS",
    "BatchOptions",
    "InputSource",
    "RunSummary",
    "main",
    "process_batch",
    "resolve_input",
    "run_local",
]
