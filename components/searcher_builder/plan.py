"""Turns the SearcherOptions and the collection size into concrete index settings.

Pure Python, no TensorFlow. The rules that make small collections work live here:
ScaNN's asymmetric hashing trains 256 centers per block (it refuses fewer than 256
training points), k-means needs more points than leaves, and a one-leaf tree is a flat
index, which the on-device format expresses as a single partition searched fully.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from components.searcher_builder import options as searcher_options

# "auto" searches build settings ("trees") from this many items: below it a query scans a
# few thousand codes whatever the build, and a build search would cost more time than
# it could save (tests, samples).
AUTO_BUILD_SEARCH_MIN_ITEMS = 10_000
AH_CENTERS = 256  # lut256: the only code size the on-device scorer reads
MIN_ITEMS_PER_LEAF = 2


class PlanError(ValueError):
    pass


@dataclass
class IndexPlan:
    distance: str
    scoring: str
    num_items: int
    embedding_dim: int
    num_leaves: int  # 1 = flat: one partition, always searched
    num_leaves_to_search: int  # 0 = auto-tune
    lookup: str  # auto | int8 | float ("float" is what brute force stores)
    training_sample_size: int  # the codebook's (and by default the tree's) training sample
    dimensions_per_block: int
    anisotropic_quantization_threshold: float
    min_partition_size: int
    target_recall_at_10: float
    tuning_queries: int
    seed: int
    notes: list[str] = field(default_factory=list)
    # The partitioner's own training settings (build_search.py varies them).
    tree_sample_size: int = 0  # 0 = training_sample_size
    kmeans_iterations: int = 12  # scann's default
    spherical: bool = False  # spherical k-means: unit-norm centroids
    build_search: str = "off"  # off | trees | full (SearcherOptions.build_search)

    def __post_init__(self) -> None:
        if not self.tree_sample_size:
            self.tree_sample_size = self.training_sample_size

    @property
    def flat(self) -> bool:
        return self.num_leaves == 1

    @property
    def needs_tuning(self) -> bool:
        tune_leaves = self.num_leaves_to_search == 0 and not self.flat
        tune_lookup = self.lookup == "auto" and self.scoring == "ah"
        return tune_leaves or tune_lookup

    @property
    def num_blocks(self) -> int:
        return math.ceil(self.embedding_dim / self.dimensions_per_block)

    def to_dict(self) -> dict:
        return asdict(self)


def default_num_leaves(num_items: int) -> int:
    return max(1, round(math.sqrt(num_items)))


def plan_index(config, num_items: int, embedding_dim: int) -> IndexPlan:
    """`config` has SearcherOptions's fields (t2i/configs.py)."""
    _check_choices(config)
    if num_items < 1:
        raise PlanError("the Embeddings artifact holds no items: nothing to index")
    notes = []
    scoring = config.scoring
    if scoring == "ah" and num_items < AH_CENTERS:
        scoring = "brute_force"
        notes.append(
            f"{num_items} items < {AH_CENTERS}: asymmetric hashing needs {AH_CENTERS} "
            "training points per block, so the index stores float vectors (exact)"
        )
    num_leaves = config.num_leaves or default_num_leaves(num_items)
    if scoring == "brute_force" and num_items < AH_CENTERS and num_leaves > 1:
        num_leaves = 1
        notes.append("small collection: one flat partition, searched exhaustively")
    elif num_leaves > 1 and num_leaves * MIN_ITEMS_PER_LEAF > num_items:
        clamped = max(1, min(default_num_leaves(num_items), num_items // MIN_ITEMS_PER_LEAF))
        notes.append(f"num_leaves {num_leaves} is too many for {num_items} items; using {clamped}")
        num_leaves = clamped
    leaves_to_search = min(config.num_leaves_to_search, num_leaves)
    if num_leaves == 1:
        leaves_to_search = 1
    lookup = config.lookup if scoring == "ah" else "float"
    dims_per_block = max(1, min(config.dimensions_per_block, embedding_dim))
    sample = min(num_items, max(config.training_sample_size, AH_CENTERS, num_leaves))
    return IndexPlan(
        distance=config.distance,
        scoring=scoring,
        num_items=num_items,
        embedding_dim=embedding_dim,
        num_leaves=num_leaves,
        num_leaves_to_search=leaves_to_search,
        lookup=lookup,
        training_sample_size=sample,
        dimensions_per_block=dims_per_block,
        anisotropic_quantization_threshold=config.anisotropic_quantization_threshold,
        # Model Maker's advice: about a tenth of the average partition size.
        min_partition_size=max(1, num_items // num_leaves // 10),
        target_recall_at_10=config.target_recall_at_10,
        tuning_queries=min(config.tuning_queries, num_items),
        seed=config.seed,
        notes=notes,
        kmeans_iterations=getattr(config, "kmeans_iterations", 12),
        spherical=getattr(config, "spherical_leaves", False),
        build_search=_build_search(config, scoring, num_items, num_leaves, leaves_to_search),
    )


def _build_search(
    config, scoring: str, num_items: int, num_leaves: int, leaves_to_search: int
) -> str:
    """Which build settings the tuner varies: none for a flat or brute-force index or
    when the user pinned the leaves searched (the latency to minimise is then not ours to
    pick); else the configured search."""
    mode = getattr(config, "build_search", "off")
    if num_leaves <= 1 or scoring != "ah" or leaves_to_search:
        return "off"
    if mode == "auto":
        return "trees" if num_items >= AUTO_BUILD_SEARCH_MIN_ITEMS else "off"
    return mode


def search_fraction(leaves_to_search: int, num_leaves: int) -> float:
    """The on-device partitioner searches ceil(float32(num_leaves) * float32(fraction))
    leaves; k/num_leaves rounds up for some pairs (3 of 21 searches 4), k - 0.5 never."""
    if num_leaves <= 1:
        return 1.0
    return (leaves_to_search - 0.5) / num_leaves


def _check_choices(config) -> None:
    """The builder's own guard (it runs without the app too): the rules options.py states."""
    problems = searcher_options.problems(config)
    if problems:
        raise PlanError("; ".join(problems))
