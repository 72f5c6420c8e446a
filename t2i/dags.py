"""The DAGs. `create_pipeline(config, env)` is the full one; every runner (local, Kubeflow,
Vertex) builds from here, so the wiring lives in exactly one place. Every value that
depends on where the DAG runs (paths, schema, Beam args, metadata store) comes from the
runner's `env` (t2i/run_environment.py), never from the config directly.

CocoExampleGen, ImportSchemaGen -> StatisticsGen -> ExampleValidator -> DataGate
  -> Trainer -> RetrievalEvaluator (baseline: latest blessed model)
  -> TextEncoderExporter (after the evaluator), and for a blessed model: ImageEmbedder -> SearcherBuilder
  -> SearcherValidator -> Pusher (pushes only a blessed searcher)
"""

from __future__ import annotations

import dataclasses
import os

# The classes `tfx.v1` re-exports, from the modules that define them: importing `tfx.v1`
# also imports its Google Cloud extensions and google-cloud-aiplatform, about 8 s that every
# `t2i run` would pay for nothing (docs/STACK.md §6).
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.components.trainer.component import Trainer
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.experimental.conditionals.conditional import Cond
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.orchestration.pipeline import Pipeline
from tfx.proto.trainer_pb2 import EvalArgs, TrainArgs
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from components.coco_example_gen.component import CocoExampleGen
from components.common import formats
from components.common.artifacts import Embeddings, Searcher
from components.data_gate.component import DataGate
from components.image_embedder.component import ImageEmbedder
from components.retrieval_evaluator.component import RetrievalEvaluator
from components.searcher_builder.component import SearcherBuilder
from components.searcher_pusher.component import SearcherPusher
from components.searcher_validator.component import SearcherValidator
from components.text_encoder_exporter.component import TextEncoderExporter
from components.trainer import code_version as trainer_code_version
from t2i.configs import Config
from t2i.resolvers import baseline_model_resolver
from t2i.run_environment import RunEnvironment

TRAINER_RUN_FN = "components.trainer.module_file.run_fn"


def _ingestion(
    config: Config, env: RunEnvironment, index_only: bool = False, spans: str | None = None
) -> list:
    data = dataclasses.replace(config.data, data_dir=env.data_dir, spans=spans or config.data.spans)
    example_gen = CocoExampleGen.from_config(data)
    return [example_gen, *_validation(env, example_gen.outputs["examples"], index_only)]


def _validation(env: RunEnvironment, examples, index_only: bool = False) -> list:
    """Statistics, schema check and the gate. `index_only`: the rebuild trains nothing, and
    the index split holds every image (train and eval are subsets of it), so its
    statistics alone check all the data the rebuild uses, in about half the time."""
    exclude = [formats.SPLIT_TRAIN, formats.SPLIT_EVAL] if index_only else None
    # A curated schema, not one inferred from the very data it should check. StatisticsGen
    # reads it too, so the encoded image is counted as bytes (its image_domain), not as a
    # string whose every distinct value TFDV's top-k would hold in memory.
    schema_gen = ImportSchemaGen(schema_file=env.schema_file)
    statistics_gen = StatisticsGen(
        examples=examples, schema=schema_gen.outputs["schema"], exclude_splits=exclude
    )
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    data_gate = DataGate(anomalies=example_validator.outputs["anomalies"])
    return [schema_gen, statistics_gen, example_validator, data_gate]


def _latest_blessed_model() -> Resolver:
    return Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id("LatestBlessedModel")


def _training(config: Config, env: RunEnvironment, examples, data_gate) -> list:
    custom_config = {
        **dataclasses.asdict(config.trainer),
        # run_fn is referenced by name, so TFX hashes no module file: the code version
        # in the config is what makes the cache notice a trainer change.
        "code_version": trainer_code_version(),
    }
    kubeflow = env.kubeflow
    if not config.trainer.feature_cache_dir and not kubeflow:
        # Frozen backbones' features, reused by later runs on the same data (a changed
        # head setting retrains in seconds); local runs only: the cache writes files.
        custom_config["feature_cache_dir"] = os.path.join(env.pipeline_root, "feature_cache")
    trainer = Trainer(
        run_fn=TRAINER_RUN_FN,
        examples=examples,
        train_args=TrainArgs(splits=["train"]),
        eval_args=EvalArgs(splits=["eval"]),
        custom_config=custom_config,
    )
    trainer.add_upstream_node(data_gate)
    model_resolver = (
        _latest_blessed_model() if kubeflow else baseline_model_resolver(trainer.outputs["model"])
    )
    evaluator = RetrievalEvaluator.from_config(
        config.evaluator,
        examples=examples,
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        # Its blessing names the model as Vertex's LatestBlessedModel resolver looks it up.
        kubeflow=kubeflow,
    )
    return [trainer, model_resolver, evaluator]


