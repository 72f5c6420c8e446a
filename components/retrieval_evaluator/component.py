"""RetrievalEvaluator: a ModelEvaluation (recall@K, figures) and a ModelBlessing.

Feed `baseline_model` from a Resolver with LatestBlessedModelStrategy; the blessing this
writes carries the custom properties that strategy reads. Downstream, gate the index
build on the blessing (e.g. `tfx.dsl.Cond(blessing.future()[0].custom_property("blessed")
== 1)`), so an unblessed model builds nothing; the evaluator logs why it refused.
"""

from __future__ import annotations

import os

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import channel, component_spec, standard_artifacts

from components.common.code_version import code_version as package_version
from components.common.options import as_properties
from components.common.spec import execution_parameters
from components.retrieval_evaluator import executor
from components.retrieval_evaluator.options import EvaluatorOptions


class RetrievalEvaluatorSpec(component_spec.ComponentSpec):
    PARAMETERS = {
        **execution_parameters(EvaluatorOptions),
        "code_version": component_spec.ExecutionParameter(type=str),
    }
    INPUTS = {
        "examples": component_spec.ChannelParameter(type=standard_artifacts.Examples),
        "model": component_spec.ChannelParameter(type=standard_artifacts.Model),
        "baseline_model": component_spec.ChannelParameter(
            type=standard_artifacts.Model, optional=True
        ),
    }
    OUTPUTS = {
        "evaluation": component_spec.ChannelParameter(type=standard_artifacts.ModelEvaluation),
        "blessing": component_spec.ChannelParameter(type=standard_artifacts.ModelBlessing),
    }


class RetrievalEvaluator(base_component.BaseComponent):
    """Text->image and image->text recall@1/5/10 and median rank on the eval split.

    Blessed when text->image R@10 >= min_recall_at_10 and not more than max_regression
    below the baseline's (evaluated on the same split); with no baseline, the threshold only.
    """

    SPEC_CLASS = RetrievalEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        examples: channel.BaseChannel,
        model: channel.BaseChannel,
        baseline_model: channel.BaseChannel | None = None,
        *,
        options: EvaluatorOptions | None = None,
        code_version: str | None = None,
        kubeflow: bool = False,
    ):
        super().__init__(
            spec=RetrievalEvaluatorSpec(
                examples=examples,
                model=model,
                baseline_model=baseline_model,
                **as_properties(options or EvaluatorOptions()),
                # Covers this package and components/common (the Examples reader and metrics).
                code_version=code_version
                or package_version(os.path.dirname(os.path.abspath(__file__))),
                evaluation=channel.Channel(type=standard_artifacts.ModelEvaluation),
                blessing=channel.Channel(type=standard_artifacts.ModelBlessing),
            ),
            custom_executor_spec=_kubeflow_executor_spec() if kubeflow else None,
        )

    @classmethod
    def from_config(
        cls,
        evaluator: EvaluatorOptions,
        examples: channel.BaseChannel,
        model: channel.BaseChannel,
        baseline_model: channel.BaseChannel | None = None,
        code_version: str | None = None,
        kubeflow: bool = False,
    ) -> "RetrievalEvaluator":
        """From the `evaluator` section of the app's Config (EvaluatorOptions). `kubeflow`:
        the executor TFX's KFP v2 entrypoint treats as an Evaluator (kubeflow_executor.py),
        so that Vertex's LatestBlessedModel resolver can find the blessed model."""
        return cls(
            examples,
            model,
            baseline_model,
            options=evaluator,
            code_version=code_version,
            kubeflow=kubeflow,
        )


def _kubeflow_executor_spec() -> executor_spec.ExecutorClassSpec:
    # Imported here: it imports TFX's Evaluator executor (TFMA), seconds local runs skip.
    from components.retrieval_evaluator import kubeflow_executor

    return executor_spec.ExecutorClassSpec(kubeflow_executor.Executor)
