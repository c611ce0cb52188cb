"""``python -m fusion batch``: the command line over both engines.

Exit status: 0 when the run finished (rows whose image could not be read or processed are written with an
``error`` and do not fail the run), 1 when the run could not start or a model failed, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fusion.batch.io import resolve_input
from fusion.batch.local import DEFAULT_ROWS_PER_FILE, RunSummary, run_local
from fusion.batch.tasks import TASKS, BatchOptions, auto_batch_size
from fusion.captioning import (
    CAPTION_BOUNDS,
    CAPTION_MODEL_KEYS,
    DECODING_MODES,
    CaptionOptions,
    validate_caption_options,
)
from fusion.classification import ZeroShotOptions, parse_labels, parse_templates
from fusion.classification.zeroshot import SCORE_MODES
from fusion.generation import MODELS, GenerationOptions

EXIT_FAILED = 1
GENERATED_SUFFIX = ".generated"


def _tasks(text: str) -> tuple[str, ...]:
    tasks = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [task for task in tasks if task not in TASKS]
    if unknown or not tasks:
        raise argparse.ArgumentTypeError(
            f"unknown task(s) {', '.join(unknown)}; choose from {','.join(TASKS)}"
        )
    return tasks


def _batch_size(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise argparse.ArgumentTypeError(f"batch size must be a positive integer or 'auto', got {text!r}")
    return size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fusion batch",
        description="Run the panels' tasks over a folder, a glob or Parquet; one output row per image.",
    )
    parser.add_argument("--input", required=True, help="a folder (recursive), a glob, or Parquet")
    parser.add_argument(
        "--output", required=True, type=Path, help="output folder of Parquet parts (OUT.parquet)"
    )
    parser.add_argument(
        "--tasks",
        type=_tasks,
        default=("features",),
        help=f"comma-separated: {','.join(TASKS)} (default features)",
    )
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--batch-size", type=_batch_size, default=None, help="images per batch, or auto")
    parser.add_argument(
        "--rows-per-file", type=int, default=DEFAULT_ROWS_PER_FILE, help="rows per output part"
    )
    parser.add_argument("--path-column", default="path", help="Parquet input: the column naming each row")
    parser.add_argument("--image-column", default="image", help="Parquet input: encoded image bytes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    classify = parser.add_argument_group("classify")
    classify.add_argument("--labels", help='comma-separated zero-shot labels, e.g. "cat, dog, car"')
    classify.add_argument("--labels-file", type=Path, help="zero-shot labels, one per line")
    classify.add_argument("--template", action="append", help="prompt template with {} (repeatable)")
    classify.add_argument("--score-mode", choices=SCORE_MODES, default="softmax")
    captions = parser.add_argument_group("caption")
    captions.add_argument("--caption-model", choices=list(CAPTION_MODEL_KEYS), default="base")
    captions.add_argument("--caption-mode", choices=DECODING_MODES, default="greedy")
    captions.add_argument("--num-captions", type=int, default=1, help="candidates per image (beam, sampling)")
    captions.add_argument("--max-new-tokens", type=int, default=20)
    generate = parser.add_argument_group("generate (image-to-image from every input)")
    generate.add_argument("--prompt", default="", help="default: the row's caption when captioning")
    generate.add_argument("--generate-model", choices=list(MODELS), default="sd-turbo")
    generate.add_argument("--steps", type=int, help="default: the model's")
    generate.add_argument("--strength", type=float, default=GenerationOptions.strength)
    generate.add_argument("--seed", type=int, default=0, help="the same seed for every image")
    generate.add_argument("--generated-dir", type=Path, help="default: OUT.generated next to the output")
    ray = parser.add_argument_group("ray engine")
    ray.add_argument("--ray-address", help="cluster to join (default: RAY_ADDRESS, else a local Ray)")
    ray.add_argument("--workers", type=int, default=2, help="actors, each holding its own models")
    ray.add_argument("--cpus-per-worker", type=float, default=1.0)
    ray.add_argument("--gpus-per-worker", type=float, default=0.0, help="e.g. 1, or 0.5 to share a GPU")
    return parser


def _labels(args: argparse.Namespace) -> tuple[str, ...]:
    if args.labels_file is not None:
        text: str | list[str] = args.labels_file.read_text(encoding="utf-8").splitlines()
    elif args.labels:
        text = args.labels
    else:
        return ()
    labels, notices = parse_labels(text)
    _note(notices)
    return labels


def _note(notices: tuple[str, ...]) -> None:
    for notice in notices:
        print(f"note: {notice}", file=sys.stderr)


def options_from_args(args: argparse.Namespace, batch_size: int) -> BatchOptions:
    """Options from the command line; problems a user can fix raise ``ValueError`` before any work starts.

    Captions are generated one ``generate`` call per batch (up to BLIP's limit of 32 images).
    """
    caption_options = CaptionOptions(
        model=args.caption_model,
        mode=args.caption_mode,
        num_candidates=args.num_captions,
        max_new_tokens=args.max_new_tokens,
        batch_size=min(batch_size, int(CAPTION_BOUNDS["batch_size"][1])),
    )
    if "caption" in args.tasks:
        caption_options, notices = validate_caption_options(caption_options)
        _note(notices)
    templates = parse_templates("\n".join(args.template or ()))[0]
    output_name = args.output.name.removesuffix(".parquet")
    return BatchOptions(
        tasks=args.tasks,
        labels=_labels(args) if "classify" in args.tasks else (),
        caption=caption_options,
        zero_shot=ZeroShotOptions(templates=templates, mode=args.score_mode),
        generation=GenerationOptions(
            prompt=args.prompt,
            model=args.generate_model,
            steps=args.steps,
            strength=args.strength,
            seed=args.seed,
        ),
        generated_dir=args.generated_dir or args.output.with_name(output_name + GENERATED_SUFFIX),
    )


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from fusion.cache import ModelLoadError

    try:
        summary = _run(args)
    except (ValueError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"{summary.output}: wrote {summary.rows} rows ({summary.errors} with errors) in "
        f"{summary.seconds:.1f} s ({summary.images_per_second:.1f} images/s); "
        f"{summary.skipped} were already done."
    )
    return 0


def _run(args: argparse.Namespace) -> RunSummary:
    from fusion.cache import get_cache, resolve_device
    from fusion.config import get_settings

    settings = get_settings()
    if args.engine == "ray":
        device = "cuda" if args.gpus_per_worker > 0 else "cpu"
    else:
        device = resolve_device(settings.device).type
    batch_size = args.batch_size or auto_batch_size(device, args.tasks)
    options = options_from_args(args, batch_size)
    source = resolve_input(args.input, path_column=args.path_column, image_column=args.image_column)
    progress = not args.no_progress
    if args.engine == "ray":
        from fusion.batch.ray_engine import run_ray

        return run_ray(
            source,
            args.output,
            options,
            settings=settings,
            batch_size=batch_size,
            workers=args.workers,
            cpus_per_worker=args.cpus_per_worker,
            gpus_per_worker=args.gpus_per_worker,
            rows_per_file=args.rows_per_file,
            address=args.ray_address,
            progress=progress,
        )
    return run_local(
        source,
        args.output,
        options,
        cache=get_cache(),
        batch_size=batch_size,
        rows_per_file=args.rows_per_file,
        progress=progress,
    )
