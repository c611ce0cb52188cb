"""Gradio panels: one module per tab, wiring widgets to plain functions (no torch, no model internals)."""
