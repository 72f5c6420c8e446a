"""The build-settings search (TensorFlow process): which index to build, not only how to
search it.

The search settings (leaves searched, INT8/FLOAT lookup) cost no rebuild and tuning.tune
picks the cheapest that meets the target on one index. The build settings decide what
that cheapest costs: the number of leaves (the partitioner scans every centroid, then
every item of the leaves searched), the k-means training (iterations, sample size, spherical
k-means; scann's leaf-size balancing crashes, see scann_index.build_tree) and the
codebook's anisotropic threshold. `search` varies them by coordinate search
(tuning.search_builds), tunes each candidate's search settings on the real Task Library
in one TF-free session, and keeps the build whose tuned setting has the lowest measured
p50 among those meeting the target.

Builds are reused: with residual quantization off an item's code does not depend on its
leaf, so one codebook (the expensive part: ~95% of a build at 123k items) serves every
tree, and only a new anisotropic threshold trains another; a tree takes seconds.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
from typing import Callable

import numpy as np

from components.common import tf_free
from components.searcher_builder import scann_index
from components.searcher_builder.plan import MIN_ITEMS_PER_LEAF, IndexPlan
from components.searcher_builder.tuning import Axis, BuildTrial, Trial, TuningResult, search_builds

# Coarse number of leaves, as multiples of sqrt(N); the fine pass tries the geometric
# midpoints around the best of these.
LEAF_FACTORS = (0.5, 1.0, 2.0, 4.0)
ALTERNATIVE_THRESHOLDS = (0.1, 0.35)  # besides the configured one (0.2), "full" only
MORE_KMEANS_ITERATIONS = 2  # x the starting iterations
FINALISTS = 4


def start_settings(plan: IndexPlan) -> dict:
    return {
        "num_leaves": plan.num_leaves,
        "tree_sample_size": plan.tree_sample_size,
        "kmeans_iterations": plan.kmeans_iterations,
        "spherical": plan.spherical,
        "anisotropic_quantization_threshold": plan.anisotropic_quantization_threshold,
    }


def axes(plan: IndexPlan, leaves_pinned: bool) -> list[Axis]:
    """The coordinates searched, in order: leaves (coarse, fine), spherical, k-means
    iterations, tree training sample, and (build_search "full") the threshold."""
    n = plan.num_items
    most = max(1, n // MIN_ITEMS_PER_LEAF)

    def clamp(leaves: float) -> int:
        return max(2, min(most, round(leaves)))

    out: list[Axis] = []
    if not leaves_pinned:
        out.append(
            ("num_leaves", lambda _: sorted({clamp(math.sqrt(n) * f) for f in LEAF_FACTORS}))
        )
        out.append(
            (
                "num_leaves",
                lambda best: sorted({clamp(best / math.sqrt(2)), clamp(best * math.sqrt(2))}),
            )
        )
    out.append(("spherical", lambda spherical: [not spherical]))
    out.append(("kmeans_iterations", lambda iterations: [iterations * MORE_KMEANS_ITERATIONS]))
    # A bigger sample only exists while the sample is smaller than the collection.
    out.append(("tree_sample_size", lambda sample: [n] if sample < n else []))
    if plan.build_search == "full":
        out.append(
            (
                "anisotropic_quantization_threshold",
                lambda threshold: [t for t in ALTERNATIVE_THRESHOLDS if t != threshold],
            )
        )
    return out


def plan_for(plan: IndexPlan, settings: dict) -> IndexPlan:
    leaves = settings["num_leaves"]
    return dataclasses.replace(
        plan,
        num_leaves=leaves,
        tree_sample_size=min(plan.num_items, max(settings["tree_sample_size"], leaves)),
        kmeans_iterations=settings["kmeans_iterations"],
        spherical=settings["spherical"],
        anisotropic_quantization_threshold=settings["anisotropic_quantization_threshold"],
        # Model Maker's advice: about a tenth of the average partition size.
        min_partition_size=max(1, plan.num_items // leaves // 10),
    )


class BuildCache:
    """Trees and codebooks trained once per setting they depend on, in `work_dir`."""

    def __init__(self, vectors: np.ndarray, docids: list[str], work_dir: str):
        self.vectors, self.docids, self.work_dir = vectors, docids, work_dir
        self.trees: dict[tuple, str] = {}
        self.codebooks: dict[tuple, str] = {}
        self.indexes: dict[tuple, str] = {}

    @staticmethod
    def codebook_key(plan: IndexPlan) -> tuple:
        return (
            plan.anisotropic_quantization_threshold,
            plan.training_sample_size,
            plan.dimensions_per_block,
            plan.scoring,
        )

    def add_codebook(self, plan: IndexPlan, directory: str) -> None:
        """Reuse a codebook trained elsewhere for the plan's settings (a scann index
        directory of these items in this order, e.g. a searcher's server index)."""
        self.codebooks[self.codebook_key(plan)] = directory

    def index_dir(self, plan: IndexPlan) -> str:
        """A scann index directory (tree + codebook) for the plan's build settings."""
        tree_key = (
            plan.num_leaves,
            plan.tree_sample_size,
            plan.kmeans_iterations,
            plan.spherical,
            plan.min_partition_size,
        )
        codebook_key = self.codebook_key(plan)
        key = tree_key + codebook_key
        if key in self.indexes:
            return self.indexes[key]
        if tree_key not in self.trees:
            directory = self._new_dir("tree")
            scann_index.build_tree(self.vectors, plan, directory, self.docids)
            # The float copy scann keeps for brute-force scoring is never used.
            os.remove(os.path.join(directory, "dataset.npy"))
            self.trees[tree_key] = directory
        if codebook_key not in self.codebooks:
            directory = self._new_dir("codebook")
            scann_index.build_codebook(self.vectors, plan, directory)
            self.codebooks[codebook_key] = directory
        directory = self._new_dir("index")
        scann_index.combine(self.trees[tree_key], self.codebooks[codebook_key], directory)
        self.indexes[key] = directory
        return directory

    def _new_dir(self, kind: str) -> str:
        count = len(self.trees) + len(self.codebooks) + len(self.indexes)
        return os.path.join(self.work_dir, f"{kind}-{count}")


