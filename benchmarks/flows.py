"""What the automatic report card adds to a generation: goal ≤ 10 % of the generation's time.

On the tiny twins (random weights, 1 torch thread) for several step counts and sizes: the median time
of :func:`fusion.generation.generate` (SD 1.5 twin, safety checker on), of :func:`fusion.flows.report_card` on
its result (BLIP caption, CLIP zero-shot on three labels, CLIPScore, sharpness, edge density, colour
histograms) and of its parts, and for edge-guided generation (ControlNet twin) the structure-fidelity metrics.

Tiny-model generation is far faster than real SD 1.5 (its UNet has a few thousand parameters), while the
report's classical half does not shrink with the models, so the small rows overstate the ratio; the rows with
more steps and larger images show the trend towards real use.

    python benchmarks/flows.py [--repeats N] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face library is imported

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import median_ms

from fusion import captioning, flows, generation
from fusion.cache import ModelCache
from fusion.classification import zeroshot
from fusion.config import Settings

ASSET = Path(__file__).resolve().parents[1] / "assets" / "chelsea.png"
PROMPT = "a photo of a cat on a sofa"
LABELS = "cat, dog, sofa"
CASES = ((2, 64), (25, 64), (25, 256), (50, 512))


def _row(name: str, generate_ms: float, report_ms: float) -> str:
    return f"| {name} | {generate_ms:.0f} ms | {report_ms:.0f} ms | {100 * report_ms / generate_ms:.1f} % |"


def run(repeats: int) -> str:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tiny_dir:
        cache = ModelCache(Settings(models="tiny", tiny_dir=Path(tiny_dir), device="cpu"))
        source = np.asarray(Image.open(ASSET).convert("RGB"))
        lines = [
            "| generation (SD 1.5 twin) | generate | report card | report / generate |",
            "| --- | --- | --- | --- |",
        ]
        parts_for = None
        for steps, side in CASES:
            options = generation.GenerationOptions(
                prompt=PROMPT, seed=1, steps=steps, width=side, height=side
            )
            image = np.asarray(generation.generate(options, cache=cache).images[0])
            generate_ms = median_ms(
                lambda options=options: generation.generate(options, cache=cache), repeats
            )
            report_ms = median_ms(
                lambda image=image: flows.report_card(image, prompt=PROMPT, labels=LABELS, cache=cache),
                repeats,
            )
            lines.append(_row(f"{steps} steps, {side}²", generate_ms, report_ms))
            parts_for = image
        parts = {
            "BLIP caption": lambda: captioning.caption([parts_for], cache=cache),
            "CLIP zero-shot (3 labels)": lambda: zeroshot.zero_shot(parts_for, LABELS, cache=cache),
            "CLIPScore": lambda: flows.clip_scores(parts_for, [PROMPT], cache=cache),
            "sharpness + edge density + histograms": lambda: (
                flows.sharpness(parts_for),
                flows.edge_density(parts_for),
                flows.colour_histogram(parts_for),
            ),
        }
        lines += [
            "",
            f"Report parts on the {parts_for.shape[1]}² image:",
            "",
            "| part | time |",
            "| --- | --- |",
        ]
        lines += [f"| {name} | {median_ms(fn, repeats):.1f} ms |" for name, fn in parts.items()]
        control = flows.control_map(source)
        edges_options = generation.GenerationOptions(
            prompt=PROMPT, seed=1, steps=25, width=256, height=256, control_image=control
        )
        result = np.asarray(generation.generate(edges_options, cache=cache).images[0])
        controlled_ms = median_ms(lambda: generation.generate(edges_options, cache=cache), repeats)
        fidelity_ms = median_ms(
            lambda: flows.fidelity(result, control, flows.EdgeSettings(), source), repeats
        )
        lines += [
            "",
            "Edge-guided (ControlNet twin, 25 steps, 256²):",
            "",
            "| measurement | time |",
            "| --- | --- |",
            f"| generate with ControlNet | {controlled_ms:.0f} ms |",
            f"| structure fidelity (edge IoU/F1, ORB, histogram) | {fidelity_ms:.1f} ms |",
        ]
    header = (
        f"CPU, 1 torch thread, median of {repeats} runs after a warm-up; torch {torch.__version__}, "
        f"Python {platform.python_version()}; tiny random-weight twins (`FUSION_MODELS=tiny`)."
    )
    return "\n".join([header, "", *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    table = run(args.repeats)
    print(table)
    if args.out:
        args.out.write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
