"""benchmarks/gpu.py runs end to end in its CPU mode (``--quick``): CI proves the GPU script works without a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_measures_every_section_and_writes_json_and_table(tmp_path: Path) -> None:
    json_path, table_path = tmp_path / "gpu.json", tmp_path / "gpu.md"
    command = [sys.executable, "benchmarks/gpu.py", "--quick", "--device", "cpu"]
    subprocess.run(
        [*command, "--json", json_path, "--markdown", table_path],
        cwd=ROOT,
        env=os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
        check=True,
        timeout=600,
        capture_output=True,
    )
    report = json.loads(json_path.read_text())
    rows = report["rows"]
    sections = {row["section"].split(",")[0] for row in rows}
    assert {"sd15", "sd-turbo", "SD 1.5 UNet", "decode one 64² image", "BLIP-base caption"} <= sections
    assert "where the time goes" in sections
    assert {"CLIP ViT-B/32 image embedding", "cold load from local safetensors"} <= sections

    measured = [row for row in rows if row["ms"] is not None]
    assert all(row["ms"] > 0 and len(row["samples_ms"]) in {0, 2} for row in measured)
    assert all(row["floor_ms"] > 0 for row in measured if row["section"].startswith(("sd15", "sd-turbo")))
    skipped = [row for row in rows if row["ms"] is None]
    assert skipped and all(row["note"] == "CUDA only" for row in skipped)
    skipped_names = {row["name"] for row in skipped}
    assert {"fastest eager + torch.compile (regional)", "model calls replayed as CUDA graphs"} <= skipped_names
    assert {"sd15, 64², 2 step(s): fastest eager", "sd-turbo, 64², 1 step(s): fastest eager"} <= set(report["profiles"])
    assert all("generation/run.py" in text for text in report["profiles"].values())
    names = {row["name"] for row in rows if row["section"].startswith("sd15")}
    assert {"plain (float32, SDPA)", "classic attention instead of SDPA", "+ fused QKV", "plain in bfloat16"} <= names

    table = table_path.read_text()
    assert report["ceilings"]["flops_per_s"] > 0
    assert table.count("\n| ") == len(rows) + 2  # header, separator, one line per row
