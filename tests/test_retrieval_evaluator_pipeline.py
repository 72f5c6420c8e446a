"""The real Trainer (our module file) and RetrievalEvaluator in a LocalDagRunner pipeline.

Two runs: the first blesses (threshold 0) and the gated downstream step (a stock Pusher
standing in for the index build) runs; the second
demands R@10 > 1, is refused, and the gated step is skipped; its baseline is the first
run's model, found by TFX's LatestBlessedModelStrategy from the blessing we wrote.
"""

import os

import pytest

from components.common import formats
from components.retrieval_evaluator import blessing
from tiny_trainer import TINY_TRAINER

pytestmark = pytest.mark.slow

TINY = {**TINY_TRAINER, "epochs": 1, "seed": 5}


def _pipeline(root, examples_dir, min_recall_at_10):
    from tfx import v1 as tfx
    from tfx.types import standard_artifacts

    import components.trainer
    from components.retrieval_evaluator.component import RetrievalEvaluator
    from components.retrieval_evaluator.options import EvaluatorOptions

    examples = tfx.dsl.Importer(
        source_uri=examples_dir,
        artifact_type=standard_artifacts.Examples,
        properties={"split_names": '["train", "eval", "index"]'},
    ).with_id("examples")
    trainer = tfx.components.Trainer(
        module_file=os.path.join(os.path.dirname(components.trainer.__file__), "module_file.py"),
        examples=examples.outputs["result"],
        custom_config={**TINY, "code_version": components.trainer.code_version()},
    )
    baseline = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = RetrievalEvaluator(
        examples=examples.outputs["result"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        options=EvaluatorOptions(min_recall_at_10=min_recall_at_10, contact_sheet_queries=2),
    )
    # Stands in for the index build: any step gated on the blessing the way the DAG gates it.
    with tfx.dsl.Cond(evaluator.outputs["blessing"].future()[0].custom_property("blessed") == 1):
        index = tfx.components.Pusher(
            model=trainer.outputs["model"],
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(
                    base_directory=os.path.join(root, "pushed")
                )
            ),
        )
    return tfx.dsl.Pipeline(
        pipeline_name="evaluator-test",
        pipeline_root=os.path.join(root, "pipeline"),
        components=[examples, trainer, baseline, evaluator, index],
        enable_cache=True,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(root, "metadata.sqlite")
        ),
    )


def test_trainer_and_evaluator_in_a_local_dag(tmp_path, sample_collection):
    from ml_metadata.metadata_store import metadata_store
    from tfx import v1 as tfx
    from tfx.components.evaluator import constants as tfx_constants

    # Our copies of TFX's names are still TFX's names.
    assert (
        blessing.BLESSED_KEY,
        blessing.CURRENT_MODEL_ID_KEY,
        blessing.CURRENT_MODEL_URI_KEY,
        blessing.BASELINE_MODEL_ID_KEY,
        blessing.BASELINE_MODEL_URI_KEY,
        blessing.BLESSED_FILE_NAME,
        blessing.NOT_BLESSED_FILE_NAME,
        blessing.BLESSED_VALUE,
        blessing.NOT_BLESSED_VALUE,
    ) == (
        tfx_constants.ARTIFACT_PROPERTY_BLESSED_KEY,
        tfx_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY,
        tfx_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY,
        tfx_constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY,
        tfx_constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY,
        tfx_constants.BLESSED_FILE_NAME,
        tfx_constants.NOT_BLESSED_FILE_NAME,
        tfx_constants.BLESSED_VALUE,
        tfx_constants.NOT_BLESSED_VALUE,
    )

    from components.coco_example_gen.work import ingest

    root = str(tmp_path)
    examples_dir = os.path.join(root, "examples")
    ingest(sample_collection, examples_dir)
    tfx.orchestration.LocalDagRunner().run(_pipeline(root, examples_dir, min_recall_at_10=0.0))
    tfx.orchestration.LocalDagRunner().run(_pipeline(root, examples_dir, min_recall_at_10=1.01))

    store = metadata_store.MetadataStore(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(root, "metadata.sqlite")
        )
    )
    (model,) = store.get_artifacts_by_type("Model")  # the second run reused it from cache
    first, second = sorted(store.get_artifacts_by_type("ModelBlessing"), key=lambda a: a.id)
    assert first.custom_properties["blessed"].int_value == 1
    assert first.custom_properties["current_model_id"].int_value == model.id
    assert "baseline_model_id" not in first.custom_properties
    assert os.path.exists(os.path.join(first.uri, "BLESSED"))
    assert second.custom_properties["blessed"].int_value == 0
    assert (
        "below min_recall_at_10 1.0100" in second.custom_properties["blessing_reason"].string_value
    )
    # LatestBlessedModelStrategy found the first run's blessing and gave its model as baseline.
    assert second.custom_properties["baseline_model_id"].int_value == model.id
    assert os.path.exists(os.path.join(second.uri, "NOT_BLESSED"))
    (evaluation, _) = sorted(store.get_artifacts_by_type("ModelEvaluation"), key=lambda a: a.id)
    assert sorted(os.listdir(evaluation.uri)) == [
        "contact_sheet.png",
        "recall_at_k.png",
        "retrieval_metrics.json",
    ]
    # The gated step ran after the blessing only.
    (pushed,) = store.get_artifacts_by_type("PushedModel")
    assert pushed.custom_properties["pushed"].int_value == 1
    assert len(os.listdir(os.path.join(root, "pushed"))) == 1
    model_dir = os.path.join(model.uri, "Format-Serving")
    assert sorted(os.listdir(model_dir)) == sorted(formats.MODEL_FILES)
    (model_run,) = store.get_artifacts_by_type("ModelRun")
    assert any("tfevents" in f for _, _, files in os.walk(model_run.uri) for f in files)
