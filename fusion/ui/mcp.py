"""Serving the public endpoints as MCP tools for language-model agents (``FUSION_MCP=1``)."""

from __future__ import annotations

from typing import Any

import gradio as gr


def name_tools_after_endpoints(demo: gr.Blocks) -> None:
    """Gradio names an MCP tool after its event function: use the endpoint's name (``features``, not ``run``)."""
    for block_fn in demo.fns.values():
        if block_fn.api_name and block_fn.fn is not None and block_fn.api_visibility == "public":
            block_fn.fn.__name__ = block_fn.api_name


def tolerate_stripped_state_outputs() -> None:
    """Work around Gradio 6.31's MCP server: for queued events it pops the ``gr.State`` outputs by index from
    results gradio_client has already stripped of them, so every tool whose event also outputs a State
    (``features``, ``caption``) fails with "pop index out of range". Pop only while they are still there."""
    from gradio.mcp import GradioMCPServer

    pop_state = GradioMCPServer.pop_returned_state
    if getattr(pop_state, "fusion_tolerant", False):
        return

    def pop_returned_state(components: list[Any], data: Any) -> Any:
        return data if len(data) < len(components) else pop_state(components, data)

    pop_returned_state.fusion_tolerant = True  # type: ignore[attr-defined]
    GradioMCPServer.pop_returned_state = staticmethod(pop_returned_state)
