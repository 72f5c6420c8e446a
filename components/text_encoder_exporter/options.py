"""TextEncoderExporter's options: the `exporter` section of the app's config (t2i/configs.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ExporterOptions:
    # Dynamic-range int8 weights for the text tower (the one inside searcher.tflite); the
    # image tower stays float. Measured (bench/towers_bench.py, 2,000-image sample):
    # use_multilingual 82.0 -> 71.6 MB, on-device R@10 unchanged, check cosine 0.9995;
    # minilm_l6 90.1 -> 22.9 MB, R@10 -0.003 but R@1 -0.044, and all 119 check texts fall
    # below min_cosine_quantized (0.99; worst 0.891), so the export is refused. Off by default.
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
