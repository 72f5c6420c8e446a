"""The evaluator's baseline: the latest blessed model other than the one being evaluated.

TFX's LatestBlessedModelStrategy resolves before the Trainer, so a re-run with nothing
changed gets its own (now blessed) model back as the baseline: the evaluator's input
differs from the first run, it re-executes, and everything gated on its blessing misses
the cache. Resolving after the Trainer and leaving the candidate out gives the same
baseline on every re-run. Kubeflow's v2 compiler only knows TFX's two built-in
strategies, so compilation for Kubeflow keeps LatestBlessedModelStrategy.
"""

from __future__ import annotations

from typing import Optional

from tfx import types
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts

CANDIDATE_KEY = "candidate"
MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"


class PreviousBlessedModelStrategy(resolver.ResolverStrategy):
    def resolve_artifacts(
        self,
        store,
        input_dict: dict[str, list[types.Artifact]],
    ) -> Optional[dict[str, list[types.Artifact]]]:
        candidate_ids = {a.id for a in input_dict.get(CANDIDATE_KEY, [])}
        blessed = {
            b.get_int_custom_property("current_model_id"): b
            for b in input_dict.get(BLESSING_KEY, [])
            if b.get_int_custom_property("blessed") == 1
        }
        result: dict[str, list] = {key: [] for key in input_dict}
        result[CANDIDATE_KEY] = list(input_dict.get(CANDIDATE_KEY, []))
        for model in sorted(input_dict.get(MODEL_KEY, []), key=lambda a: a.id, reverse=True):
            if model.id in blessed and model.id not in candidate_ids:
                result[MODEL_KEY] = [model]
                result[BLESSING_KEY] = [blessed[model.id]]
                break
        return result


def baseline_model_resolver(candidate_model: types.BaseChannel) -> resolver.Resolver:
    return resolver.Resolver(
        strategy_class=PreviousBlessedModelStrategy,
        **{
            MODEL_KEY: types.Channel(type=standard_artifacts.Model),
            BLESSING_KEY: types.Channel(type=standard_artifacts.ModelBlessing),
            CANDIDATE_KEY: candidate_model,
        },
    ).with_id("BaselineModel")
