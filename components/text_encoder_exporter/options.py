"""TextEncoderExporter's options: the `exporter` section of the app's config (t2i/configs.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ExporterOptions:
    # Dynamic-range int8 weights for the text tower (the one inside searcher.tflite); the
    # image tower stays float.
    quantize: bool = False
    model_name: str = "t2i text encoder"
    author: str = "t2i-searcher"
    min_cosine_float: float = 0.999
    min_cosine_quantized: float = 0.99


def problems(options: ExporterOptions) -> list[str]:
    """What is wrong with the options, one message each (empty: nothing)."""
    return [
        f"exporter.{name} must be in [-1, 1] (a cosine), got {value!r}"
        for name, value in (
            ("min_cosine_float", options.min_cosine_float),
            ("min_cosine_quantized", options.min_cosine_quantized),
        )
        if not -1.0 <= value <= 1.0
    ]
