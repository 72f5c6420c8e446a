"""Auto-tuning the on-device search settings, and the recall arithmetic it rests on.

Pure numpy, no TensorFlow and no Task Library: the caller supplies `evaluate(leaves,
lookup) -> recall`, which in the builder runs the real Task Library TextSearcher on the
candidate index (device_index.py). Like autofaiss, we pick the cheapest setting whose
measured recall@10 against exact search reaches the target:

- the index is built once; num_leaves_to_search and the lookup type are query-time
  settings stored in the index config, so trying one costs an index write and a few
  hundred queries, not a rebuild;
- cost model: leaves searched x (FLOAT_LOOKUP_COST for FLOAT, 1 for INT8); the work is
  proportional to the items scanned, and a FLOAT lookup table costs about a quarter more
  per item than INT8 (docs/SEARCHER_FORMAT.md §4: 0.39 vs 0.46 ms at 351/8);
- "meets the target" means the one-sided 95% lower confidence bound of the measured
  recall (mean - 1.645 standard errors over the queries) reaches it: a few hundred
  queries leave about +-0.01 of sampling noise, and a setting that only just passes on
  the tuning sample fails on another sample half of the time;
- the first lookup type gallops up from a starting count (1, or the previous searcher's
  choice when a rebuild extends its index: then it also gallops down), and a bisection
  finds the fewest leaves meeting the target; every other lookup is tried first at the
  most leaves that would still be cheaper than the best so far, and only searched
  further if that passes. Recall grows with the leaves searched, so a warm start finds
  the same setting as a cold one, in a few trials instead of a dozen or more.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence


FLOAT_LOOKUP_COST = 1.25
LOOKUP_COST = {"int8": 1.0, "float": FLOAT_LOOKUP_COST}
CONFIDENCE_Z = 1.645  # one-sided 95%


@dataclass
class Trial:
    leaves_to_search: int
    lookup: str
    recall_at_10: float
    stderr: float = 0.0  # of the mean recall over the queries
    p50_ms: float = float("nan")  # per-query CPU time of the search (device_index.py)
    p95_ms: float = float("nan")
    wall_p50_ms: float = float("nan")
    wall_p95_ms: float = float("nan")

    @property
    def cost(self) -> float:
        return self.leaves_to_search * LOOKUP_COST[self.lookup]

    @property
    def lower_bound(self) -> float:
        return self.recall_at_10 - CONFIDENCE_Z * self.stderr

    def meets(self, target: float) -> bool:
        return self.lower_bound >= target

    def to_dict(self) -> dict:
        return dict(asdict(self), cost=self.cost, lower_bound=round(self.lower_bound, 4))


@dataclass
class TuningResult:
    chosen: Trial
    target_met: bool
    trials: list[Trial]

    def to_dict(self) -> dict:
        return {
            "chosen": self.chosen.to_dict(),
            "target_met": self.target_met,
            "trials": [t.to_dict() for t in self.trials],
        }


def tune(
    evaluate: Callable[[int, str], Trial],
    num_leaves: int,
    lookups: Sequence[str],
    target: float,
    fixed_leaves: int = 0,
    start: tuple[int, str] | None = None,
) -> TuningResult:
    """Cheapest (leaves, lookup) meeting the target; the best recall if none does.

    `fixed_leaves` > 0 pins the leaves searched (only the lookup is tuned). `start` is a
    setting expected to be close (the previous searcher's), where the search begins.
    """
    trials: dict[tuple[int, str], Trial] = {}

    def trial(leaves: int, lookup: str) -> Trial:
        if (leaves, lookup) not in trials:
            trials[(leaves, lookup)] = evaluate(leaves, lookup)
        return trials[(leaves, lookup)]

    best: Trial | None = None
    # FLOAT first, unless a start says otherwise: it usually reaches the target with fewer
    # leaves, and its result bounds how far the INT8 search needs to go.
    first = start[1] if start and start[1] in lookups else "float"
    for lookup in sorted(lookups, key=lambda name: name != first):
        if fixed_leaves:
            found = trial(fixed_leaves, lookup)
            found = found if found.meets(target) else None
        elif best is None:
            guess = start[0] if start and start[1] == lookup else 1
            found = _fewest_leaves(trial, lookup, num_leaves, target, guess)
        else:
            found = _fewer_than(trial, lookup, num_leaves, target, best.cost)
        if found and (best is None or found.cost < best.cost):
            best = found
    ordered = sorted(trials.values(), key=lambda t: (t.lookup, t.leaves_to_search))
    if best is not None:
        return TuningResult(best, True, ordered)
    fallback = max(ordered, key=lambda t: (round(t.lower_bound, 6), -t.cost))
    return TuningResult(fallback, False, ordered)


def _fewest_leaves(trial, lookup: str, most: int, target: float, guess: int) -> Trial | None:
    """The fewest leaves in [1, most] meeting the target, galloping from `guess` (steps
    1, 2, 4, ... up while it fails, down while it passes), then bisecting."""
    guess = max(1, min(guess, most))
    step = 1
    if trial(guess, lookup).meets(target):
        low, high = 0, guess  # low: the most leaves known to fail
        while high - step >= 1:
            if not trial(high - step, lookup).meets(target):
                low = high - step
                break
            high, step = high - step, step * 2
    else:
        low, high = guess, None
        while low < most:
            leaves = min(most, low + step)
            if trial(leaves, lookup).meets(target):
                high = leaves
                break
            low, step = leaves, step * 2
        if high is None:
            return None
    while high - low > 1:
        middle = (low + high) // 2
        if trial(middle, lookup).meets(target):
            high = middle
        else:
            low = middle
    return trial(high, lookup)


def _fewer_than(
    trial, lookup: str, num_leaves: int, target: float, cost_bound: float
) -> Trial | None:
    """The fewest leaves meeting the target among those costing less than `cost_bound`:
    one trial at the most such leaves settles whether any can."""
    most = min(num_leaves, math.ceil(cost_bound / LOOKUP_COST[lookup]) - 1)
    if most < 1 or not trial(most, lookup).meets(target):
        return None
    return _fewest_leaves(trial, lookup, most, target, most)


# ---------------------------------------------------------------- build settings


@dataclass
class BuildTrial:
    """One build's settings and the search setting tuned on it."""

    settings: dict
    result: TuningResult
    # Re-measured side by side with the other finalists (build_search._final), if it was.
    final_p50_ms: float | None = None
    final_wall_p50_ms: float | None = None

    @property
    def p50_ms(self) -> float:
        return self.result.chosen.p50_ms

    def better_than(self, other: "BuildTrial | None") -> bool:
        """Meeting the target beats missing it; among builds that meet it the lower
        measured p50 wins, among builds that miss it the higher recall lower bound."""
        if other is None:
            return True
        if self.result.target_met != other.result.target_met:
            return self.result.target_met
        if self.result.target_met:
            return self.p50_ms < other.p50_ms
        return self.result.chosen.lower_bound > other.result.chosen.lower_bound

    def to_dict(self) -> dict:
        chosen = self.result.chosen
        return {
            "settings": self.settings,
            "target_met": self.result.target_met,
            "leaves_to_search": chosen.leaves_to_search,
            "lookup": chosen.lookup,
            "recall_at_10": chosen.recall_at_10,
            "lower_bound": round(chosen.lower_bound, 4),
            "p50_ms": chosen.p50_ms,
            "wall_p50_ms": chosen.wall_p50_ms,
            "final_p50_ms": self.final_p50_ms,
            "final_wall_p50_ms": self.final_wall_p50_ms,
            "search_trials": len(self.result.trials),
        }


Axis = tuple[str, Callable[[object], Sequence[object]]]


def search_builds(
    tune_build: Callable[[dict], TuningResult], start: dict, axes: Sequence[Axis]
) -> tuple[BuildTrial, list[BuildTrial]]:
    """Coordinate search over build settings: from `start`, each axis in turn tries the
    values `values(current best value)` gives, the other settings held at the best so
    far, and keeps the best build (BuildTrial.better_than). An axis may appear twice,
    coarse then fine (the number of leaves: multiples of sqrt(N), then the geometric
    midpoints around the best). `tune_build(settings)` builds (or reuses) the index and
    tunes its search settings; a setting seen before is not built again."""
    seen: dict[tuple, BuildTrial] = {}

    def trial(settings: dict) -> BuildTrial:
        key = tuple(sorted(settings.items()))
        if key not in seen:
            seen[key] = BuildTrial(dict(settings), tune_build(dict(settings)))
        return seen[key]

    best = trial(start)
    for name, values in axes:
        for value in values(best.settings[name]):
            candidate = trial(dict(best.settings, **{name: value}))
            if candidate.better_than(best):
                best = candidate
    return best, list(seen.values())
