"""The final decoder is a choice: TAESD is labelled "fast preview quality" wherever it is used, never silent."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from fusion import generation
from fusion.generation import GenerationOptions

OPTIONS = GenerationOptions(prompt="a red house by a lake", model="sd-turbo", seed=9, width=64, height=64)


def test_taesd_decode_is_labelled_checked_and_different(tiny_cache) -> None:
    full = generation.generate(OPTIONS, cache=tiny_cache)
    fast = generation.generate(replace(OPTIONS, decoder="taesd"), cache=tiny_cache)
    assert generation.DECODERS["taesd"] == "Fast preview quality (TAESD)"
    assert "Decoded with TAESD: fast preview quality, with less fine detail than the full VAE." in fast.notices
    assert not any("TAESD" in notice for notice in full.notices)
    assert "Decoder: taesd" in fast.parameters[0] and "Decoder" not in full.parameters[0]
    assert generation.parse_parameters(fast.parameters[0])["decoder"] == "taesd"
    assert len(fast.flagged) == 1  # the safety checker saw the TAESD image
    assert fast.images[0].size == full.images[0].size
    assert not np.array_equal(np.asarray(fast.images[0]), np.asarray(full.images[0]))


def test_an_unknown_decoder_is_refused(tiny_cache) -> None:
    with pytest.raises(ValueError, match=re.escape("Unknown decoder 'fast'; choose one of: vae, taesd.")):
        generation.generate(replace(OPTIONS, decoder="fast"), cache=tiny_cache)
