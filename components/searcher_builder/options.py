"""SearcherBuilder's options: the `searcher` section of the app's config (t2i/configs.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SearcherOptions:
    distance: str = "dot_product"  # dot_product | squared_l2
    scoring: str = "ah"  # ah (asymmetric hashing) | brute_force
    num_leaves: int = 0  # 0 = about sqrt(N)
    num_leaves_to_search: int = 0  # 0 = auto-tune to target_recall_at_10
    training_sample_size: int = 100_000
    dimensions_per_block: int = 1
    anisotropic_quantization_threshold: float = 0.2
    lookup: str = "auto"  # auto | int8 | float
    target_recall_at_10: float = 0.95
    tuning_queries: int = 200
    seed: int = 7
    # A rebuild extends the previous index (its leaves and codebook) while the collection
    # has grown by at most this fraction of it; beyond, the index is trained afresh.
    incremental_max_growth: float = 0.5