def _searcher(
    config: Config,
    env: RunEnvironment,
    examples,
    model,
    previous_embeddings=None,
    exporter: TextEncoderExporter | None = None,
    previous_searcher=None,
) -> list:
    # The model's blessing gates this branch through a Cond, not as an input: the evaluator
    # re-runs on every run (its baseline is resolved at run time), and a blessing input
    # would make every step below miss the cache even when nothing changed.
    embedder = ImageEmbedder.from_config(
        config.embedder, examples=examples, model=model, previous_embeddings=previous_embeddings
    )
    exporter = exporter or TextEncoderExporter.from_config(config.exporter, model=model)
    # Train-split captions tune the index on real queries, disjoint from the validator's.
    builder = SearcherBuilder.from_config(
        config.searcher,
        embeddings=embedder.outputs["embeddings"],
        text_encoder=exporter.outputs["text_encoder"],
        examples=examples,
        previous_searcher=previous_searcher,
    )
    validator = SearcherValidator.from_config(
        config.validator,
        searcher=builder.outputs["searcher"],
        embeddings=embedder.outputs["embeddings"],
        text_encoder=exporter.outputs["text_encoder"],
        examples=examples,
    )
    pusher = SearcherPusher(
        searcher=builder.outputs["searcher"],
        searcher_blessing=validator.outputs["blessing"],
        serving_dir=env.serving_dir,
    )
    return [embedder, exporter, builder, validator, pusher]


def create_pipeline(config: Config, env: RunEnvironment) -> Pipeline:
    """The full DAG for `env` (run_environment.local / .kubeflow). On Kubeflow the baseline
    resolver is TFX's own, the one its compiler supports (see t2i/resolvers.py)."""
    ingestion = _ingestion(config, env)
    example_gen, data_gate = ingestion[0], ingestion[-1]
    examples = example_gen.outputs["examples"]
    training = _training(config, env, examples, data_gate)
    trainer, evaluator = training[0], training[-1]
    blessing = evaluator.outputs["blessing"]
    model = trainer.outputs["model"]
    # Outside the Cond, as in the rebuild DAG, so that both DAGs give the exporter the same
    # inputs and the first rebuild reuses this export from the cache. An unblessed model is
    # exported too (a few seconds) but goes no further.
    exporter = TextEncoderExporter.from_config(config.exporter, model=model)
    # The evaluation is recorded before anything that can fail for device reasons (a tower
    # the Task Library cannot run): the exporter waits for the evaluator. An ordering edge,
    # not an input, so the exporter's cache key stays the one the rebuild DAG computes.
    exporter.add_upstream_node(evaluator)
    # An unblessed model skips the whole index build; the evaluator's log says why.
    with Cond(blessing.future()[0].custom_property("blessed") == 1):
        searcher = _searcher(config, env, examples, model, exporter=exporter)
    return _pipeline(config, env, ingestion + training + searcher)


def create_rebuild_pipeline(config: Config, env: RunEnvironment) -> Pipeline:
    """The periodic index rebuild: no training. Resolve the latest blessed model and the
    latest embeddings and searcher, ingest every span newer than those embeddings cover,
    embed only the new images, extend the latest searcher's index with them, validate and
    push. With `embedder.incremental = false` it is a full rebuild instead: every span is
    ingested and embedded again and the index trained afresh (what the incremental
    rebuild is measured against).

    It shares the full pipeline's name, so its Resolvers see that pipeline's models and
    embeddings in ML Metadata. Run the full pipeline once first.
    """
    model_resolver = _latest_blessed_model()
    model = model_resolver.outputs["model"]
    if not config.embedder.incremental:
        ingestion = _ingestion(config, env, index_only=True, spans="all")
        examples = ingestion[0].outputs["examples"]
        searcher = _searcher(config, env, examples, model)
        searcher[0].add_upstream_node(ingestion[-1])
        return _pipeline(config, env, [*ingestion, model_resolver, *searcher])
    embeddings_resolver = Resolver(
        strategy_class=LatestArtifactStrategy,
        embeddings=Channel(type=Embeddings),
    ).with_id("LatestEmbeddings")
    previous = embeddings_resolver.outputs["embeddings"]
    # The searcher the rebuild follows: its index is extended, not retrained, when it can be.
    searcher_resolver = Resolver(
        strategy_class=LatestArtifactStrategy,
        searcher=Channel(type=Searcher),
    ).with_id("LatestSearcher")
    data = dataclasses.replace(config.data, data_dir=env.data_dir, spans="latest")
    example_gen = CocoExampleGen.from_config(data, indexed_embeddings=previous)
    examples = example_gen.outputs["examples"]
    # Nothing newer than the index (ingestion then re-reads the newest span only): every
    # later step is skipped, so the tick is quick and pushes nothing.
    newest_span = examples.future()[0].property("span")
    # Outside the Cond (whose channels count as inputs of every node under it), the
    # exporter's only input is the model: it stays cached until the model changes.
    exporter = TextEncoderExporter.from_config(config.exporter, model=model)
    with Cond(newest_span > previous.future()[0].custom_property(formats.MAX_SPAN_PROPERTY)):
        validation = _validation(env, examples, index_only=True)
        searcher = _searcher(
            config,
            env,
            examples,
            model,
            previous_embeddings=previous,
            exporter=exporter,
            previous_searcher=searcher_resolver.outputs["searcher"],
        )
    searcher[0].add_upstream_node(validation[-1])
    return _pipeline(
        config,
        env,
        [
            embeddings_resolver,
            searcher_resolver,
            example_gen,
            *validation,
            model_resolver,
            *searcher,
        ],
    )


def _pipeline(config: Config, env: RunEnvironment, components: list) -> Pipeline:
    return Pipeline(
        pipeline_name=config.pipeline.name,
        pipeline_root=env.pipeline_root,
        components=components,
        enable_cache=config.pipeline.enable_cache,
        metadata_connection_config=env.metadata_connection,
        beam_pipeline_args=list(env.beam_args),
    )
