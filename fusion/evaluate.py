"""``python -m fusion evaluate``: held-out accuracy of every classification head on an ImageFolder dataset."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fusion.classification import datasets, evaluation
from fusion.classification.head import DEFAULT_C, FAMILIES, FeatureWeights
from fusion.classification.hybrid import HeadOptions
from fusion.classification.labels import parse_templates

if TYPE_CHECKING:
    from fusion.cache import ModelCache

EPILOG = """\
layouts:
  DIR/train/<label>/*.png + DIR/test/<label>/*.png   scored on the test split (held out)
  DIR/<label>/*                                      stratified k-fold cross-validation (--folds)

offline data (no download): --export digits|faces|textures OUT writes one of them as OUT/train + OUT/test.

CIFAR-10 (the original experiment, done properly: official train/test split, test images never seen while
fitting). It cannot be downloaded here; on a machine with internet, export it to folders once, e.g. with
`pip install datasets`:

  python - <<'PY'
  from pathlib import Path
from typing import TYPE_CHECKING
  from datasets import load_dataset
  data = load_dataset("uoft-cs/cifar10")
  names = data["train"].features["label"].names
  for split in ("train", "test"):
      for number, row in enumerate(data[split]):
          folder = Path("cifar10", split, names[row["label"]])
          folder.mkdir(parents=True, exist_ok=True)
          row["img"].save(folder / f"{number:05d}.png")
  PY

(torchvision users: torchvision.datasets.CIFAR10(root, train=..., download=True) and save each image the same
way.) Then, with the real CLIP weights downloaded (`python -m fusion download`):

  python -m fusion evaluate --data cifar10 --max-per-class 500

Models come from the usual settings: FUSION_MODELS=tiny uses random-weight stand-ins (numbers are meaningless
for the CLIP heads), and --no-clip scores the classical head alone without loading any model.
"""


def _weights(text: str) -> FeatureWeights:
    values: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name.strip() not in FAMILIES:
            raise argparse.ArgumentTypeError(f"unknown family {name!r}; use {', '.join(FAMILIES)}")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r} is not family=number") from None
    try:
        return FeatureWeights(**values)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _heads(text: str) -> tuple[str, ...]:
    heads = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [head for head in heads if head not in evaluation.HEADS]
    if unknown or not heads:
        raise argparse.ArgumentTypeError(f"choose heads from {', '.join(evaluation.HEADS)}")
    return heads


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fusion evaluate",
        description="Held-out accuracy of the classical, CLIP zero-shot, CLIP linear-probe and fused heads.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="an ImageFolder dataset (see layouts below)")
    source.add_argument(
        "--export",
        nargs=2,
        metavar=("NAME", "OUT"),
        help=f"write an offline dataset ({', '.join(datasets.OFFLINE_DATASETS)}) as an ImageFolder and exit",
    )
    parser.add_argument("--folds", type=int, default=evaluation.DEFAULT_FOLDS, help="k for cross-validation")
    parser.add_argument(
        "--heads", type=_heads, default=evaluation.HEADS, help="comma-separated subset of heads"
    )
    parser.add_argument(
        "--weights", type=_weights, default=FeatureWeights(), help="e.g. hog=1,lbp=0.5,color=1,edges=1,clip=2"
    )
    parser.add_argument("--C", type=float, default=DEFAULT_C, help="inverse regularisation strength")
    parser.add_argument("--no-prior", action="store_true", help="fused head starts from zero, not zero-shot")
    parser.add_argument("--template", action="append", help="prompt template with {} (repeatable)")
    parser.add_argument("--model", default="clip", choices=("clip", "clip-large"), help="which CLIP")
    parser.add_argument("--no-clip", action="store_true", help="classical head only; loads no model")
    parser.add_argument("--feature-size", type=int, default=128, help="side the handcrafted features use")
    parser.add_argument("--max-per-class", type=int, help="use at most this many images per label and split")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("fusion-evaluation"),
        help="writes OUT.json and OUT.md (default: %(default)s)",
    )
    return parser


def main(argv: list[str], *, cache: ModelCache | None = None) -> int:
    """Run the command; ``cache`` replaces the environment's model cache (tests pass the tiny one)."""
    args = build_parser().parse_args(argv)
    try:
        if args.export:
            name, out = args.export
            folder = datasets.export_image_folder(datasets.offline_dataset(name), out)
            print(f"Wrote {name} to {folder}/train and {folder}/test")
            return 0
        return _evaluate(args, cache)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _evaluate(args: argparse.Namespace, cache: ModelCache | None) -> int:
    from fusion.cache import ModelLoadError, get_cache

    templates, _ = parse_templates("\n".join(args.template or []))
    options = HeadOptions(
        weights=args.weights,
        C=args.C,
        zero_shot_prior=not args.no_prior,
        templates=templates,
        feature_size=args.feature_size,
        model_key=args.model,
    )
    dataset = datasets.load_dataset(args.data, max_per_class=args.max_per_class)
    cache = None if args.no_clip else cache or get_cache()
    try:
        result = evaluation.evaluate(dataset, options, cache=cache, folds=args.folds, heads=args.heads)
    except ModelLoadError as error:
        print(f"error: {error}\n(--no-clip scores the classical head without any model)", file=sys.stderr)
        return 1
    report = (
        f"# {args.data}\n\n{result.protocol}, {result.train_size} train / {result.test_size} test images, "
    )
    report += f"{len(result.labels)} labels\n\n{result.markdown()}\n"
    if result.notices:
        report += "\n" + "\n".join(f"- {notice}" for notice in result.notices) + "\n"
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(report)
    args.out.with_suffix(".json").write_text(
        json.dumps({"data": str(args.data), **result.to_dict()}, indent=2)
    )
    print(f"Wrote {args.out.with_suffix('.md')} and {args.out.with_suffix('.json')}")
    return 0
