"""TextEncoderExporter's options: the `exporter` section of the app's config (t2i/configs.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ExporterOptions:
    quantize: bool = False
    model_name: str = "t2i text encoder"
    author: str = "t2i-searcher"
    min_cosine_float: float = 0.999
    min_cosine_quantized: float = 0.99
