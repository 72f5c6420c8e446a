"""SearcherBuilder's options: the `searcher` section of the app's config (t2i/configs.py), and
the rules they must meet (`problems`)."""

from __future__ import annotations

from dataclasses import dataclass

DISTANCES = ("dot_product", "squared_l2")
SCORINGS = ("ah", "brute_force")
LOOKUPS = ("auto", "int8", "float")
BUILD_SEARCHES = ("auto", "off", "trees", "full")


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
    # Build settings the auto-tuner varies, each build tuned for its cheapest search
    # setting and the builds compared by measured Task Library latency
    # (components/searcher_builder/build_search.py): "trees" varies the partitioner
    # (number of leaves, k-means iterations, training sample, spherical k-means) over one
    # codebook; "full" also the codebook's anisotropic threshold; "off" builds once;
    # "auto" is "trees" from 10,000 items (plan.AUTO_BUILD_SEARCH_MIN_ITEMS), else "off".
    # Default "off": at 123,287 items every tree reached the same recall for the same
    # scanned work (README Performance), so the search costs build time and buys nothing.
    build_search: str = "off"
    kmeans_iterations: int = 12  # the starting point of the build search, or the setting
    spherical_leaves: bool = False


def problems(options: SearcherOptions) -> list[str]:
    """What is wrong with the options, one message each (empty: nothing)."""
    found = [
        f"searcher.{name} = {value!r}; expected one of {', '.join(allowed)}"
        for name, value, allowed in (
            ("distance", options.distance, DISTANCES),
            ("scoring", options.scoring, SCORINGS),
            ("lookup", options.lookup, LOOKUPS),
            ("build_search", options.build_search, BUILD_SEARCHES),
        )
        if value not in allowed
    ]
    if options.num_leaves < 0 or options.num_leaves_to_search < 0:
        found.append("searcher.num_leaves and num_leaves_to_search must be >= 0")
    if options.dimensions_per_block < 1:
        found.append("searcher.dimensions_per_block must be >= 1")
    if not 0.0 < options.target_recall_at_10 <= 1.0:
        found.append("searcher.target_recall_at_10 must be in (0, 1]")
    for name in ("training_sample_size", "tuning_queries"):
        if getattr(options, name) < 1:
            found.append(f"searcher.{name} must be >= 1, got {getattr(options, name)}")
    if options.incremental_max_growth <= 0:
        found.append("searcher.incremental_max_growth must be > 0")
    if options.anisotropic_quantization_threshold < 0:
        found.append("searcher.anisotropic_quantization_threshold must be >= 0")
    return found
