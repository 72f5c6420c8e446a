"""The RetrievalEvaluator's executor on Kubeflow / Vertex AI (TFX's KFP v2 container
entrypoint, `kubeflow_v2_run_executor`).

Vertex's LatestBlessedModel resolver, as TFX's KubeflowV2 compiler writes it
(`step_builder._build_resolver_for_latest_blessed_model`), finds the model by
`name="{{$.inputs.artifacts['input'].metadata['current_model_id']}}"`: the blessing's
`current_model_id` must be the model's ML Metadata resource name. Inside the container,
executors see integer ids hashed from those names (`kubeflow_v2_entrypoint_utils.
_get_hashed_id`, one-way), and the entrypoint turns a blessing's `current_model_id` and
`baseline_model_id` back into resource names only for executors that subclass TFX's
Evaluator executor (`refactor_model_blessing`, TFX's b/169583143 workaround). Without it
our blessing carries a number no artifact is named, and the resolver finds no model.

So this class names TFX's Evaluator executor as a base for that check alone: its `Do` is
RetrievalEvaluator's (first in the MRO); nothing of TFX's Evaluator runs. It is a separate
module because importing TFX's Evaluator executor costs seconds (TFMA) that local runs
need not pay; the entrypoint has imported it already.
"""

from tfx.components.evaluator import executor as tfx_evaluator

from components.retrieval_evaluator import executor


class Executor(executor.Executor, tfx_evaluator.Executor):
    """RetrievalEvaluator's executor, recognised by TFX's KFP v2 entrypoint as an Evaluator."""
