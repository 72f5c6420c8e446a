"""ImageEmbedder's options: the `embedder` section of the app's config (t2i/configs.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EmbedderOptions:
    batch_size: int = 64
    # Beam DirectRunner workers for multi-processing mode; 0 = one per core.
    num_workers: int = 0
    # Below this many images run in-process: multi-processing start-up costs 13-19 s.
    multiprocessing_min_images: int = 100_000
    incremental: bool = True


def problems(options: EmbedderOptions) -> list[str]:
    """What is wrong with the options, one message each (empty: nothing)."""
    found = []
    if options.batch_size < 1:
        found.append(f"embedder.batch_size must be >= 1, got {options.batch_size}")
    for name in ("num_workers", "multiprocessing_min_images"):
        if getattr(options, name) < 0:
            found.append(f"embedder.{name} must be >= 0, got {getattr(options, name)}")
    return found
