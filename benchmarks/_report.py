"""Shared Markdown output for the benchmarks: one section per run kind, replaced in place on a rerun."""

from __future__ import annotations

import re
from pathlib import Path


def table(title: str, header: str, rows: list[tuple[str, str]]) -> str:
    """A titled two-column Markdown table of measurement -> result."""
    lines = [f"## {title}", "", header, "", "| measurement | result |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"


def write_section(out: Path, title: str, section: str, *, heading: str) -> None:
    """Replace this run's section of ``out`` (one per arch and device), keeping the others."""
    text = out.read_text() if out.exists() else f"# {heading}\n\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    text = pattern.sub("", text).rstrip("\n") + "\n\n" + section
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
