"""A model call recorded once as a CUDA graph and replayed with new inputs.

On an H200 the eager models are bound by kernel launches: a replayed graph of the same UNet call takes 40 % of
its time (``benchmarks/GPU.md``). A graph fixes the shapes and the memory of its inputs and outputs, so a
:class:`CapturedCall` owns input buffers that each call copies into, and returns the same output tensors every
time: read (or copy) them before the next replay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

WARMUP_CALLS = 3


class CapturedCall:
    """``fn(*inputs)`` recorded as a CUDA graph, after warm-up calls on a side stream as PyTorch requires."""

    def __init__(self, fn: Callable[..., Any], *examples: torch.Tensor) -> None:
        self.inputs = tuple(example.clone() for example in examples)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(WARMUP_CALLS):
                fn(*self.inputs)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        reserved = torch.cuda.memory_reserved()
        with torch.cuda.graph(self.graph):
            self.output = fn(*self.inputs)
        #: What the recording keeps: its input buffers and the private memory pool the graph replays in, which holds
        #: its output and intermediates (the model cache counts it in its budget).
        self.bytes = sum(buffer.nbytes for buffer in self.inputs) + torch.cuda.memory_reserved() - reserved

    def __call__(self, *inputs: torch.Tensor) -> Any:
        """Copy ``inputs`` into the recorded buffers and replay; the result is the recorded output."""
        for buffer, value in zip(self.inputs, inputs, strict=True):
            buffer.copy_(value)
        self.graph.replay()
        return self.output
