"""What classification costs, and how well each head does on data that ships offline (no download).

1. ms per image: the handcrafted vector (HOG + LBP + colour + edges at 128 px) vs a CLIP image embedding, for
   the tiny twin through the real cache and for CLIP ViT-B/32's published architecture with random weights
   (same FLOPs as openai/clip-vit-base-patch32, nothing downloaded), batches of 1 and 32.
2. Training time vs number of examples: the hybrid head fitted on k digits per class (features precomputed),
   classical-only and fused (tiny CLIP), with held-out accuracy on the 899 test digits.
3. The held-out ablation table on digits, faces (lfw_subset) and brick/grass/gravel textures (fixed splits,
   see :mod:`fusion.classification.datasets`). The classical head's numbers are real; the CLIP heads run on
   the random-weight tiny twin, so their numbers only prove the pipeline (chance level is expected). Real CLIP
   numbers need the weights: ``python -m fusion evaluate --data DIR`` on a machine that has them.

Runs on one CPU thread unless ``--threads`` says otherwise (a shared 2-core machine). Prints markdown and
writes it to ``benchmarks/results/classification.md``.

    python benchmarks/classification.py [--threads N] [--repeats N] [--skip-b32] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face library is imported

import argparse
import functools
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import median_ms
from fusion import features
from fusion.cache import ModelCache
from fusion.classification import datasets, embeddings, evaluation, hybrid
from fusion.classification.head import FeatureWeights, fit_head
from fusion.config import Settings
from fusion.registry import ModelBundle
from fusion.tiny.tokenizers import clip_tokenizer

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "classification.md"
BATCH = 32
SHOTS = (1, 3, 10, 30, None)
#: Fits are timed as the median of a few runs: the machine is shared, single runs vary several-fold.
FIT_REPEATS = 3


def clip_b32_bundle(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> ModelBundle:
    """CLIP ViT-B/32 with random weights: ``CLIPConfig()``'s defaults are that checkpoint's sizes."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    torch.manual_seed(0)
    with torch.device(device):
        model = CLIPModel(CLIPConfig())
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=clip_tokenizer())
    return ModelBundle(model.to(dtype).eval(), processor)


def per_image_rows(cache: ModelCache, pictures: list[np.ndarray], repeats: int, b32: bool) -> list[list[str]]:
    tiny = cache.get("clip")
    candidates = [
        ("handcrafted vector (128 px)", lambda batch: [features.handcrafted_vector(p) for p in batch]),
        ("CLIP tiny twin (32 px)", lambda batch: embeddings.encode_images(tiny, batch)),
    ]
    if b32:
        real = clip_b32_bundle()
        candidates.append(
            ("CLIP ViT-B/32 architecture (224 px)", lambda batch: embeddings.encode_images(real, batch))
        )
    rows = []
    for name, run in candidates:
        single = median_ms(lambda run=run: run(pictures[:1]), repeats)
        batched = median_ms(lambda run=run: run(pictures[:BATCH]), max(1, repeats // 3))
        rows.append([name, f"{single:.2f}", f"{batched / BATCH:.2f}"])
    return rows


def training_rows(cache: ModelCache, split: datasets.Split) -> list[list[str]]:
    with_clip = {"with_clip": True, "cache": cache}
    train = hybrid.extract_features(split.train.images, **with_clip)
    test = hybrid.extract_features(split.test.images, **with_clip)
    prior = hybrid.clip_prior(split.train.labels, hybrid.HeadOptions().templates, cache=cache)
    rng = np.random.default_rng(0)
    rows = []
    for shots in SHOTS:
        if shots is None:
            chosen = np.arange(len(split.train))
        else:
            chosen = np.concatenate(
                [
                    rng.choice(np.flatnonzero(split.train.targets == k), shots, replace=False)
                    for k in range(10)
                ]
            )
        subset = train.take(chosen)
        targets = split.train.targets[chosen]
        for name, weights, head_prior in (
            ("classical", FeatureWeights(clip=0), None),
            ("fused", FeatureWeights(), prior),
        ):
            fit = functools.partial(
                fit_head, subset, targets, split.train.labels, weights=weights, prior=head_prior
            )
            milliseconds = median_ms(fit, repeats=FIT_REPEATS, warmup=0)
            accuracy = (fit().logits(test).argmax(1) == split.test.targets).mean()
            rows.append([str(len(chosen)), name, f"{milliseconds:.0f}", f"{accuracy:.4f}"])
    return rows


def ablation_sections(cache: ModelCache) -> list[str]:
    sections = []
    for name in datasets.OFFLINE_DATASETS:
        split = datasets.offline_dataset(name)
        started = time.perf_counter()
        result = evaluation.held_out(split, cache=cache)
        seconds = time.perf_counter() - started
        sections.append(
            f"### {name}: {result.train_size} train / {result.test_size} test, {len(result.labels)} labels "
            f"({seconds:.1f} s with features)\n\n{result.markdown()}\n"
        )
    return sections


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--skip-b32", action="store_true", help="skip the ViT-B/32-sized random CLIP")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = ModelCache(Settings(models="tiny", tiny_dir=Path(tempfile.mkdtemp()), device="cpu"))
    digits = datasets.digits()
    pictures = [np.ascontiguousarray(np.tile(image, (4, 4, 1))) for image in digits.train.images[:BATCH]]

    report = [
        "## Classification",
        "",
        f"CPU: {platform.processor() or platform.machine()}, torch threads: {args.threads}, "
        f"`python benchmarks/classification.py --threads {args.threads}`.",
        "",
        "### Feature cost per image (128x128 RGB inputs)",
        "",
        markdown_table(
            ["features", "ms, batch of 1", f"ms per image, batch of {BATCH}"],
            per_image_rows(cache, pictures, args.repeats, not args.skip_b32),
        ),
        "",
        "### Training time vs number of examples (digits, features precomputed, 899 held-out test digits)",
        "",
        "The fused head's CLIP part is the random tiny twin here, so its accuracy tracks the classical one.",
        "",
        markdown_table(["examples", "head", "fit ms", "held-out accuracy"], training_rows(cache, digits)),
        "",
        "### Held-out ablation on the offline datasets",
        "",
        "CLIP heads use the random-weight tiny twin: their numbers show the pipeline runs, not CLIP's skill.",
        "",
        *ablation_sections(cache),
    ]
    text = "\n".join(report)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
