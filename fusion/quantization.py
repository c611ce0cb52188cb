"""Int8 weights for the text decoders that write captions and answers, on the CPU in bfloat16.

At each of a caption's ~20 steps BLIP's text decoder multiplies one token's activations by every weight matrix it
has: about 245 MB of bfloat16 per token for BLIP-base, read while the arithmetic waits on memory. Stored as int8
with one scale per output row, the same matrices are half the bytes, and torch's CPU kernel for int8 weights
with bfloat16 activations (``torch._weight_int8pack_mm``, the one optimum-quanto calls on the CPU) runs a
one-row product about twice as fast as bfloat16 (single products timed on this machine's 2 cores: 768x768 25
against 65 µs, the 30,524-word output layer 2.6 against 5.0 ms). The activations stay bfloat16; only the weights
are rounded (their effect on captions is in ``benchmarks/results/cpu.md``).

Why not a library's int8 layer: the two that offer one gained little or nothing in eager mode, on one BLIP-base
caption on this machine (``python benchmarks/int8_libraries.py``, medians of 5 rounds): optimum-quanto 0.2.7
reaches the same kernel through a tensor subclass whose Python dispatch costs about what the kernel saves
(1.31 s against 1.29 s for bfloat16 and 1.05 s with this module), and torchao 0.18's ``Int8WeightOnlyConfig``
converts the whole weight back to bfloat16 at every call unless ``torch.compile`` fuses it (1.55 s).

Only the layers that see one row per generated token are converted. The cross-attention key and value
projections read the image's tokens (577 rows for BLIP-base, once per caption), where this kernel is slower than
bfloat16 (a 577x768 by 768x3072 product: 21 against 13 ms); it also loses beyond about 16 rows a step (16 images
captioned in one batch: 0.58 against 0.47 ms for a 768x3072 layer), which the default batch of 8 stays under.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from fusion.messages import Message

if TYPE_CHECKING:
    from fusion.config import Settings

#: torch 2.13's CPU kernel reads rows of this many weights at a time with no remainder loop: other widths crashed
#: the process or returned NaN here (37 and 40 inputs; 16, 48, 80 and 768 were right).
INPUT_MULTIPLE = 16
#: Linear layers that project the encoder's tokens (the image's, or the question's in VQA), not the token being
#: generated: bfloat16 is faster there (see the module's notes).
ENCODER_PROJECTIONS = ("crossattention.self.key", "crossattention.self.value")


class Int8Linear(torch.nn.Module):
    """A linear layer with int8 weights and one scale per output row (symmetric, the largest weight of a row maps
    to 127); it computes in its input's dtype, which must be its scales' (bfloat16 on the CPU)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        if not fits_the_kernel(self.in_features):
            raise ValueError(
                Message(
                    "Int8 layers take a multiple of {multiple} inputs, not {width}.",
                    multiple=INPUT_MULTIPLE,
                    width=self.in_features,
                )
            )
        full = weight.detach().to(torch.float32)
        # Rounded to the activations' dtype before the weights are divided by them: what the kernel multiplies by.
        scales = (full.abs().amax(dim=1).clamp(min=torch.finfo(weight.dtype).tiny) / 127).to(weight.dtype)
        steps = scales.to(torch.float32)[:, None]
        self.register_buffer("int8_weight", torch.round(full / steps).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scales)
        self.bias = bias

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear) -> Int8Linear:
        return cls(linear.weight, linear.bias)

    def dequantized(self) -> torch.Tensor:
        """The weight this layer multiplies by, exactly, in float32 (what tests compare with)."""
        return self.int8_weight.to(torch.float32) * self.scales.to(torch.float32)[:, None]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        rows = hidden.reshape(-1, self.in_features).contiguous()
        out = torch._weight_int8pack_mm(rows, self.int8_weight, self.scales)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*hidden.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def fits_the_kernel(in_features: int) -> bool:
    return in_features % INPUT_MULTIPLE == 0


def int8_decoders_active(settings: Settings, device: torch.device, dtype: torch.dtype) -> bool:
    """Whether text decoders get int8 weights here: on the CPU in bfloat16, unless switched off. In float32 the
    kernel is slower than float32 itself (768x768: 310 against 52 µs), and GPUs replay captions as CUDA graphs."""
    return settings.int8_decoders and device.type == "cpu" and dtype == torch.bfloat16


def quantize_linears(module: torch.nn.Module, *, skip: tuple[str, ...] = ()) -> list[str]:
    """Replace every ``torch.nn.Linear`` inside ``module`` by an :class:`Int8Linear`, except those whose qualified
    name ends with one of ``skip`` and those whose width the kernel cannot take; the names of the replaced layers,
    in order."""
    replaced = []
    for name, child in list(module.named_modules()):
        if not isinstance(child, torch.nn.Linear) or name.endswith(skip) or not fits_the_kernel(child.in_features):
            continue
        parent_name, _, attribute = name.rpartition(".")
        setattr(module.get_submodule(parent_name), attribute, Int8Linear.from_linear(child))
        replaced.append(name)
    return replaced


def prepare_text_decoder(bundle: Any, settings: Settings) -> None:
    """Load hook of the BLIP captioners and VQA: int8 weights for the text decoder's per-token layers where
    :func:`int8_decoders_active` says so; elsewhere the model is left as it loaded."""
    model = bundle.model
    if int8_decoders_active(settings, model.device, model.dtype):
        quantize_linears(model.text_decoder, skip=ENCODER_PROJECTIONS)
