"""Where batch rows come from and where they go: inputs, the output folder of Parquet parts, and resume.

Inputs are a folder (searched recursively for image files), a glob, or Parquet (a file, or a folder of
``*.parquet`` files) with a path column, an image-bytes column, or both; see :func:`records_from_parquet`.

The output is a *folder* of Parquet part files (``OUT.parquet/part-*.parquet``), which pyarrow, pandas,
Polars, DuckDB, Spark and Ray all read as one table. A Parquet file cannot be appended to once closed, so
resuming adds parts instead of rewriting. The local engine streams row groups into a hidden
``.part-*.inprogress`` file and renames it into view when it is finished (every ``rows_per_file`` rows and at
the end, also after an error or Ctrl-C), so readers never see a half-written file; a hard kill loses at
most the rows of that one unfinished part. Ray writes its own parts straight into the folder; a part cut
short by a crash has no footer and is set aside as ``.NAME.broken`` on the next run.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fusion.batch.tasks import RECORD_SCHEMA, RUN_KEY
from fusion.classification.datasets import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

PARQUET_SUFFIX = ".parquet"
IN_PROGRESS_SUFFIX = ".inprogress"
BROKEN_SUFFIX = ".broken"
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class InputSource:
    """Image files (absolute paths), or Parquet files whose records name or carry the images."""

    image_files: tuple[str, ...] = ()
    parquet_files: tuple[str, ...] = ()
    path_column: str = "path"
    image_column: str = "image"

    @property
    def rows(self) -> int:
        """Input records: one per image file, or the Parquet files' row counts (read from their footers)."""
        return len(self.image_files) + sum(
            pq.ParquetFile(path).metadata.num_rows for path in self.parquet_files
        )


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob(f"*{PARQUET_SUFFIX}") if not path.name.startswith((".", "_")))


def resolve_input(spec: str, *, path_column: str = "path", image_column: str = "image") -> InputSource:
    """A folder, a glob or Parquet -> the files to read; a ``ValueError`` says when nothing matches.

    A folder is read as images (recursively, by extension: hidden files skipped), unless its name ends in
    ``.parquet`` or it holds Parquet files and no images. A glob takes every file it matches: explicitly
    named files that are not images become rows with an error, not silent gaps.
    """
    target = Path(spec).expanduser()
    columns = {"path_column": path_column, "image_column": image_column}
    if target.is_dir():
        if target.suffix != PARQUET_SUFFIX:
            found = sorted(str(path.resolve()) for path in target.rglob("*") if _is_image(path))
            if found:
                return InputSource(image_files=tuple(found), **columns)
        tables = _parquet_files(target)
        if tables:
            return InputSource(parquet_files=tuple(str(path) for path in tables), **columns)
        raise ValueError(
            f"No images ({', '.join(IMAGE_SUFFIXES)}) or Parquet files were found in the folder {spec!r}."
        )
    if target.is_file():
        matches = [target]
    elif GLOB_CHARACTERS & set(spec):
        matches = sorted(Path(path) for path in glob.glob(os.path.expanduser(spec), recursive=True))
        matches = [path for path in matches if path.is_file()]
    else:
        raise ValueError(f"The input {spec!r} does not exist: give a folder, a glob or a Parquet file.")
    if not matches:
        raise ValueError(f"The glob {spec!r} matches no files.")
    if all(path.suffix == PARQUET_SUFFIX for path in matches):
        return InputSource(parquet_files=tuple(str(path) for path in matches), **columns)
    return InputSource(image_files=tuple(str(path.resolve()) for path in matches), **columns)


# ---------------------------------------------------------------------------------------------- records
def records_from_parquet(table: pa.Table, path_column: str = "path", image_column: str = "image") -> pa.Table:
    """Input columns -> :data:`~fusion.batch.tasks.RECORD_SCHEMA` (``path`` string, ``image`` bytes or null).

    ``image_column`` may hold encoded image bytes (binary) or be a struct with ``bytes`` and ``path`` fields,
    as Hugging Face ``datasets`` stores its ``Image`` feature. ``path_column`` names every row (and resume
    uses it), so it must be unique; when the table has no such column the struct's ``path`` is used. Rows
    without bytes are read from their path (relative paths from the current directory).
    """
    names = table.column_names
    image = table.column(image_column) if image_column in names else None
    struct_paths = None
    if image is not None and pa.types.is_struct(image.type):
        fields = {image.type.field(index).name for index in range(image.type.num_fields)}
        struct_paths = pc.struct_field(image, "path") if "path" in fields else None
        image = pc.struct_field(image, "bytes") if "bytes" in fields else None
    if path_column in names:
        paths = table.column(path_column)
    elif struct_paths is not None:
        paths = struct_paths
    else:
        raise ValueError(
            f"The Parquet input has no {path_column!r} column (columns: {', '.join(names)}). Every row "
            "needs a unique name or file path: choose the column with --path-column."
        )
    if image is None and path_column not in names:
        raise ValueError(f"The Parquet input has neither a {path_column!r} nor an {image_column!r} column.")
    data = pa.nulls(table.num_rows, pa.binary()) if image is None else image.cast(pa.binary())
    return pa.Table.from_arrays([paths.cast(pa.string()), data], schema=RECORD_SCHEMA)


def drop_done(records: pa.Table, done: pa.Array) -> pa.Table:
    """The records whose path is not in ``done`` (rows an earlier run already wrote)."""
    if len(done) == 0:
        return records
    return records.filter(pc.invert(pc.is_in(records.column("path"), value_set=done)))