@dataclasses.dataclass
class SearchOutcome:
    plan: IndexPlan  # the chosen build's plan
    index_dir: str  # its scann index directory (in the cache's work dir)
    best: BuildTrial
    trials: list[BuildTrial]
    tuning_reply: dict  # the device process's tuning reply for the chosen build

    def to_dict(self) -> dict:
        return {
            "chosen": self.best.to_dict(),
            "builds": [t.to_dict() for t in self.trials],
            "trees_trained": len({t.settings["num_leaves"] for t in self.trials}),
        }


def search(
    plan: IndexPlan,
    cache: BuildCache,
    tuning_request: Callable[[IndexPlan, dict], dict],
    leaves_pinned: bool,
) -> SearchOutcome:
    """`tuning_request(plan, parts)` is the device_index request that tunes the search
    settings of the saved on-device parts `parts` (build.py makes it)."""
    dirs: dict[tuple, tuple[IndexPlan, str, dict]] = {}
    with tf_free.Session(DEVICE_MODULE) as session:

        def tune_build(settings: dict) -> TuningResult:
            candidate = plan_for(plan, settings)
            index_dir = cache.index_dir(candidate)
            parts_dir = os.path.join(index_dir, "on_device_parts")
            request = tuning_request(
                candidate, scann_index.on_device_parts(index_dir, candidate).save(parts_dir)
            )
            reply = session.request(dict(request, tune_only=True))
            shutil.rmtree(parts_dir)
            dirs[tuple(sorted(settings.items()))] = (candidate, index_dir, reply["tuning"])
            return result_of(reply["tuning"])

        best, trials = search_builds(tune_build, start_settings(plan), axes(plan, leaves_pinned))
        best = _final(session, trials, best, dirs, tuning_request)
    chosen_plan, index_dir, reply = dirs[tuple(sorted(best.settings.items()))]
    return SearchOutcome(chosen_plan, index_dir, best, trials, reply)


def _final(
    session,
    trials: list[BuildTrial],
    best: BuildTrial,
    dirs: dict,
    tuning_request: Callable[[IndexPlan, dict], dict],
) -> BuildTrial:
    """The fastest of the FINALISTS quickest builds that meet the target, re-measured
    side by side (device_index.compare_latency): each build's p50 was measured in its own
    stretch of time, and on a shared machine load varies more between stretches than the
    builds differ."""
    finalists = sorted((t for t in trials if t.result.target_met), key=lambda t: t.p50_ms)
    finalists = finalists[:FINALISTS]
    if len(finalists) < 2:
        return best
    candidates = []
    with tempfile.TemporaryDirectory(prefix="t2i-final-") as tmp:
        for i, trial in enumerate(finalists):
            candidate, index_dir, _ = dirs[tuple(sorted(trial.settings.items()))]
            parts = scann_index.on_device_parts(index_dir, candidate).save(
                os.path.join(tmp, str(i))
            )
            chosen = trial.result.chosen
            candidates.append(
                {
                    "parts": parts,
                    "leaves_to_search": chosen.leaves_to_search,
                    "lookup": chosen.lookup,
                }
            )
        first_plan = dirs[tuple(sorted(finalists[0].settings.items()))][0]
        request = tuning_request(first_plan, candidates[0]["parts"])
        reply = session.request(dict(request, compare=candidates))
    for trial, p50, wall in zip(finalists, reply["p50_ms"], reply["wall_p50_ms"]):
        trial.final_p50_ms, trial.final_wall_p50_ms = p50, wall
    return min(finalists, key=lambda t: t.final_p50_ms)


def result_of(reply: dict) -> TuningResult:
    """The device process's tuning reply (TuningResult.to_dict()) as a TuningResult."""
    fields = {f.name for f in dataclasses.fields(Trial)}

    def trial(values: dict) -> Trial:
        return Trial(**{k: v for k, v in values.items() if k in fields})

    return TuningResult(
        trial(reply["chosen"]), reply["target_met"], [trial(t) for t in reply["trials"]]
    )


DEVICE_MODULE = "components.searcher_builder.device_index"
