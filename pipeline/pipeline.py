"""The DAGs. `create_pipeline(config)` is the full one; every runner (local, Kubeflow,
Vertex) builds from here, so the wiring lives in exactly one place.

CocoExampleGen -> StatisticsGen -> ImportSchemaGen -> ExampleValidator -> DataGate
  -> Trainer -> RetrievalEvaluator (baseline: latest blessed model)
  -> [model blessed] ImageEmbedder -> TextEncoderExporter -> SearcherBuilder
  -> SearcherValidator -> Pusher (pushes only a blessed searcher)
"""
from __future__ import annotations

import dataclasses
import os

from tfx import v1 as tfx

from components.coco_example_gen.component import CocoExampleGen
from components.common.code_version import code_version
from components.data_gate.component import DataGate
from components.image_embedder.component import ImageEmbedder
from components.retrieval_evaluator.component import RetrievalEvaluator
from components.searcher_builder.component import SearcherBuilder
from components.searcher_pusher.component import SearcherPusher
from components.searcher_validator.component import SearcherValidator
from components.text_encoder_exporter.component import TextEncoderExporter
from pipeline import metadata_store
from pipeline.configs import Config

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema", "schema.pbtxt")
TRAINER_RUN_FN = "components.trainer.module_file.run_fn"
TRAINER_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "components", "trainer")


@dataclasses.dataclass(frozen=True)
class Paths:
    root: str
    pipeline_root: str
    serving_dir: str


def resolve_paths(config: Config) -> Paths:
    root = os.path.abspath(config.pipeline.root)
    serving = config.pusher.serving_dir or os.path.join(root, "serving")
    return Paths(root=root, pipeline_root=os.path.join(root, "pipelines", config.pipeline.name),
                 serving_dir=os.path.abspath(serving))


def beam_args(config: Config) -> list[str]:
    return list(config.pipeline.beam_args)


def _ingestion(config: Config) -> list:
    example_gen = CocoExampleGen.from_config(config.data)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    # A curated schema, not one inferred from the very data it should check.
    schema_gen = tfx.components.ImportSchemaGen(schema_file=SCHEMA_FILE)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    data_gate = DataGate(anomalies=example_validator.outputs["anomalies"])
    return [example_gen, statistics_gen, schema_gen, example_validator, data_gate]


def _training(config: Config, examples, data_gate) -> list:
    custom_config = {
        **dataclasses.asdict(config.trainer),
        # run_fn is referenced by name, so TFX hashes no module file: the code version
        # in the config is what makes the cache notice a trainer change.
        "code_version": code_version(TRAINER_DIR),
    }
    trainer = tfx.components.Trainer(
        run_fn=TRAINER_RUN_FN,
        examples=examples,
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=custom_config,
    )
    trainer.add_upstream_node(data_gate)
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("LatestBlessedModel")
    evaluator = RetrievalEvaluator.from_config(
        config.evaluator, examples=examples, model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"])
    return [trainer, model_resolver, evaluator]


def _searcher(config: Config, paths: Paths, examples, model, model_blessing,
              previous_embeddings=None) -> list:
    embedder = ImageEmbedder(
        examples=examples, model=model, model_blessing=model_blessing,
        previous_embeddings=previous_embeddings,
        batch_size=config.embedder.batch_size, num_workers=config.embedder.num_workers,
        multiprocessing_min_images=config.embedder.multiprocessing_min_images,
        incremental=config.embedder.incremental)
    exporter = TextEncoderExporter.from_config(config.exporter, model=model, examples=examples)
    builder = SearcherBuilder.from_config(
        config.searcher, embeddings=embedder.outputs["embeddings"],
        text_encoder=exporter.outputs["text_encoder"])
    validator = SearcherValidator.from_config(
        config.validator, searcher=builder.outputs["searcher"],
        embeddings=embedder.outputs["embeddings"], text_encoder=exporter.outputs["text_encoder"],
        examples=examples)
    pusher = SearcherPusher(searcher=builder.outputs["searcher"],
                            searcher_blessing=validator.outputs["blessing"],
                            serving_dir=paths.serving_dir)
    return [embedder, exporter, builder, validator, pusher]


def create_pipeline(config: Config) -> tfx.dsl.Pipeline:
    paths = resolve_paths(config)
    ingestion = _ingestion(config)
    example_gen, data_gate = ingestion[0], ingestion[-1]
    examples = example_gen.outputs["examples"]
    training = _training(config, examples, data_gate)
    trainer, evaluator = training[0], training[-1]
    blessing = evaluator.outputs["blessing"]
    # An unblessed model skips the whole index build; the evaluator's log says why.
    with tfx.dsl.Cond(blessing.future()[0].custom_property("blessed") == 1):
        searcher = _searcher(config, paths, examples, trainer.outputs["model"], blessing)
    return _pipeline(config, paths, ingestion + training + searcher)


def _pipeline(config: Config, paths: Paths, components: list) -> tfx.dsl.Pipeline:
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline.name,
        pipeline_root=paths.pipeline_root,
        components=components,
        enable_cache=config.pipeline.enable_cache,
        metadata_connection_config=metadata_store.sqlite_connection_config(paths.root),
        beam_pipeline_args=beam_args(config),
    )