def _rebatch(tables: Iterable[pa.Table], size: int) -> Iterator[pa.Table]:
    """Regroup a stream of tables into tables of exactly ``size`` rows (the last one may be shorter)."""
    buffered: list[pa.Table] = []
    rows = 0
    for table in tables:
        if table.num_rows == 0:
            continue
        buffered.append(table)
        rows += table.num_rows
        while rows >= size:
            merged = pa.concat_tables(buffered)
            yield merged.slice(0, size)
            buffered, rows = [merged.slice(size)], rows - size
    if rows:
        yield pa.concat_tables(buffered)


def pending_files(source: InputSource, done: set[str]) -> list[str]:
    return [path for path in source.image_files if path not in done]


def file_records(paths: list[str]) -> pa.Table:
    """Records of image files: the decoder reads each from its path."""
    return pa.Table.from_arrays(
        [pa.array(paths, pa.string()), pa.nulls(len(paths), pa.binary())], schema=RECORD_SCHEMA
    )


def iter_records(
    source: InputSource, batch_size: int, done: set[str], *, on_skip: Callable[[int], None] = lambda n: None
) -> Iterator[pa.Table]:
    """Stream the records not yet done in tables of ``batch_size``; ``on_skip`` counts the ones left out.

    Parquet input is read a record batch at a time (memory holds about one batch of image bytes, plus
    the row group Parquet decodes it from).
    """
    files = pending_files(source, done)
    on_skip(len(source.image_files) - len(files))
    for start in range(0, len(files), batch_size):
        yield file_records(files[start : start + batch_size])
    done_array = pa.array(sorted(done), pa.string())
    yield from _rebatch(_parquet_records(source, batch_size, done_array, on_skip), batch_size)


def _parquet_records(
    source: InputSource, batch_size: int, done: pa.Array, on_skip: Callable[[int], None]
) -> Iterator[pa.Table]:
    for path in source.parquet_files:
        parquet = pq.ParquetFile(path)
        wanted = [
            name for name in (source.path_column, source.image_column) if name in parquet.schema_arrow.names
        ]
        for batch in parquet.iter_batches(batch_size=batch_size, columns=wanted):
            records = records_from_parquet(
                pa.Table.from_batches([batch]), source.path_column, source.image_column
            )
            pending = drop_done(records, done)
            on_skip(records.num_rows - pending.num_rows)
            yield pending


# ----------------------------------------------------------------------------------------------- output
def finished_parts(folder: Path) -> list[Path]:
    """The output's visible part files (hidden in-progress and broken parts are not part of the table)."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.glob(f"*{PARQUET_SUFFIX}") if not path.name.startswith((".", "_")))


def check_output(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise ValueError(
            f"{str(folder)!r} is a file, but batch output is a folder of Parquet parts (which pandas and "
            "pyarrow read as one table). Choose a new output path."
        )


def _differences(old: bytes, new: bytes) -> str:
    before, after = json.loads(old), json.loads(new)
    return ", ".join(key for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key))


def done_paths(folder: Path, run: bytes) -> set[str]:
    """Paths already written to ``folder``, after checking they were written by the same kind of run.

    Parts without a readable footer (a crash mid-write) are renamed to hidden ``.NAME.broken`` files and
    their rows are computed again; leftover in-progress parts of a killed local run are deleted.
    """
    check_output(folder)
    if not folder.exists():
        return set()
    for stale in folder.glob(f".*{IN_PROGRESS_SUFFIX}"):
        stale.unlink()
    done: set[str] = set()
    for part in finished_parts(folder):
        try:
            parquet = pq.ParquetFile(part)
            written_by = (parquet.schema_arrow.metadata or {}).get(RUN_KEY)
            paths = parquet.read(columns=["path"]).column("path")
        except (pa.ArrowException, OSError) as error:
            broken = part.with_name(f".{part.name}{BROKEN_SUFFIX}")
            part.rename(broken)
            log.warning(
                "Set aside unreadable part %s as %s (%s); its rows are redone.", part, broken.name, error
            )
            continue
        if written_by != run:
            detail = _differences(written_by, run) if written_by else "it was not written by fusion batch"
            raise ValueError(
                f"{str(folder)!r} holds rows of a different run (differs in: {detail}). Resume with the same "
                "tasks, labels, options and models, or write to a new output."
            )
        done.update(paths.to_pylist())
    return done


class PartWriter:
    """Streams tables into part files of about ``rows_per_file`` rows, each visible only once complete."""

    def __init__(self, folder: Path, schema: pa.Schema, rows_per_file: int) -> None:
        self.folder = folder
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.run_id = uuid.uuid4().hex[:12]
        self.parts: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self._temporary: Path | None = None
        self._rows = 0

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"part-{self.run_id}-{len(self.parts):05d}{PARQUET_SUFFIX}"
            self._temporary = self.folder / f".{name}{IN_PROGRESS_SUFFIX}"
            self._writer = pq.ParquetWriter(self._temporary, self.schema)
        self._writer.write_table(table)
        self._rows += table.num_rows
        if self._rows >= self.rows_per_file:
            self._finish_part()

    def _finish_part(self) -> None:
        if self._writer is None or self._temporary is None:
            return
        self._writer.close()
        final = self.folder / self._temporary.name[1 : -len(IN_PROGRESS_SUFFIX)]
        self._temporary.rename(final)
        self.parts.append(final)
        self._writer, self._temporary, self._rows = None, None, 0

    def close(self) -> None:
        self._finish_part()

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class OutputCounts:
    rows: int
    errors: int


def count_rows(parts: Iterable[Path]) -> OutputCounts:
    """Rows and rows with an error in some part files (reads only the ``error`` column)."""
    rows = errors = 0
    for part in parts:
        column = pq.read_table(part, columns=["error"]).column("error")
        rows += len(column)
        errors += len(column) - column.null_count
    return OutputCounts(rows=rows, errors=errors)
