"""Batch mode on the tiny twins: rows equal the panels' task functions; resume, Parquet input, CLI, Ray."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fusion import captioning, generation, images
from fusion.batch import cli, io, local, ray_engine
from fusion.batch.tasks import FEATURE_BLOCKS_KEY, BatchOptions, auto_batch_size, generated_name
from fusion.cache import ModelCache
from fusion.classification import zero_shot
from fusion.config import Settings
from fusion.features import handcrafted_vector

LABELS = ("cat", "dog", "car")
MODEL_TASKS = BatchOptions(tasks=("features", "caption", "classify"), labels=LABELS)
FEATURES = BatchOptions(tasks=("features",))
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five noise pictures of different sizes and modes (one nested), a broken JPEG and a text file."""
    root = tmp_path_factory.mktemp("pictures")
    (root / "nested").mkdir()
    rng = np.random.default_rng(3)
    for index, (height, width) in enumerate([(40, 50), (64, 64), (33, 90), (96, 72), (20, 20)]):
        picture = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        if index == 4:
            picture = picture.convert("RGBA")
        picture.save(root / ("nested" if index % 2 else ".") / f"picture{index}.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "notes.txt").write_text("not an image")
    return root


def read_rows(output: Path) -> dict[str, dict[str, Any]]:
    return {row["path"]: row for row in pq.read_table(output).to_pylist()}


def run(source: io.InputSource, output: Path, options: BatchOptions, cache: ModelCache, **kwargs: Any) -> Any:
    kwargs = {"batch_size": 2, "progress": False} | kwargs
    return local.run_local(source, output, options, cache=cache, **kwargs)


# ------------------------------------------------------------------------------------------ local engine
def test_rows_are_what_the_panels_task_functions_give(
    folder: Path, tmp_path: Path, tiny_cache: ModelCache
) -> None:
    source = io.resolve_input(str(folder))
    relative = [str(Path(path).relative_to(folder)) for path in source.image_files]
    assert relative == [
        "broken.jpg",
        "nested/picture1.png",
        "nested/picture3.png",
        "picture0.png",
        "picture2.png",
        "picture4.png",
    ], "sorted, recursive, images only (by extension)"
    summary = run(source, tmp_path / "out.parquet", MODEL_TASKS, tiny_cache)
    assert (summary.rows, summary.errors, summary.skipped) == (6, 1, 0)
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column("path").to_pylist() == list(source.image_files), "local rows keep the input order"
    rows = read_rows(tmp_path / "out.parquet")
    broken = rows[str(folder / "broken.jpg")]
    assert broken["error"].startswith("decode: 'broken.jpg' is not an image")
    assert broken["features"] is broken["caption"] is broken["scores"] is None
    for path in source.image_files[1:]:
        row = rows[path]
        decoded = images.load(path)
        expected_caption = captioning.caption([decoded.pixels], cache=tiny_cache).captions[0]
        scores = zero_shot(decoded.pixels, list(LABELS), cache=tiny_cache)
        assert row["error"] is None
        assert (row["width"], row["height"]) == decoded.original_size
        assert np.array_equal(
            np.asarray(row["features"], np.float32), handcrafted_vector(decoded.pixels).values
        )
        assert (row["caption"], tuple(row["captions"])) == (expected_caption[0], expected_caption)
        assert dict(row["scores"]) == scores.confidences()
        assert row["top_label"] == scores.top_label
        assert row["notices"] == list(decoded.notices)
    blocks = json.loads(table.schema.metadata[FEATURE_BLOCKS_KEY])
    expected = handcrafted_vector(np.zeros((8, 8, 3), np.uint8)).blocks
    assert blocks == {name: [part.start, part.stop] for name, part in expected.items()}


def test_parts_stream_and_resume_skips_what_is_written(
    folder: Path, tmp_path: Path, tiny_cache: ModelCache
) -> None:
    output = tmp_path / "out.parquet"
    first = run(io.resolve_input(str(folder / "*.png")), output, FEATURES, tiny_cache, rows_per_file=2)
    assert first.rows == 3, "the three top-level PNGs"
    everything = io.resolve_input(str(folder))
    second = run(everything, output, FEATURES, tiny_cache, batch_size=1, rows_per_file=3)
    assert (second.rows, second.skipped) == (3, 3)
    assert sorted(read_rows(output)) == sorted(everything.image_files)
    assert [part.name.startswith("part-") for part in io.finished_parts(output)] == [True] * 3
    assert not [path for path in output.iterdir() if path.name.startswith(".")]
    again = run(everything, output, FEATURES, tiny_cache)
    assert (again.rows, again.skipped) == (0, 6)
    with pytest.raises(
        ValueError, match=r"different run \(differs in: caption, labels, models, tasks, zero_shot\)"
    ):
        run(everything, output, MODEL_TASKS, tiny_cache)


def test_an_interrupted_run_keeps_finished_parts_and_sets_broken_ones_aside(
    folder: Path, tmp_path: Path, tiny_cache: ModelCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "out.parquet"
    real_process_batch = local.process_batch
    calls = []

    def interrupted_on_third_batch(*args: Any, **kwargs: Any) -> pa.Table:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_process_batch(*args, **kwargs)

    monkeypatch.setattr(local, "process_batch", interrupted_on_third_batch)
    source = io.resolve_input(str(folder))
    with pytest.raises(KeyboardInterrupt):
        run(source, output, FEATURES, tiny_cache, batch_size=1, rows_per_file=10)
    assert len(read_rows(output)) == 2, "the rows before the interruption are in a finished part"
    (output / "part-cut-short.parquet").write_bytes(b"PAR1 and then the writer died")
    monkeypatch.undo()
    resumed = run(source, output, FEATURES, tiny_cache)
    assert (resumed.rows, resumed.skipped) == (4, 2)
    assert (output / ".part-cut-short.parquet.broken").exists()
    assert sorted(read_rows(output)) == sorted(source.image_files)


def test_parquet_bytes_and_hugging_face_image_structs(
    folder: Path, tmp_path: Path, tiny_cache: ModelCache
) -> None:
    files = io.resolve_input(str(folder)).image_files
    run(io.resolve_input(str(folder)), tmp_path / "files.parquet", FEATURES, tiny_cache)
    expected = {
        Path(path).name: row["features"] for path, row in read_rows(tmp_path / "files.parquet").items()
    }
    payloads = [Path(path).read_bytes() for path in files]
    names = [Path(path).name for path in files]
    pq.write_table(pa.table({"name": names, "png": payloads}), tmp_path / "bytes.parquet")
    structs = [{"bytes": data, "path": name} for data, name in zip(payloads, names, strict=True)]
    structs[1]["bytes"] = None  # read from its path instead
    structs[1]["path"] = files[1]
    pq.write_table(pa.table({"image": structs}), tmp_path / "hf.parquet")

    by_name = io.resolve_input(str(tmp_path / "bytes.parquet"), path_column="name", image_column="png")
    run(by_name, tmp_path / "out-bytes.parquet", FEATURES, tiny_cache)
    assert {
        path: row["features"] for path, row in read_rows(tmp_path / "out-bytes.parquet").items()
    } == expected
    run(io.resolve_input(str(tmp_path / "hf.parquet")), tmp_path / "out-hf.parquet", FEATURES, tiny_cache)
    from_structs = {
        Path(path).name: row["features"] for path, row in read_rows(tmp_path / "out-hf.parquet").items()
    }
    assert from_structs == expected
    with pytest.raises(ValueError, match="no 'path' column"):
        run(io.resolve_input(str(tmp_path / "bytes.parquet")), tmp_path / "x.parquet", FEATURES, tiny_cache)


def test_generate_writes_the_image_the_generation_task_makes(
    folder: Path, tmp_path: Path, tiny_cache: ModelCache
) -> None:
    options = BatchOptions(tasks=("caption", "generate"), generated_dir=tmp_path / "generated")
    source = io.resolve_input(str(folder / "picture0.png"))
    run(source, tmp_path / "out.parquet", options, tiny_cache)
    (row,) = read_rows(tmp_path / "out.parquet").values()
    assert row["generated_path"] == str(tmp_path / "generated" / generated_name(source.image_files[0]))
    request = generation.GenerationOptions(
        model="sd-turbo", seed=0, prompt=row["caption"], init_image=images.load(source.image_files[0]).pixels
    )
    direct = generation.generate(request, cache=tiny_cache)
    written = Image.open(row["generated_path"])
    assert np.array_equal(np.asarray(written), np.asarray(direct.images[0]))
    assert written.info[generation.PARAMETERS_CHUNK] == direct.parameters[0]
    assert row["generated_seed"] == 0 and set(direct.notices) <= set(row["notices"])


def test_batch_size_follows_the_device() -> None:
    assert auto_batch_size("cuda", ("caption",)) > auto_batch_size("cpu", ("caption",))
    assert auto_batch_size("cpu", ("features",)) > auto_batch_size("cpu", ("caption",))
    assert ray_engine.block_count(2000, 8, workers=2) == 8
    assert ray_engine.block_count(5, 2, workers=2) == 3
    assert ray_engine.leave_room_for_io(1.0, workers=2, cluster_cpus=2) == 0.5
    assert ray_engine.leave_room_for_io(1.0, workers=2, cluster_cpus=16) == 1.0


# ------------------------------------------------------------------------------------------------- CLI
@pytest.fixture
def tiny_command_line(
    monkeypatch: pytest.MonkeyPatch, tiny_settings: Settings, tiny_cache: ModelCache
) -> None:
    """The command reads settings and the cache from the environment; here they are the tiny ones."""
    monkeypatch.setattr("fusion.config.get_settings", lambda: tiny_settings)
    monkeypatch.setattr("fusion.cache.get_cache", lambda: tiny_cache)


@pytest.mark.usefixtures("tiny_command_line")
def test_command_line(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fusion.__main__ import main as fusion_main

    output = tmp_path / "out.parquet"
    argv = ["batch", "--input", str(folder), "--output", str(output), "--no-progress"]
    assert fusion_main([*argv, "--tasks", "features,classify", "--labels", "cat, dog, Cat"]) == 0
    captured = capsys.readouterr()
    assert "wrote 6 rows (1 with errors)" in captured.out
    assert "Removed 1 duplicate label(s): 'Cat'" in captured.err
    scored = [row["scores"] for row in read_rows(output).values() if row["scores"]]
    assert len(scored) == 5 and all(dict(scores).keys() == {"cat", "dog"} for scores in scored)
    assert cli.main([*argv[1:], "--tasks", "classify"]) == cli.EXIT_FAILED
    assert "The classify task needs labels" in capsys.readouterr().err
    (tmp_path / "file.parquet").write_bytes(b"")
    assert cli.main(["--input", str(folder), "--output", str(tmp_path / "file.parquet")]) == cli.EXIT_FAILED
    assert "is a file, but batch output is a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        cli.main([*argv[1:], "--tasks", "features,colour"])
    assert usage.value.code == 2


# ------------------------------------------------------------------------------------------------- Ray
@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={
            "env_vars": {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        },
    )
    yield
    ray.shutdown()


@pytest.mark.usefixtures("local_ray")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
def test_ray_gives_the_rows_of_the_local_engine(
    folder: Path, tmp_path: Path, tiny_settings: Settings, tiny_cache: ModelCache
) -> None:
    source = io.resolve_input(str(folder))
    run(source, tmp_path / "local.parquet", MODEL_TASKS, tiny_cache)
    on_ray = {"settings": tiny_settings, "batch_size": 2, "workers": 2, "progress": False}
    summary = ray_engine.run_ray(source, tmp_path / "ray.parquet", MODEL_TASKS, **on_ray)
    assert (summary.rows, summary.errors) == (6, 1)
    assert read_rows(tmp_path / "ray.parquet") == read_rows(tmp_path / "local.parquet")
    assert (
        pq.read_schema(io.finished_parts(tmp_path / "ray.parquet")[0]).metadata
        == pq.read_schema(io.finished_parts(tmp_path / "local.parquet")[0]).metadata
    )

    # Parquet input, resumed: the rows of the first two files are already written.
    names = [Path(path).name for path in source.image_files]
    payloads = [Path(path).read_bytes() for path in source.image_files]
    table = pa.table({"path": names, "image": payloads})
    pq.write_table(table, tmp_path / "input.parquet", row_group_size=2)
    table_source = io.resolve_input(str(tmp_path / "input.parquet"))
    pq.write_table(pa.table({"path": names[:2], "image": payloads[:2]}), tmp_path / "first-two.parquet")
    run(
        io.resolve_input(str(tmp_path / "first-two.parquet")),
        tmp_path / "resumed.parquet",
        MODEL_TASKS,
        tiny_cache,
    )
    resumed = ray_engine.run_ray(table_source, tmp_path / "resumed.parquet", MODEL_TASKS, **on_ray)
    assert (resumed.rows, resumed.skipped) == (4, 2)
    run(table_source, tmp_path / "local-table.parquet", MODEL_TASKS, tiny_cache)
    assert read_rows(tmp_path / "resumed.parquet") == read_rows(tmp_path / "local-table.parquet")
