"""SearcherBuilder's options: the `searcher` section of the app's config (t2i/configs.py), and
the rules they must meet (`problems`)."""
from __future__ import annotations

from dataclasses import dataclass

DISTANCES = ("dot_product", "squared_l2")
SCORINGS = ("ah", "brute_force")
LOOKUPS = ("auto", "int8", "float")


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


def problems(options: SearcherOptions) -> list[str]:
    """What is wrong with the options, one message each (empty: nothing)."""
    found = [f"searcher.{name} = {value!r}; expected one of {', '.join(allowed)}"
             for name, value, allowed in (("distance", options.distance, DISTANCES),
                                          ("scoring", options.scoring, SCORINGS),
                                          ("lookup", options.lookup, LOOKUPS))
             if value not in allowed]
    if options.num_leaves < 0 or options.num_leaves_to_search < 0:
        found.append("searcher.num_leaves and num_leaves_to_search must be >= 0")
    if options.dimensions_per_block < 1:
        found.append("searcher.dimensions_per_block must be >= 1")
    if not 0.0 < options.target_recall_at_10 <= 1.0:
        found.append("searcher.target_recall_at_10 must be in (0, 1]")
    return found
